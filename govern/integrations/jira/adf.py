"""Atlassian Document Format (ADF): Jira Cloud's REST v3 rich-text shape, reduced to what a sync needs."""

from __future__ import annotations

from typing import Any


def adf_from_text(text: str | None) -> dict[str, Any] | None:
    """Plain text as an ADF document (one paragraph per line)."""
    if text is None:
        return None
    paragraphs = [{"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
                  for line in text.split("\n")]
    return {"type": "doc", "version": 1, "content": paragraphs}


def text_from_adf(doc: Any) -> str:
    """The text of an ADF document: text nodes joined, paragraphs on their own lines."""
    if not isinstance(doc, dict):
        return "" if doc is None else str(doc)
    if doc.get("type") == "text":
        return doc.get("text", "")
    parts = [text_from_adf(child) for child in doc.get("content", [])]
    joiner = "\n" if doc.get("type") == "doc" else ""
    return joiner.join(parts)


def is_adf(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and isinstance(value.get("content"), list)
