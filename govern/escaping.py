"""Escaping by context: data (titles, names, reasons typed by people) put into Markdown, Slack mrkdwn or Jira wiki
markup is always text, never markup. HTML and SVG use markupsafe / `html.escape(quote=True)` where they are built.

Core module: imports nothing but the standard library, so every capability and adapter can use it.
"""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_\[\]|<>#&!])")
_LEADING_LIST = re.compile(r"^(\s*)(\d+)([.)])(?=\s|$)")
_JIRA_WIKI = re.compile(r"([\\{}\[\]|*_+^~?!#\-])")


def markdown_inline(value: object) -> str:
    """Data as one line of Markdown inline text: every character Markdown (or the HTML inside Markdown) would read as
    markup is backslash-escaped, so `<img onerror=…>` and `[x](javascript:…)` stay text."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _LEADING_LIST.sub(r"\1\2\\\3", text)
    if text[:1] in ("-", "+", "="):
        text = "\\" + text
    return text


def slack_text(value: object) -> str:
    """Data inside Slack mrkdwn (and a message's plain `text` fallback, which Slack also formats): `&`, `<` and `>`
    escaped, so `<!channel>`, `<@U…>` and `<http://…|label>` stay text."""
    return str(value if value is not None else "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def jira_wiki(value: object) -> str:
    """Data inside Jira Server/Data Center wiki markup (REST v2 descriptions): macros (`{html}`), links (`[x|url]`)
    and text effects are backslash-escaped. (Jira Cloud's ADF carries text in text nodes and needs no escaping.)"""
    return _JIRA_WIKI.sub(r"\\\1", str(value if value is not None else ""))
