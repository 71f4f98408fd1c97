"""Mapping one raw record of an evidence source (a CSV/XLSX row, a JSON object) to the fields of an insight.

Pure: no database, no I/O. `SourceMapping(source, reference)` is built once per import from the source's
govern.yaml entry (validated by govern.orgfile.schema) and what the database holds (steps by `journey/step`, persona
keys and names, the evidence kinds and the tag taxonomy); `mapping.map(record)` answers a `Mapped` insight or raises
`Rejected` with the reason. Personal data (e-mail addresses, phone numbers, card-like numbers) is scrubbed from the
text before anything else sees it, so nothing unscrubbed is stored, hashed or logged.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_URL = 2000
MAX_EXTERNAL_ID = 200
MAX_SOURCE = 200
MAX_TEXT = 20_000
MAX_VOLUME = 1_000_000_000

# --- personal data -----------------------------------------------------------------------------------------------------

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# 13 to 19 digits in groups (a payment card's shape), separated by spaces or dashes.
CARD = re.compile(r"(?<![\w])(?:\d[ \-]?){12,18}\d(?![\w])")
# A phone number: starts with +, 00, 0 or "(", then 9 to 15 digits with spaces, dashes, dots, slashes or brackets.
PHONE = re.compile(r"(?<![\w+])(?:\+|\(|0)[\d ()\-./]{7,22}\d(?![\w])")
SCRUBBED = {"email": "[email]", "card": "[card number]", "phone": "[phone]"}


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def scrub(text: str) -> str:
    """The text with e-mail addresses, card-like numbers and phone numbers replaced by placeholders."""
    if "@" in text:
        text = EMAIL.sub(SCRUBBED["email"], text)
    text = CARD.sub(lambda m: SCRUBBED["card"] if 13 <= _digits(m.group()) <= 19 else m.group(), text)
    return PHONE.sub(lambda m: SCRUBBED["phone"] if 9 <= _digits(m.group()) <= 15 else m.group(), text)


# --- the mapping -------------------------------------------------------------------------------------------------------


class Rejected(Exception):
    """A record that cannot become an insight; the message says why (shown as `row 23: <reason>`)."""


@dataclass(frozen=True)
class Reference:
    """What a mapping needs from the database, read once per import."""

    steps: Mapping[str, int]  # "journey/step" -> step id
    personas: Mapping[str, int]  # persona key -> id
    persona_names: Mapping[str, str]  # lower-cased name -> key
    kinds: tuple[str, ...]
    taxonomy: tuple[str, ...] = ()
    free_tags: bool = True


@dataclass
class Mapped:
    """One record as an insight's fields (steps and personas as ids), with the hash of what was mapped."""

    external_id: str
    text: str
    source: str
    kind: str
    observed_on: dt.date | None  # None: the record has no date (a new insight takes the day of import)
    url: str | None
    volume: int
    sentiment: float | None
    tags: list[str]
    step_ids: list[int]
    persona_ids: list[int]
    content_hash: str = ""
    steps: list[str] = field(default_factory=list)
    personas: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The insight's columns this mapping sets (for an insert or an update)."""
        return {"text": self.text, "source": self.source, "kind": self.kind, "url": self.url, "volume": self.volume,
                "sentiment": self.sentiment, "sentiment_suggested": False, "tags": self.tags,
                "content_hash": self.content_hash}


@dataclass(frozen=True)
class _Rule:
    step: str
    tags: tuple[str, ...]
    column: str | None = None
    equals: str | None = None
    pattern: re.Pattern | None = None
    on_text: bool = False


SEEN_LIMIT = 4096  # distinct tag and persona cells remembered per import (memory stays flat)


def _norm_tag(tag: str) -> str:
    return "-".join(tag.lower().split())[:40]


@functools.lru_cache(maxsize=8192)
def _parse_date(text: str, date_format: str) -> dt.date | None:
    """strptime's date, remembered: an export holds a few hundred distinct days over thousands of rows."""
    try:
        return dt.datetime.strptime(text, date_format).date()
    except ValueError:
        pass
    head = text.split("T")[0].split(" ")[0]  # a timestamp whose date part has the format ("02.11.2026 14:05")
    try:
        return dt.datetime.strptime(head, date_format).date()
    except ValueError:
        return None


class SourceMapping:
    """A source's mapping, compiled once: `map(record)` → Mapped, or raises Rejected."""

    def __init__(self, source: dict, reference: Reference, *, today: dt.date | None = None):
        self.key: str = source["key"]
        self.source = source
        self.columns: dict[str, str] = dict(source["columns"])
        self.date_format: str = source.get("date_format") or "%Y-%m-%d"
        self.scrub: bool = bool(source.get("scrub", True))
        self.separator: str = source.get("separator") or ","
        self.default_kind: str = source.get("kind") or "other"
        self.default_source: str = (source.get("source") or source.get("name") or self.key)[:MAX_SOURCE]
        self.default_tags = [_norm_tag(t) for t in source.get("tags") or []]
        self.persona_values = {str(k).strip().lower(): v for k, v in (source.get("personas") or {}).items()}
        self.reference = reference
        self.rules = [
            _Rule(step=r["step"], tags=tuple(_norm_tag(t) for t in r.get("tags") or ()),
                  column=r.get("column"), equals=(r["equals"].strip().lower() if "equals" in r else None),
                  pattern=re.compile(r.get("matches") or r.get("text_matches")) if ("matches" in r or
                                                                                      "text_matches" in r) else None,
                  on_text="text_matches" in r)
            for r in source.get("steps") or []]
        self._header: dict[str, str] | None = None
        self._raw_getter: Callable[[Any], Any] | None = None
        self._ext_actual: str | None = None
        self._tags_seen: dict[tuple[Any, tuple[str, ...]], tuple[str, ...]] = {}
        self._personas_seen: dict[Any, tuple[str, ...] | Rejected] = {}
        # Every column the mapping reads, sorted: the hash must not depend on the order of the keys of the stored
        # `columns` mapping (an export sorts them, PostgreSQL's JSONB orders them its own way).
        self._read = sorted({*self.columns.values(), *(r.column for r in self.rules if r.column)})
        self._fingerprint = hashlib.sha256(json.dumps(
            [source, sorted((r.step, reference.steps.get(r.step)) for r in self.rules), sorted(reference.personas.items()),
             sorted(reference.persona_names.items()), list(reference.kinds), list(reference.taxonomy),
             reference.free_tags], sort_keys=True, default=str).encode()).digest()
        self._hasher = hashlib.sha256(self._fingerprint)

    # The columns a file must have: every one the mapping names (the step rules' columns included).
    def required_columns(self) -> list[tuple[str, str]]:
        named = [(f"columns.{name}", column) for name, column in self.columns.items()]
        named += [(f"steps[{i}].column", r.column) for i, r in enumerate(self.rules) if r.column]
        return named

    def check_header(self, header: Iterable[str]) -> None:
        """Raise Rejected naming every column the mapping needs that a file's header lacks (matched exactly, then
        ignoring case and surrounding spaces, as spreadsheet exports vary)."""
        present = [str(h) for h in header if h is not None]
        exact = set(present)
        loose = {h.strip().lower(): h for h in present}
        missing = []
        self._header = {}
        for where, column in self.required_columns():
            if column in exact:
                self._header[column] = column
            elif column.strip().lower() in loose:
                self._header[column] = loose[column.strip().lower()]
            else:
                missing.append(f"'{column}' ({where})")
        self._read_actual = [self._header.get(c, c) for c in self._read]
        # The fast path of identity() for a file's records: one itemgetter for every column read, the external id's
        # column by its name in this file.
        self._raw_getter = operator.itemgetter(*self._read_actual) if len(self._read_actual) > 1 else None
        ext = self.columns.get("external_id")
        self._ext_actual = self._header.get(ext, ext) if ext is not None else None
        if missing:
            raise Rejected(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; the file has: "
                           + ", ".join(f"'{h}'" for h in present[:30]))

    def _get(self, record: Mapping[str, Any], name: str) -> Any:
        column = self.columns.get(name)
        if column is None:
            return None
        return self._value(record, column)

    def _value(self, record: Mapping[str, Any], column: str) -> Any:
        header = self._header
        if header is not None:  # a file's record: every column the mapping reads was found in its header
            return record.get(header.get(column, column))
        value = record.get(column)
        if value is None and column not in record:
            lowered = column.strip().lower()
            for key, v in record.items():
                if isinstance(key, str) and key.strip().lower() == lowered:
                    return v
        return value

    @staticmethod
    def _text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    def map(self, record: Mapping[str, Any], identity: tuple[str, str] | None = None) -> Mapped:
        """The record as an insight's fields; `identity` is its (external id, hash) when the caller has it."""
        if not isinstance(record, Mapping):
            raise Rejected(f"a record must be an object of fields, got {type(record).__name__}")
        raw_text = self._text(self._get(record, "text"))
        if not raw_text:
            raise Rejected(f"no text (column '{self.columns['text']}' is empty)")
        text = scrub(raw_text) if self.scrub else raw_text
        text = text[:MAX_TEXT]
        observed = self._date(self._get(record, "observed_on"))
        external_id, digest = identity or self.identity(record)
        url = self._text(self._get(record, "url")) or None
        if url is not None:
            if len(url) > MAX_URL:
                raise Rejected(f"url longer than {MAX_URL} characters")
            if not re.match(r"^https?://", url, re.IGNORECASE):
                raise Rejected(f"url must start with http:// or https://, got '{url[:80]}'")
        volume = self._volume(self._get(record, "volume"))
        sentiment = self._sentiment(self._get(record, "sentiment"))
        kind = self._text(self._get(record, "kind")).lower() or self.default_kind
        if kind not in self.reference.kinds:
            raise Rejected(f"unknown kind '{kind}' (one of {', '.join(self.reference.kinds)})")
        source = (self._text(self._get(record, "source")) or self.default_source)[:MAX_SOURCE]
        if self.scrub:
            source = scrub(source)
        steps, rule_tags = self._steps(record, text)
        tags = self._tags(self._get(record, "tags"), rule_tags)
        persona_keys = self._personas(self._get(record, "personas"))
        step_ids = []
        for ref in steps:
            if ref not in self.reference.steps:
                raise Rejected(f"the step rule names step '{ref}', which no longer exists")
            step_ids.append(self.reference.steps[ref])
        mapped = Mapped(external_id=external_id, text=text, source=source, kind=kind, observed_on=observed, url=url,
                        volume=volume, sentiment=sentiment, tags=tags, step_ids=step_ids,
                        persona_ids=[self.reference.personas[k] for k in persona_keys], steps=steps,
                        personas=persona_keys)
        mapped.content_hash = digest
        return mapped

    def identity(self, record: Mapping[str, Any]) -> tuple[str, str]:
        """(external id, content hash) of a raw record, without mapping it: what a re-import needs to know a record is
        unchanged. The hash covers the raw values of every column the mapping reads and the mapping itself (the
        source's settings and the steps, personas, kinds and tags it resolves against), so an equal hash means the
        record would map to exactly what was stored. Without an `external_id` column the record is identified by the
        hash of its text and date."""
        getter = self._raw_getter
        if getter is not None and type(record) is dict:
            # A file's record (every column read is in its header): the raw values joined as they are when all are
            # text (a CSV), the same string the general path below builds, so the hash does not depend on the path.
            try:
                raw = getter(record)
                joined = "\x1e".join(raw)
            except (KeyError, TypeError):
                pass
            else:
                hasher = self._hasher.copy()
                hasher.update(joined.encode())
                if self._ext_actual is not None:
                    external_id = record[self._ext_actual].strip()
                    if external_id and len(external_id) <= MAX_EXTERNAL_ID:
                        return external_id, hasher.hexdigest()
                # no external id column, or a bad one: the general path below says what is wrong
        if not isinstance(record, Mapping):
            raise Rejected(f"a record must be an object of fields, got {type(record).__name__}")
        if self._header is not None:
            raw = [record.get(column) for column in self._read_actual]
        else:
            raw = [self._value(record, column) for column in self._read]
        text = "\x1e".join(v if type(v) is str else self._text(v) for v in raw)
        hasher = self._hasher.copy()  # the mapping's fingerprint already hashed in
        hasher.update(text.encode())
        digest = hasher.hexdigest()
        if "external_id" in self.columns:
            external_id = self._text(self._get(record, "external_id"))
            if not external_id:
                raise Rejected(f"no external id (column '{self.columns['external_id']}' is empty)")
            if len(external_id) > MAX_EXTERNAL_ID:
                raise Rejected(f"external id longer than {MAX_EXTERNAL_ID} characters")
        else:
            text, day = self._text(self._get(record, "text")), self._text(self._get(record, "observed_on"))
            external_id = "h:" + hashlib.sha256(f"{text}\x1f{day}".encode()).hexdigest()[:40]
        return external_id, digest

    def _date(self, value: Any) -> dt.date | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if "observed_on" in self.columns:
                raise Rejected(f"no date (column '{self.columns['observed_on']}' is empty)")
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        text = self._text(value)
        parsed = _parse_date(text, self.date_format)
        if parsed is None:
            raise Rejected(f"unparseable date '{text[:40]}' (column '{self.columns['observed_on']}', expected "
                           f"{self.date_format})")
        return parsed

    def _volume(self, value: Any) -> int:
        if value is None or (isinstance(value, str) and not value.strip()):
            return 1
        if isinstance(value, bool):
            raise Rejected(f"volume must be a whole number of at least 1, got {value!r}")
        if isinstance(value, float):
            number = int(value) if value.is_integer() else None
        elif isinstance(value, int):
            number = value
        else:
            cleaned = re.sub(r"[\s'_]", "", str(value))
            number = int(cleaned) if cleaned.isdigit() else None
        if number is None or not 1 <= number <= MAX_VOLUME:
            raise Rejected(f"volume must be a whole number of at least 1, got '{str(value)[:40]}'")
        return number

    def _sentiment(self, value: Any) -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            number = float(str(value).strip().replace(",", ".").replace("\u2212", "-")) \
                if not isinstance(value, (int, float)) or isinstance(value, bool) else float(value)
        except ValueError:
            raise Rejected(f"sentiment must be a number from -2 to 2, got '{str(value)[:40]}'") from None
        if not -2.0 <= number <= 2.0:
            raise Rejected(f"sentiment must be from -2 to 2, got {number:g}")
        return number

    def _steps(self, record: Mapping[str, Any], text: str) -> tuple[list[str], tuple[str, ...]]:
        """The first rule that matches wins; no match: no steps (the insight waits in triage)."""
        for rule in self.rules:
            if rule.on_text:
                hit = rule.pattern.search(text) is not None
            else:
                value = self._text(self._value(record, rule.column))
                hit = (value.lower() == rule.equals) if rule.equals is not None else \
                    (rule.pattern.search(value) is not None)
            if hit:
                return [rule.step], rule.tags
        return [], ()

    def _split(self, value: Any) -> list[str]:
        if value is None:
            return []
        items = value if isinstance(value, (list, tuple)) else str(value).split(self.separator)
        return [self._text(v) for v in items if self._text(v)]

    def _tags(self, value: Any, rule_tags: tuple[str, ...]) -> list[str]:
        """The tags of a cell: remembered per (cell text, rule tags), as an export repeats a few combinations."""
        if isinstance(value, str) or value is None:
            key = (value, rule_tags)
            found = self._tags_seen.get(key)
            if found is None:
                found = tuple(self._tags_of(value, rule_tags))
                if len(self._tags_seen) < SEEN_LIMIT:
                    self._tags_seen[key] = found
            return list(found)
        return self._tags_of(value, rule_tags)

    def _tags_of(self, value: Any, rule_tags: tuple[str, ...]) -> list[str]:
        tags: list[str] = []
        for tag in [*self.default_tags, *rule_tags, *(_norm_tag(t) for t in self._split(value))]:
            if tag and tag not in tags and (self.reference.free_tags or tag in self.reference.taxonomy):
                tags.append(tag)
        return tags

    def _personas(self, value: Any) -> list[str]:
        """The persona keys of a cell (or Rejected): remembered per cell text."""
        if isinstance(value, str) or value is None:
            found = self._personas_seen.get(value)
            if found is None:
                try:
                    found = tuple(self._personas_of(value))
                except Rejected as exc:
                    found = exc
                if len(self._personas_seen) < SEEN_LIMIT:
                    self._personas_seen[value] = found
            if isinstance(found, Rejected):
                raise Rejected(str(found))
            return list(found)
        return self._personas_of(value)

    def _personas_of(self, value: Any) -> list[str]:
        keys: list[str] = []
        for item in self._split(value):
            lowered = item.lower()
            key = self.persona_values.get(lowered) or (item if item in self.reference.personas else None) \
                or self.reference.persona_names.get(lowered)
            if key is None or key not in self.reference.personas:
                raise Rejected(f"unknown persona '{item[:60]}' (a persona's key or name, or map the value under "
                               f"sources[].personas)")
            if key not in keys:
                keys.append(key)
        return keys


def is_free_tag(tag: str, taxonomy: Iterable[str]) -> bool:
    """A tag outside the organisation's taxonomy (shown as a free tag)."""
    return tag not in set(taxonomy)
