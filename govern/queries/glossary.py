"""The glossary's terms as labels: where the organisation's glossary (`terminology:` in govern.yaml) names a thing the
screens label, the screens use its term (and offer its definition as the label's explanation).

A term names a label by `labels:` (`{term: Care contact, definition: …, labels: touchpoint}`), or by being the
label's own word ("Touchpoint", "Moment that matters"): then the page keeps the word and explains it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from govern.model import setting_row

# label key -> the default word the screens show
LABELS = {
    "touchpoint": "touchpoint",
    "channel": "channel",
    "moment_that_matters": "moment that matters",
    "stage": "stage",
    "step": "step",
    "persona": "persona",
}


@dataclass(frozen=True)
class Label:
    word: str
    definition: str = ""
    renamed: bool = False  # the glossary gives it another word than the screens' default

    @property
    def inline(self) -> str:
        """Inside a sentence: the organisation's term as written, the default word in lower case."""
        return self.word if self.renamed else self.word.lower()

    @property
    def title(self) -> str:
        """As a label starts: its first letter in capitals ("Touchpoint:")."""
        return self.word[:1].upper() + self.word[1:]


def glossary_labels(session: Session) -> dict[str, Label]:
    """{label key: Label} for every label (the glossary's term where it names one, else the default word)."""
    row = setting_row(session, "terminology")
    terms: list[Any] = row.value if row is not None and isinstance(row.value, list) else []
    found: dict[str, Label] = {}
    for term in terms:
        if not isinstance(term, dict) or not isinstance(term.get("term"), str):
            continue
        key = term.get("labels")
        if key not in LABELS:
            key = next((k for k, word in LABELS.items() if word == term["term"].strip().lower()), None)
        if key is not None and key not in found:
            word = term["term"].strip()
            found[key] = Label(word, str(term.get("definition") or ""), word.lower() != LABELS[key])
    return {key: found.get(key) or Label(word) for key, word in LABELS.items()}
