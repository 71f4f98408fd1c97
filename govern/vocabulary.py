"""The organisation's own words for the product's nouns (`words:` in govern.yaml), with plurals done right.

A hospital calls an opportunity an "improvement idea" and an insight "patient feedback"; a bank may call its customers
"clients". Identifiers (`OPP-7`, API keys, URL paths, permission names) never change; only what people read does.

    words:
      customer: patient                       # plural: add "s" (or "es", "ies" as English does)
      opportunity: {one: improvement idea, many: improvement ideas}
      insight: {one: patient feedback item, many: patient feedback items}

Text written for people names the nouns as placeholders, `{opportunity}`, `{Opportunities}`, `{journey_owner}`; the
capital of the placeholder's first letter is kept. `Vocabulary.fill(text)` resolves them; in templates `w.opportunity`,
`w.Opportunities` and `w.count(3, "solution")` ("3 solutions", "1 solution") read the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from govern.model import setting_row

SETTING = "words"


@dataclass(frozen=True)
class Noun:
    one: str
    many: str


def english_plural(word: str) -> str:
    """The regular English plural of the last word: 'solution' → 'solutions', 'policy' → 'policies'."""
    if not word:
        return word
    lower = word.lower()
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


# The product's own nouns, as the practice names them; the keys are what govern.yaml's `words:` may rename.
DEFAULT_NOUNS: dict[str, Noun] = {
    "customer": Noun("customer", "customers"),
    "journey": Noun("journey", "journeys"),
    "journey_owner": Noun("journey owner", "journey owners"),
    "council": Noun("journey council", "journey councils"),
    "opportunity": Noun("opportunity", "opportunities"),
    "insight": Noun("insight", "insights"),
    "evidence": Noun("piece of evidence", "pieces of evidence"),
    "solution": Noun("solution", "solutions"),
    "kpi": Noun("KPI", "KPIs"),
    "ritual": Noun("ritual", "rituals"),
}
NOUN_DESCRIPTIONS = {
    "customer": "the people the journeys are for",
    "journey": "what a customer goes through to reach a goal",
    "journey_owner": "the one person accountable for a journey",
    "council": "the group that steers journey management",
    "opportunity": "a problem worth solving, framed as 'How might we …'",
    "insight": "one recorded piece of evidence (a quote, survey result, ticket cluster …)",
    "evidence": "how a count of insights reads ('2 pieces of evidence')",
    "solution": "concrete work for an opportunity; becomes a backlog item",
    "kpi": "a measured indicator with a scale and a target",
    "ritual": "a recurring meeting or check-in",
}
# Placeholder name → (noun key, plural?): `{opportunities}` is the plural of `opportunity`.
_PLACEHOLDERS: dict[str, tuple[str, bool]] = {
    **{key: (key, False) for key in DEFAULT_NOUNS},
    **{english_plural(key): (key, True) for key in DEFAULT_NOUNS},
    "opportunities": ("opportunity", True), "evidences": ("evidence", True),
    "journey_owners": ("journey_owner", True), "kpis": ("kpi", True),
}
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_]+)\}")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


@dataclass(frozen=True)
class Vocabulary:
    """The words an organisation reads: the default nouns with its renames applied."""

    nouns: Mapping[str, Noun] = field(default_factory=lambda: dict(DEFAULT_NOUNS))
    # What the organisation calls a permission (`words: {permissions: {evidence.record: share patient feedback}}`);
    # without one, the permission table's plain words (govern.policy.ACTIONS).
    actions: Mapping[str, str] = field(default_factory=dict)

    def action(self, key: str, default: str) -> str:
        """A permission as people read it: the organisation's title for it, or `default` (the permission table's
        plain words, govern.policy.ACTIONS), in its words."""
        return self.fill(self.actions.get(key) or default)

    def one(self, key: str) -> str:
        return self.nouns[key].one

    def many(self, key: str) -> str:
        return self.nouns[key].many

    def word(self, key: str, n: int | None = None) -> str:
        """The noun for a count: singular for exactly 1, plural otherwise (and plural when no count is given)."""
        return self.one(key) if n == 1 else self.many(key)

    def count(self, n: int, key: str) -> str:
        """'1 solution', '2 solutions', '0 improvement ideas'."""
        return f"{n} {self.word(key, n)}"

    def fill(self, text: str, escape: Callable[[str], str] | None = None) -> str:
        """Resolve `{opportunity}` / `{Opportunities}` / `{a_opportunity}` placeholders (each word passed through
        `escape` for the output's context, e.g. Slack mrkdwn); other braces are left as they are."""
        if "{" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if _PLACEHOLDERS.get((name[2:] if name[:2] in ("a_", "A_") else name).lower()) is None:
                return match.group(0)
            said = getattr(self, name)
            return escape(said) if escape else said

        return _PLACEHOLDER_RE.sub(replace, text)

    def renamed(self) -> dict[str, Noun]:
        """The nouns this organisation renamed (for the glossary)."""
        return {k: v for k, v in self.nouns.items() if DEFAULT_NOUNS.get(k) != v}

    def __getattr__(self, name: str) -> str:
        # Templates read `w.opportunity`, `w.Opportunities`, `w.a_opportunity` ("an improvement idea"); dataclass
        # fields are found before this is called.
        if name[:2] in ("a_", "A_"):
            noun = getattr(self, name[2:])
            article = "an" if noun[:1].lower() in "aeiou" else "a"
            return f"{article.capitalize() if name[0] == 'A' else article} {noun}"
        found = _PLACEHOLDERS.get(name.lower())
        if found is None or name.startswith("_"):
            raise AttributeError(name)
        key, plural = found
        said = self.many(key) if plural else self.one(key)
        return _capital(said) if name[:1].isupper() else said


DEFAULT = Vocabulary()


def validate_words(section: Any, path: str = "words", actions: Any = None) -> dict[str, str]:
    """Every problem with a `words:` section, keyed by its place in govern.yaml."""
    problems: dict[str, str] = {}
    if section is None:
        return problems
    if not isinstance(section, Mapping):
        return {path: "must be a mapping of noun to its word, e.g. {opportunity: improvement idea}"}
    for key, value in section.items():
        here = f"{path}.{key}"
        if key == PERMISSIONS:
            problems.update(_permission_problems(value, here, actions))
            continue
        if key not in DEFAULT_NOUNS:
            problems[here] = f"unknown noun {key!r} (nouns: {', '.join(DEFAULT_NOUNS)})"
            continue
        if isinstance(value, str):
            if not value.strip():
                problems[here] = "must not be empty"
        elif isinstance(value, Mapping):
            for sub in value:
                if sub not in ("one", "many"):
                    problems[f"{here}.{sub}"] = "unknown key (allowed: one, many)"
            for sub in ("one", "many"):
                if sub in value and (not isinstance(value[sub], str) or not value[sub].strip()):
                    problems[f"{here}.{sub}"] = "must be non-empty text"
            if "one" not in value:
                problems[f"{here}.one"] = "is required: the singular"
        else:
            problems[here] = "must be the singular as text, or {one: …, many: …}"
    return problems


PERMISSIONS = "permissions"  # words.permissions: {action: title}


def _permission_problems(value: Any, path: str, known: Any = None) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {path: "must be a mapping of permission to what your organisation calls it, "
                      "e.g. {evidence.record: share patient feedback}"}
    problems = {}
    for action, title in value.items():
        if known is not None and action not in known:
            problems[f"{path}.{action}"] = f"unknown permission {action!r} (see the permission table in the playbook)"
        elif not isinstance(title, str) or not title.strip() or len(title) > 200:
            problems[f"{path}.{action}"] = "must be text of 1 to 200 characters"
    return problems


def vocabulary_from(section: Any) -> Vocabulary:
    """The Vocabulary for a (validated) `words:` section; None or {} gives the defaults."""
    if not section or not isinstance(section, Mapping):
        return DEFAULT
    nouns = dict(DEFAULT_NOUNS)
    raw_actions = section.get(PERMISSIONS)
    actions = ({str(k): v.strip() for k, v in raw_actions.items() if isinstance(v, str) and v.strip()}
               if isinstance(raw_actions, Mapping) else {})
    for key, value in section.items():
        if key not in nouns:
            continue
        if isinstance(value, str):
            nouns[key] = Noun(value.strip(), english_plural(value.strip()))
        elif isinstance(value, Mapping) and value.get("one"):
            one = str(value["one"]).strip()
            nouns[key] = Noun(one, str(value.get("many") or english_plural(one)).strip())
    return Vocabulary(nouns, actions)


def vocabulary_of(session: Any) -> Vocabulary:
    """The applied vocabulary, read once per session (kept in `session.info`; `govern apply` drops it)."""
    cached = session.info.get("vocabulary")
    if cached is None:
        row = setting_row(session, SETTING)
        cached = session.info["vocabulary"] = vocabulary_from(row.value if row is not None else None)
    return cached


def forget(session: Any) -> None:
    """Drop the cached vocabulary (after `govern apply` changed the `words` setting)."""
    session.info.pop("vocabulary", None)
