"""The append-only audit log, hash-chained so that any edited, removed or inserted row is detected.

Each event's hash covers its header (id, time, actor, action, entity, previous hash) and the *digest* of its payload
(before, after, reason), not the payload itself. So personal data in a payload can be erased (redaction: the payload
is replaced by a marker, `redacted_at` set, the digest kept) and the chain still verifies; every erasure is itself an
audit event naming the events it erased, and `verify` refuses an erased payload that no recorded redaction explains.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.db import AUDIT_CHAIN_LOCK, core_connection, lock_for_update
from govern.model import AuditEvent, utcnow
from govern.policy import Actor

GENESIS = "0" * 64


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Plain JSON values for audit snapshots and exports (dates as ISO strings, sets as sorted lists)."""
    if type(value) in _PLAIN:  # most of a payload: answered without the checks below (subclasses still take them)
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


REDACTED = {"redacted": True}  # what an erased payload reads as
REDACTION_ACTION = "audit.redacted"


def _canonical_hash(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def payload_digest(before: Any, after: Any, reason: str | None) -> str:
    """The digest of an event's payload, which the chain covers in its place."""
    return _canonical_hash({"before": before, "after": after, "reason": reason})


def _digest(event: AuditEvent) -> str:
    """The event's hash: its header and its payload's digest (the stored digest once the payload is erased)."""
    covered = event.payload_digest if event.redacted_at is not None else payload_digest(
        event.before, event.after, event.reason)
    return _canonical_hash({
        "id": event.id,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "payload_digest": covered,
        "prev_hash": event.prev_hash,
    })


def record(
    session: Session,
    actor: Actor | str,
    action: str,
    entity_type: str,
    entity_id: Any,
    *,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction.

    The first event of a transaction takes the chain's lock (PostgreSQL; SQLite writers are serialised already) and
    reads the chain's head; the lock is held to the end of the transaction, so later events of the same transaction
    chain on from the head kept in `session.info` without reading it again. The event is written at once, by a
    prebuilt INSERT on the session's connection (on the path of every use case: the unit of work's flush of an object
    costs several times more); the answer is the event as written, not attached to the session. The events a
    transaction wrote are listed in `session.info[WRITTEN]` (the telemetry counts them once it commits)."""
    scope = (session.get_transaction(), session.get_nested_transaction())
    head = session.info.get(_HEAD)
    if head is None or head[0] != scope or scope[0] is None:
        lock_for_update(session, AUDIT_CHAIN_LOCK)
        last = session.execute(
            sa.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        ).first()
        scope = (session.get_transaction(), session.get_nested_transaction())
        head = (scope, last.id if last else 0, last.hash if last else GENESIS)
    _, last_id, last_hash = head
    event = AuditEvent(
        id=last_id + 1,
        at=utcnow(),
        actor=actor.label if isinstance(actor, Actor) else str(actor),
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=jsonable(before),
        after=jsonable(after),
        reason=reason,
        prev_hash=last_hash,
    )
    # Microsecond precision is what every backend stores; hash what will be read back.
    event.payload_digest = payload_digest(event.before, event.after, event.reason)
    event.hash = _digest(event)
    core_connection(session, autoflush=False).execute(_INSERT, {
        "id": event.id, "at": event.at, "actor": event.actor, "action": event.action,
        "entity_type": event.entity_type, "entity_id": event.entity_id, "before": event.before,
        "after": event.after, "reason": event.reason, "prev_hash": event.prev_hash, "hash": event.hash,
        "payload_digest": event.payload_digest, "redacted_at": None})
    session.info[_HEAD] = (scope, event.id, event.hash)
    written = session.info.get(WRITTEN)
    if written is None or written[0] is not scope[0]:
        written = session.info[WRITTEN] = (scope[0], [])
    written[1].append(event)
    return event


_INSERT = AuditEvent.__table__.insert()  # built once, values bound per event

# session.info key: (transaction, the events `record` wrote in it), for counting once the transaction commits (the
# telemetry pops it on commit and rollback; a later transaction's first event replaces an entry nobody popped).
WRITTEN = "govern.audit_written"


# session.info key: ((transaction, savepoint) the head was read in, last id, last hash).
_HEAD = "audit_chain_head"


def head_columns(session: Session, *, may_lock: bool) -> dict[str, sa.Select]:
    """Scalar subqueries reading the chain's head, to ride along a statement the caller runs anyway (then pass its
    values to `prime`), so appending costs no statement of its own.

    Reading the head early is only right while holding the chain's lock to the end of the transaction: on SQLite a
    writing transaction holds the database's write lock from its first statement; on PostgreSQL the advisory lock is
    taken here, but only when `may_lock` (the caller already holds the rows it will change, so the lock order stays
    rows, then chain, as everywhere else); otherwise nothing is read early."""
    if session.get_bind().dialect.name == "postgresql":
        if not may_lock:
            return {}
        lock_for_update(session, AUDIT_CHAIN_LOCK)
    return dict(_head_selects())


@functools.lru_cache(maxsize=1)
def _head_selects() -> tuple[tuple[str, sa.Select], ...]:
    """The head's two scalar subqueries, built once (they take no parameters)."""
    newest = sa.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1).subquery()
    return (("audit_head_id", sa.select(newest.c.id)), ("audit_head_hash", sa.select(newest.c.hash)))


def prime(session: Session, values: dict[str, Any]) -> None:
    """Keep the head read by `head_columns` for the events this transaction appends."""
    if "audit_head_id" in values:
        scope = (session.get_transaction(), session.get_nested_transaction())
        session.info[_HEAD] = (scope, values["audit_head_id"] or 0, values["audit_head_hash"] or GENESIS)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None


class ChainCheck:
    """The chain's rules, event by event in id order: `add` answers the first problem (or None), `result` the end."""

    def __init__(self) -> None:
        self.prev_hash, self.prev_id, self.checked = GENESIS, 0, 0
        self.erased: set[int] = set()  # erased event ids, until a redaction event explains them
        self.explained: set[int] = set()

    def add(self, event) -> VerifyResult | None:
        if event.id != self.prev_id + 1:
            return VerifyResult(False, self.checked, event.id, f"events {self.prev_id + 1}..{event.id - 1} are missing")
        if event.prev_hash != self.prev_hash:
            return VerifyResult(False, self.checked, event.id, "does not link to the event before it")
        if _digest(event) != event.hash:
            return VerifyResult(False, self.checked, event.id, "its content does not match its hash (edited)")
        if event.redacted_at is not None:
            self.erased.add(event.id)
        if event.action == REDACTION_ACTION and event.redacted_at is None:
            self.explained.update(int(i) for i in (event.after or {}).get("audit_events", []))
        self.prev_hash, self.prev_id = event.hash, event.id
        self.checked += 1
        return None

    def result(self) -> VerifyResult:
        unexplained = sorted(self.erased - self.explained)
        if unexplained:
            return VerifyResult(False, self.checked, unexplained[0],
                                "its payload was erased but no recorded redaction names it")
        return VerifyResult(True, self.checked)


def verify_events(events) -> VerifyResult:
    """`verify`'s rules over events held in memory (e.g. the ones in an export file), in id order."""
    check = ChainCheck()
    for event in events:
        problem = check.add(event)
        if problem:
            return problem
    return check.result()


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order; name the first event whose hash or link does not match, or whose payload was erased
    without a recorded redaction."""
    check = ChainCheck()
    while True:
        rows = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.id > check.prev_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return check.result()
        for event in rows:
            problem = check.add(event)
            if problem:
                return problem
        session.expunge_all()


def history(session: Session, entity_type: str, entity_id: Any) -> list[AuditEvent]:
    return list(session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
        .order_by(AuditEvent.id)
    ))


def erase_payloads(session: Session, event_ids: list[int], now: dt.datetime) -> int:
    """Replace the payload of these events by the redaction marker, keeping their digests (so the chain verifies).
    The caller records the redaction event naming them (REDACTION_ACTION, `after={"audit_events": [...]}`)."""
    erased = 0
    for event in session.scalars(sa.select(AuditEvent).where(AuditEvent.id.in_(event_ids),
                                                             AuditEvent.redacted_at.is_(None))):
        if event.payload_digest is None:  # never sealed under the digest scheme (cannot happen after 0008)
            event.payload_digest = payload_digest(event.before, event.after, event.reason)
        event.before, event.after, event.reason = None, dict(REDACTED), None
        event.redacted_at = now
        erased += 1
    return erased
