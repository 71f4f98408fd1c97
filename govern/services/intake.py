"""Evidence intake: records of a source declared in govern.yaml (`sources:`) upserted as insights.

One use case for every entry point (`govern evidence import`, `POST /api/v1/evidence/imports`, the web upload and the
signed webhook `POST /intake/<source>`): `import_records` maps each record with the source's mapping
(govern.services.intake_mapping: step rules, scrubbing) and upserts it by (source, external id):

- new: inserted (no steps when no step rule matched: it waits in triage);
- updated: a record whose content hash differs from the stored one; its mapped fields are rewritten, the steps and
  personas it maps to are added (links a curator made are kept), and the change is audited with what changed;
- unchanged: equal content hash, nothing is written;
- rejected: the row number and the reason.

By default an import is all-or-nothing: any rejected row and nothing is written. `skip_invalid` writes the valid rows
and returns the rejects (`store_rejections` also keeps them in `intake_rejection` for the operations page, as the
webhook does). A record that appears twice in one import is imported once (an identical copy counts as unchanged; a
copy with other content is rejected).

Work is bounded and streamed: journeys, steps, personas and settings are read once per import; records are handled in
chunks of CHUNK, each with one read of the existing rows by external id and executemany writes, so memory stays flat
however long the file is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import InvalidInput, NotFound, Unauthenticated
from govern.model import (
    INTAKE_PAYLOAD_LIMIT, Insight, IntakeRejection, Journey, Persona, Step, insight_persona, insight_step, utcnow,
)
from govern.policy import Actor
from govern.services.common import get_setting, next_numbers
from govern.services.evidence import evidence_kinds, evidence_taxonomy
from govern.services.intake_mapping import Mapped, Reference, Rejected, SourceMapping, scrub
from govern.services.intake_readers import check_size, format_of
from govern.queries.suggestions import SUGGESTION, duplicates_among
from govern.services.summary import refresh_evidence_summary
from govern.yamltext import load_json

SOURCES_SETTING = "sources"
CHUNK = 1000
PREVIEW_ROWS = 20
DUPLICATES_CHECKED = 1000  # new rows of one import compared with existing insights for likely duplicates
DUPLICATE_POOL = 2000  # existing insights they are compared with: the most recent of the same source or steps
DUPLICATES_SHOWN = 10

Record = tuple[int | None, Any]  # (row number as the user sees it, the raw record or a Rejected)


@dataclass(frozen=True)
class RowRejection:
    row: int | None
    reason: str
    record: Any = None

    def line(self) -> str:
        return f"row {self.row}: {self.reason}" if self.row is not None else self.reason


@dataclass
class ImportResult:
    source: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowRejection] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    preview: list[dict] = field(default_factory=list)
    new_keys: list[str] = field(default_factory=list)  # the first few (PREVIEW_ROWS)
    updated_keys: list[str] = field(default_factory=list)
    # Likely duplicates of existing insights among the new rows (a suggestion; the import is not refused for them).
    duplicates: list[LikelyDuplicate] = field(default_factory=list)  # the first DUPLICATES_SHOWN, in row order
    duplicate_count: int = 0
    duplicates_checked: int = 0  # new rows compared (at most DUPLICATES_CHECKED)
    duplicates_unchecked: int = 0  # new rows beyond the cap, not compared

    @property
    def counts(self) -> dict[str, int]:
        return {"new": self.new, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": len(self.rejected)}

    def summary_line(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.counts.items())

    def duplicates_line(self) -> str:
        """`likely duplicates N` and, when the cap was reached, how many new rows were not compared."""
        line = f"likely duplicates {self.duplicate_count}"
        if self.duplicates_unchecked:
            line += (f" (among the first {self.duplicates_checked} new rows; the other {self.duplicates_unchecked} "
                     "were not compared)")
        return line


@dataclass(frozen=True)
class LikelyDuplicate:
    """A new row whose text is near-identical to an existing insight's (a suggestion: merge after importing)."""
    row: int | None
    external_id: str
    text: str
    duplicate_of: str  # INS-n
    duplicate_text: str
    score: float
    label: str = SUGGESTION

    def line(self) -> str:
        where = f"row {self.row}" if self.row is not None else self.external_id
        return f"{where} ({self.external_id}) looks like {self.duplicate_of} ({self.score:.2f}): {self.text[:80]}"


class ImportRefused(InvalidInput):
    """All-or-nothing import with rejected rows: nothing was written; `result` holds the counts and the rejects."""

    def __init__(self, result: ImportResult):
        lines = [r.line() for r in result.rejected[:20]]
        more = len(result.rejected) - len(lines)
        super().__init__(
            f"{len(result.rejected)} row(s) rejected, nothing imported (fix them, or skip them with skip_invalid): "
            + "; ".join(lines) + (f"; … and {more} more" if more > 0 else ""),
            {"rejected": [{"row": r.row, "reason": r.reason} for r in result.rejected[:1000]],
             "counts": result.counts})
        self.result = result


# --- the sources -------------------------------------------------------------------------------------------------------


def sources(session: Session) -> list[dict]:
    """The sources declared in govern.yaml (as applied)."""
    return list(get_setting(session, SOURCES_SETTING, []) or [])


def get_source(session: Session, key: str) -> dict:
    for source in sources(session):
        if source.get("key") == key:
            return source
    known = ", ".join(s["key"] for s in sources(session)) or "none declared: add `sources:` to govern.yaml"
    raise NotFound(f"unknown evidence source '{key}' (sources: {known})", {"source": key})


def load_reference(session: Session) -> Reference:
    """Steps, personas, kinds and the taxonomy: read once per import (two statements and the settings)."""
    steps = {f"{jk}/{sk}": sid for sid, jk, sk in session.execute(
        sa.select(Step.id, Journey.key, Step.key).join(Journey, Journey.id == Step.journey_id))}
    personas: dict[str, int] = {}
    names: dict[str, str] = {}
    for pid, key, name in session.execute(sa.select(Persona.id, Persona.key, Persona.name)):
        personas[key] = pid
        names[name.strip().lower()] = key
    taxonomy, free = evidence_taxonomy(session)
    return Reference(steps=steps, personas=personas, persona_names=names, kinds=evidence_kinds(session),
                     taxonomy=taxonomy, free_tags=free)


def mapping_for(session: Session, source_key: str, *, today: dt.date | None = None) -> SourceMapping:
    return SourceMapping(get_source(session, source_key), load_reference(session), today=today)


# --- the use case ------------------------------------------------------------------------------------------------------


def import_records(session: Session, actor: Actor, source_key: str, records: Iterable[Record], *,
                   header: list[str] | None = None, dry_run: bool = False, skip_invalid: bool = False,
                   store_rejections: bool = False, preview: int = 0,
                   progress: Callable[[int], None] | None = None, today: dt.date | None = None,
                   commit: bool = True) -> ImportResult:
    """Map and upsert `records` (pairs of row number and raw record) of the source `source_key`.

    `header`: the file's columns (a file missing a column the mapping names is refused before any row). `dry_run`:
    everything is computed and nothing kept. Raises ImportRefused (nothing written) when rows were rejected and
    `skip_invalid` is false. `progress(n)` is called after each chunk with the number of records handled."""
    actor.require("evidence.record")
    actor.require("evidence.link")
    mapping = mapping_for(session, source_key, today=today)
    if header is not None:
        try:
            mapping.check_header(header)
        except Rejected as exc:
            raise InvalidInput(f"{source_key}: {exc}", {"file": str(exc)}) from None
    result = ImportResult(source=source_key, dry_run=dry_run)
    today = today or dt.date.today()
    # Rows this import inserted have ids above this one (a record met again in a later chunk is a duplicate).
    first_new_id = (session.scalar(sa.select(sa.func.max(Insight.id))) or 0) + 1
    writer = _Writer(session, actor, source_key, today, first_new_id, result)
    for chunk in _chunks(records, CHUNK):
        keyed: list[tuple[int | None, Any, str, str]] = []
        for row, record in chunk:
            if isinstance(record, Rejected):
                result.rejected.append(RowRejection(row, str(record), None))
                continue
            try:
                external_id, digest = mapping.identity(record)
            except Rejected as exc:
                result.rejected.append(RowRejection(row, str(exc), record))
                continue
            keyed.append((row, record, external_id, digest))
        writer.write(keyed, mapping, preview)
        if progress is not None:
            progress(len(chunk))
    writer.find_duplicates()
    result.rejected.sort(key=lambda r: (r.row is None, r.row or 0))
    if result.rejected and not skip_invalid:
        session.rollback()
        raise ImportRefused(result)
    if dry_run:
        session.rollback()
        return result
    if store_rejections and result.rejected:
        record_rejections(session, source_key, result.rejected, scrub_payload=mapping.scrub)
    writer.finish()
    if result.new or result.updated:
        audit.record(session, actor, "evidence.imported", "source", source_key,
                     after={"counts": result.counts, "new": result.new_keys, "updated": result.updated_keys})
    result.written = bool(result.new or result.updated or (store_rejections and result.rejected))
    if commit:
        session.commit()
    return result


def record_rejections(session: Session, source_key: str, rejections: Iterable[RowRejection], *,
                      scrub_payload: bool = True) -> None:
    """Keep refused records (payload truncated to INTAKE_PAYLOAD_LIMIT, scrubbed like the text) in the caller's
    transaction, for the operations page."""
    now = utcnow()
    rows = []
    for r in rejections:
        payload = r.record if isinstance(r.record, str) else json.dumps(r.record, ensure_ascii=False, default=str)
        payload = (payload or "")[:INTAKE_PAYLOAD_LIMIT]
        if scrub_payload:
            payload = scrub(payload)
        rows.append({"source_key": source_key, "received_at": now, "reason": r.reason[:2000], "payload": payload,
                     "row_number": r.row})
    if rows:
        session.execute(sa.insert(IntakeRejection.__table__), rows)


def _preview_row(row: int | None, m: Mapped) -> dict:
    return {"row": row, "external_id": m.external_id, "text": m.text[:300], "source": m.source, "kind": m.kind,
            "observed_on": m.observed_on.isoformat() if m.observed_on else None, "url": m.url, "volume": m.volume,
            "sentiment": m.sentiment, "tags": m.tags, "steps": m.steps, "personas": m.personas}


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for item in records:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Writer:
    """The upsert of one import, chunk by chunk: one read of the chunk's existing rows, executemany writes."""

    def __init__(self, session: Session, actor: Actor, source_key: str, today: dt.date, first_new_id: int,
                 result: ImportResult):
        self.session, self.actor, self.source_key, self.today = session, actor, source_key, today
        self.first_new_id, self.result = first_new_id, result
        self.touched: set[int] = set()  # updated insights (their opportunities' summaries are refreshed at the end)
        self.checked: list[tuple[int | None, Mapped]] = []  # the first DUPLICATES_CHECKED new rows
        self.insight = table = Insight.__table__
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self.planned_for = 0  # rows the planner's statistics know of (PostgreSQL)
        self.chunks = 0
        self.hashes = (sa.select(table.c.external_id, table.c.content_hash)
                       .where(table.c.source_key == sa.bindparam("source_key"),
                              table.c.external_id.in_(sa.bindparam("external_ids", expanding=True))))

    def write(self, keyed: list[tuple[int | None, Any, str, str]], mapping: SourceMapping, preview: int) -> None:
        """One chunk of (row, raw record, external id, content hash): a record whose hash equals the stored one is
        unchanged and not even mapped; the others are mapped and inserted or updated."""
        if not keyed:
            return
        self.chunks += 1
        if self.postgresql and self.chunks == 2:  # a long import (a webhook's few records never get here)
            known = self.session.scalar(sa.text("SELECT reltuples FROM pg_class WHERE oid = 'insight'::regclass"))
            self.planned_for = max(0, int(known or 0))
            rows = self.first_new_id - 1 + self.result.new
            if known is None or known < 0 or self.planned_for < rows // 2:
                self._analyze(rows)
        session, table, result = self.session, self.insight, self.result
        # A record met twice in one chunk: the first is kept, an identical copy is unchanged, another is rejected.
        unique: dict[str, tuple[int | None, Any, str]] = {}
        for row, record, ext, digest in keyed:
            seen = unique.get(ext)
            if seen is None:
                unique[ext] = (row, record, digest)
            elif seen[2] == digest:
                result.unchanged += 1
            else:
                result.rejected.append(RowRejection(row, f"external id '{ext}' appears again with other "
                                                         f"content (row {seen[0]})", record))
        # The chunk's stored hashes: one tight Core select of (external id, hash), compiled once per import; the id
        # and number only for the few rows whose hash differs.
        stored = dict(session.connection().execute(self.hashes, {"source_key": self.source_key,
                                                                 "external_ids": list(unique)}).all())
        changed = [ext for ext, (_row, _record, digest) in unique.items() if stored.get(ext) != digest]
        result.unchanged += len(unique) - len(changed)
        previewing = preview and len(result.preview) < preview
        if not changed and not previewing:
            return
        again = [ext for ext in changed if ext in stored]
        existing = {ext: (iid, number) for iid, number, ext in session.connection().execute(
            sa.select(table.c.id, table.c.number, table.c.external_id)
            .where(table.c.source_key == self.source_key, table.c.external_id.in_(again)))} if again else {}
        mapped_preview: dict[str, dict] = {}
        inserts: list[tuple[int | None, Mapped]] = []
        updates: list[tuple[int, int, Mapped]] = []
        for ext in changed:
            row, record, digest = unique[ext]
            found = existing.get(ext)
            if found is not None and found[0] >= self.first_new_id:  # inserted earlier in this same import
                result.rejected.append(RowRejection(row, f"external id '{ext}' appears again with other content",
                                                    record))
                continue
            try:
                m = mapping.map(record, (ext, digest))
            except Rejected as exc:
                result.rejected.append(RowRejection(row, str(exc), record))
                continue
            if previewing:
                mapped_preview[ext] = _preview_row(row, m)
            if found is None:
                inserts.append((row, m))
            else:
                updates.append((found[0], found[1], m))
        if previewing:  # in row order: the changed rows as mapped above, the unchanged ones mapped for the preview
            for ext, (row, record, digest) in unique.items():
                if len(result.preview) >= preview:
                    break
                if ext in mapped_preview:
                    result.preview.append(mapped_preview[ext])
                elif stored.get(ext) == digest:
                    self._preview(row, record, mapping)
        self._insert(inserts)
        self._update(updates)

    def _analyze(self, rows: int) -> None:
        """PostgreSQL: bring the planner's statistics of the insight tables up to date. A table loaded since its last
        ANALYZE (a first import, or one autovacuum has not reached yet; rows inserted by this very transaction count)
        is planned as nearly empty, and the chunk's read by external id then filters every row of the source instead
        of using the (source_key, external_id) index: quadratic over a long import. Run when the tables have doubled
        since the statistics were taken, so a handful of times however long the file; only from a long import's second
        chunk on, and skipped if another transaction holds the tables' ANALYZE lock for more than a second."""
        self.planned_for = max(rows, 1)
        try:  # never wait long behind another import's ANALYZE (its lock is held until that import commits)
            with self.session.begin_nested():
                self.session.execute(sa.text("SET LOCAL lock_timeout = '1s'"))
                self.session.execute(sa.text("ANALYZE insight, insight_step, insight_persona"))
                self.session.execute(sa.text("SET LOCAL lock_timeout = DEFAULT"))
        except sa.exc.OperationalError:
            pass  # slower reads for this import, nothing wrong

    def _preview(self, row: int | None, record: Any, mapping: SourceMapping) -> None:
        try:
            self.result.preview.append(_preview_row(row, mapping.map(record)))
        except Rejected:
            pass

    def _insert(self, inserts_rows: list[tuple[int | None, Mapped]]) -> None:
        if not inserts_rows:
            return
        inserts = [m for _row, m in inserts_rows]
        session, result = self.session, self.result
        numbers = next_numbers(session, Insight.number, len(inserts))
        now = utcnow()
        rows = [{**m.fields(), "number": number, "source_key": self.source_key, "external_id": m.external_id,
                 "observed_on": m.observed_on or self.today, "created_by_id": self.actor.person_id,
                 "created_at": now, "merged_into_id": None}
                for m, number in zip(inserts, numbers)]
        session.execute(sa.insert(self.insight), rows)
        ids = dict(session.execute(sa.select(self.insight.c.number, self.insight.c.id)
                                   .where(self.insight.c.number.between(numbers.start, numbers.stop - 1))).all())
        self._link([(ids[number], m) for m, number in zip(inserts, numbers)])
        result.new += len(inserts)
        room = DUPLICATES_CHECKED - len(self.checked)
        if room > 0:
            self.checked.extend(inserts_rows[:room])
        result.duplicates_unchecked += max(0, len(inserts) - max(room, 0))
        if self.postgresql and self.chunks >= 2:
            rows = self.first_new_id - 1 + result.new
            if rows >= 2 * self.planned_for and rows >= CHUNK:
                self._analyze(rows)
        room = PREVIEW_ROWS - len(result.new_keys)
        if room > 0:
            result.new_keys.extend(f"INS-{n}" for n in list(numbers)[:room])

    def _link(self, pairs: list[tuple[int, Mapped]], *, known: dict[int, tuple[set, set]] | None = None) -> None:
        steps = [{"insight_id": iid, "step_id": sid} for iid, m in pairs for sid in m.step_ids
                 if known is None or sid not in known.get(iid, (set(), set()))[0]]
        personas = [{"insight_id": iid, "persona_id": pid} for iid, m in pairs for pid in m.persona_ids
                    if known is None or pid not in known.get(iid, (set(), set()))[1]]
        if steps:
            self.session.execute(sa.insert(insight_step), steps)
        if personas:
            self.session.execute(sa.insert(insight_persona), personas)

    def _update(self, updates: list[tuple[int, int, Mapped]]) -> None:
        if not updates:
            return
        session, table, result = self.session, self.insight, self.result
        ids = [iid for iid, _, _ in updates]
        columns = ["text", "source", "kind", "url", "volume", "sentiment", "tags", "observed_on"]
        before = {r.id: r for r in session.execute(
            sa.select(table.c.id, *[table.c[c] for c in columns]).where(table.c.id.in_(ids)))}
        known: dict[int, tuple[set, set]] = {iid: (set(), set()) for iid in ids}
        for iid, sid in session.execute(sa.select(insight_step.c.insight_id, insight_step.c.step_id)
                                        .where(insight_step.c.insight_id.in_(ids))):
            known[iid][0].add(sid)
        for iid, pid in session.execute(sa.select(insight_persona.c.insight_id, insight_persona.c.persona_id)
                                        .where(insight_persona.c.insight_id.in_(ids))):
            known[iid][1].add(pid)
        now = utcnow()
        params = []
        rehashed = []
        for iid, number, m in updates:
            values = {**m.fields(), "observed_on": m.observed_on or before[iid].observed_on}
            changed = {c: (before[iid]._mapping[c], values[c]) for c in columns
                       if before[iid]._mapping[c] != values[c]}
            added_steps = [s for s, sid in zip(m.steps, m.step_ids) if sid not in known[iid][0]]
            added_personas = [p for p, pid in zip(m.personas, m.persona_ids) if pid not in known[iid][1]]
            if not (changed or added_steps or added_personas):
                # The raw record or the mapping changed, what it maps to did not (e.g. the same rows from a workbook
                # instead of a CSV): only the hash is brought up to date; the insight is unchanged.
                rehashed.append({"b_id": iid, "content_hash": m.content_hash})
                continue
            params.append({"b_id": iid, **values, "updated_at": now})
            audit.record(session, self.actor, "evidence.updated", "insight", f"INS-{number}",
                         before={c: old for c, (old, _new) in changed.items()},
                         after={**{c: new for c, (_old, new) in changed.items()},
                                **({"steps_added": added_steps} if added_steps else {}),
                                **({"personas_added": added_personas} if added_personas else {})},
                         reason=f"import from {self.source_key} ({m.external_id})")
            if len(result.updated_keys) < PREVIEW_ROWS:
                result.updated_keys.append(f"INS-{number}")
        if rehashed:
            session.connection().execute(sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                                         .values(content_hash=sa.bindparam("content_hash")), rehashed)
            result.unchanged += len(rehashed)
        if not params:
            return
        statement = (sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                     .values({c: sa.bindparam(c) for c in [*columns, "sentiment_suggested", "content_hash",
                                                           "updated_at"]}))
        session.connection().execute(statement, params)
        written = {p["b_id"] for p in params}
        self._link([(iid, m) for iid, _, m in updates if iid in written], known=known)
        self.touched.update(written)
        result.updated += len(params)

    def find_duplicates(self) -> None:
        """Likely duplicates among the first DUPLICATES_CHECKED new rows: near-identical (govern.queries.suggestions'
        rule) to one of the DUPLICATE_POOL most recent live insights that were there before this import and share its
        source or one of the new rows' steps. Two statements and one TF-IDF fit, whatever the file's length."""
        result, table = self.result, self.insight
        result.duplicates_checked = len(self.checked)
        if not self.checked:
            return
        step_ids = sorted({sid for _row, m in self.checked for sid in m.step_ids})
        related = [table.c.source_key == self.source_key]
        if step_ids:
            related.append(table.c.id.in_(sa.select(insight_step.c.insight_id)
                                          .where(insight_step.c.step_id.in_(step_ids))))
        pool = self.session.execute(
            sa.select(table.c.number, table.c.text)
            .where(table.c.id < self.first_new_id, table.c.merged_into_id.is_(None), table.c.redacted_at.is_(None),
                   sa.or_(*related))
            .order_by(table.c.number.desc()).limit(DUPLICATE_POOL)).all()
        if not pool:
            return
        texts = {f"{i}": (row, m) for i, (row, m) in enumerate(self.checked)}
        pool_text = {f"INS-{n}": t for n, t in pool}
        found = duplicates_among([(k, m.text) for k, (_row, m) in texts.items()], list(pool_text.items()))
        result.duplicate_count = len(found)
        first = sorted(found, key=lambda f: int(f[0]))[:DUPLICATES_SHOWN]
        result.duplicates = [LikelyDuplicate(texts[k][0], texts[k][1].external_id, texts[k][1].text, other,
                                             pool_text[other], score) for k, other, score in first]

    def finish(self) -> None:
        """The evidence summaries of the opportunities the updated insights support (volume, date, steps)."""
        touched = sorted(self.touched)
        for start in range(0, len(touched), CHUNK):
            refresh_evidence_summary(self.session, insight_ids=touched[start:start + CHUNK])


# --- the signed webhook ------------------------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Govern-Signature"
TIMESTAMP_HEADER = "X-Govern-Timestamp"
SIGNATURE_TOLERANCE = 300  # seconds either side of now


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """`sha256=<hex>`: the HMAC-SHA256 of `<timestamp>.<raw body>` keyed by the source's secret."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, timestamp: str | None, signature: str | None, body: bytes, *,
                     now: float | None = None) -> None:
    """Raise Unauthenticated unless `signature` signs `timestamp` and `body` with `secret` (compared in constant time)
    and the timestamp is within SIGNATURE_TOLERANCE seconds of now (a replay later than that is refused)."""
    if not timestamp or not signature:
        raise Unauthenticated(f"the request must carry {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers")
    if not re.fullmatch(r"\d{1,12}", timestamp.strip()):
        raise Unauthenticated(f"{TIMESTAMP_HEADER} must be unix seconds")
    expected = sign(secret, timestamp.strip(), body)
    if not hmac.compare_digest(signature.strip().encode(), expected.encode()):
        raise Unauthenticated("bad signature: expected sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>' keyed by "
                              "the source's secret>")
    skew = abs((time.time() if now is None else now) - int(timestamp))
    if skew > SIGNATURE_TOLERANCE:
        raise Unauthenticated(f"stale timestamp: {int(skew)} s from now (at most {SIGNATURE_TOLERANCE} s); "
                              "a replayed request is refused")


def feed_records(session: Session, source_key: str, body: bytes) -> ImportResult:
    """A verified webhook body (one JSON record or a list) upserted as the source's evidence: valid records are
    written, refused ones kept in intake_rejection with the reason (idempotent by external id: a retry is safe)."""
    actor = Actor.system_actor(f"intake:{source_key}")
    try:
        doc = load_json(body, "the body")  # bounded: bad bytes, bad JSON or nesting too deep is InvalidInput
    except InvalidInput as exc:
        record_rejections(session, source_key, [RowRejection(None, f"not JSON: {exc.message}", body.decode(
            "utf-8", errors="replace"))])
        session.commit()
        raise InvalidInput(f"{exc.message}; the request was kept on the operations page", {"body": "not JSON"}) \
            from None
    records = doc if isinstance(doc, list) else [doc]
    return import_records(session, actor, source_key, list(enumerate(records, start=1)), skip_invalid=True,
                          store_rejections=True)


# --- uploads kept between a preview and its confirmation ---------------------------------------------------------------

UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}\.(csv|tsv|txt|xlsx|xlsm|json|ndjson|jsonl)$")
UPLOADS_KEPT = dt.timedelta(hours=6)


def uploads_folder(instance_path: Path) -> Path:
    return Path(instance_path) / "imports"


def stash_upload(instance_path: Path, stream, filename: str, max_bytes: int) -> str:
    """Keep an uploaded export in the instance folder under a random id (its extension kept); refuse one larger than
    `max_bytes` without keeping it. Old uploads (UPLOADS_KEPT) are removed on the way."""
    format_of(filename)
    folder = uploads_folder(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - UPLOADS_KEPT.total_seconds()
    for old in folder.iterdir():
        if old.is_file() and old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    upload_id = secrets.token_urlsafe(24) + Path(filename).suffix.lower()
    path = folder / upload_id
    size = 0
    with path.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                path.unlink(missing_ok=True)
                check_size(size, max_bytes)
            out.write(chunk)
    return upload_id


def stashed_upload(instance_path: Path, upload_id: str) -> Path:
    """The file of an upload kept by stash_upload (NotFound when the id is malformed, unknown or expired)."""
    path = uploads_folder(instance_path) / upload_id
    if not UPLOAD_ID.match(upload_id or "") or not path.is_file():
        raise NotFound("that upload is no longer here (uploads are kept 6 hours): upload the file again",
                       {"upload": upload_id})
    return path
