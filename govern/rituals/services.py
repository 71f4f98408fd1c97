"""Ritual use cases: occurrences, agendas and their publication, minutes and decisions, follow-ups, calendar tokens.

Every function takes ``(session, actor, …)``, checks the permission table, writes, appends audit events, queues outside
effects in the outbox and commits once. Times given and returned are aware UTC; the database stores naive UTC.

Exactly once: an occurrence is a row keyed by (ritual, scheduled_at) (a unique constraint), created with
INSERT … ON CONFLICT DO NOTHING, and it is *fired* (agenda built and its Slack post queued) by one conditional UPDATE
(``fired_by IS NULL``) in the same transaction as the agenda and the outbox message, whose dedupe key is the
occurrence. A process killed half-way leaves nothing behind; whoever runs next fires it, once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit, notifications
from govern.db import dialect_insert
from govern.errors import Conflict, GovernError, InvalidInput, NotFound, PermissionDenied
from govern.model import (
    AgendaItem, ApprovalRequest, Attendance, CalendarToken, CouncilSeat, Decision, FollowUp, Journey, MinutesVersion,
    Opportunity, Person, Ritual, RitualOccurrence, utcnow,
)
from govern.notifications import Audience
from govern.policy import Actor
from govern.queries.evaluations import due_evaluations
from govern.queries.requests import pending_requests_of
from govern.queries.rights import decision_refusal
from govern.services.common import get_opportunity, get_person
from govern.rituals import agenda as agenda_mod
from govern.rituals import calendar as calendar_mod
from govern.rituals.cadence import (
    UTC, as_utc, iter_occurrences, next_occurrence, occurrences_between, plan_due, zone,
)
from govern.workflows import services as lifecycle

log = logging.getLogger(__name__)

HORIZON = dt.timedelta(days=35)  # occurrence rows are kept this far ahead
CATCH_UP_LIMIT = dt.timedelta(days=62)  # after longer downtime, older occurrences are not even recorded as missed
LOOK_BACK = dt.timedelta(days=400)  # how far back "the latest occurrence" is looked for (a yearly ritual)
DECISION_OUTCOMES = ("approve", "reject", "noted")


def now_utc() -> dt.datetime:
    return dt.datetime.now(UTC)


def naive(value: dt.datetime) -> dt.datetime:
    return as_utc(value).replace(tzinfo=None)


def iso(value: dt.datetime | None) -> str | None:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value else None


# --- lookups ---------------------------------------------------------------------------------------------------------


def get_ritual(session: Session, ref: str | int) -> Ritual:
    ritual = session.get(Ritual, ref) if isinstance(ref, int) else session.scalar(
        sa.select(Ritual).where(Ritual.key == ref))
    if ritual is None:
        keys = ", ".join(session.scalars(sa.select(Ritual.key).where(Ritual.active.is_(True)).order_by(Ritual.key)))
        raise NotFound(f"unknown ritual '{ref}'" + (f" (rituals: {keys})" if keys else ""), {"ritual": ref})
    return ritual


def _row(session: Session, model: type, row_id: Any) -> Any:
    """A row by id, or None; ids outside the column's range (a 32-bit integer) simply do not exist."""
    try:
        row_id = int(row_id)
    except (TypeError, ValueError):
        return None
    return session.get(model, row_id) if 0 < row_id < 2**31 else None


def get_occurrence(session: Session, occurrence_id: int) -> RitualOccurrence:
    occurrence = _row(session, RitualOccurrence, occurrence_id)
    if occurrence is None:
        raise NotFound(f"unknown ritual occurrence {occurrence_id}", {"occurrence": occurrence_id})
    return occurrence


def parse_when(value: str | dt.datetime, ritual: Ritual) -> dt.datetime:
    """An ISO time; without an offset it is read as the ritual's local time (the DST rule of rituals.cadence)."""
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"'{value}' is not a time such as 2026-04-01T10:00", {"at": "not an ISO time"}) from None
    if not 1971 <= parsed.year <= 2200:
        raise InvalidInput(f"'{value}' is too far from now to be an occurrence", {"at": "between 1971 and 2200"})
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(ritual.timezone), fold=0)
    return parsed.astimezone(UTC)


def starts_at(ritual: Ritual) -> dt.datetime | None:
    """Where the ritual's past begins: its `since:` (a date in govern.yaml, the start of that day in the ritual's zone)
    or else when it was declared. None for a ritual recorded before creation times were kept."""
    since = (ritual.settings or {}).get("since")
    if since:
        try:
            day = dt.date.fromisoformat(str(since)[:10])
        except ValueError:
            day = None
        if day is not None:
            return dt.datetime.combine(day, dt.time(), tzinfo=zone(ritual.timezone)).astimezone(UTC)
    return as_utc(ritual.created_at) if ritual.created_at else None


def effective_at(o: RitualOccurrence) -> dt.datetime:
    """When an occurrence meets: its cadence time, or the time it was moved to."""
    return as_utc(o.moved_to or o.scheduled_at)


def ends_at(o: RitualOccurrence) -> dt.datetime:
    """When an occurrence's meeting ended (or will end): its time plus the ritual's duration (UTC)."""
    return effective_at(o) + dt.timedelta(minutes=o.ritual.duration_minutes)


def made_before_it_ended(o: RitualOccurrence, request: ApprovalRequest) -> bool:
    """A meeting decides only what existed then: a request made after it ended is not on its table."""
    return as_utc(request.created_at) <= ends_at(o)


@dataclass(frozen=True)
class At:
    """An occurrence named by its ritual and cadence time, recorded or not (the writes record it; reads never do)."""

    ritual: str
    when: str | dt.datetime


OccurrenceRef = "int | At"


def writable_occurrence(session: Session, ref: int | At) -> RitualOccurrence:
    """The occurrence a write goes to: by id, or by (ritual, time), recorded now if it was not (no commit: the
    write's own transaction records it, so a refused write leaves nothing behind)."""
    if isinstance(ref, At):
        ritual = get_ritual(session, ref.ritual)
        return ensure_occurrence(session, ritual, parse_when(ref.when, ritual))
    return get_occurrence(session, ref)


def list_rituals(session: Session, actor: Actor, *, include_inactive: bool = False) -> list[Ritual]:
    actor.require("read")
    query = sa.select(Ritual).order_by(Ritual.key)
    if not include_inactive:
        query = query.where(Ritual.active.is_(True))
    return list(session.scalars(query))


@dataclass(frozen=True)
class Upcoming:
    ritual: Ritual
    scheduled_at: dt.datetime
    occurrence: RitualOccurrence | None

    @property
    def status(self) -> str:
        return self.occurrence.status if self.occurrence else "planned"


def upcoming(session: Session, actor: Actor, *, ritual: str | None = None, now: dt.datetime | None = None,
             limit: int = 10, per_ritual: int | None = None) -> list[Upcoming]:
    """The next occurrences (from the cadence, with their recorded status), soonest first."""
    actor.require("read")
    now = as_utc(now or now_utc())
    rituals = [get_ritual(session, ritual)] if ritual else list_rituals(session, actor)
    found: list[Upcoming] = []
    for r in rituals:
        rows = {as_utc(o.scheduled_at): o for o in session.scalars(
            sa.select(RitualOccurrence).where(RitualOccurrence.ritual_id == r.id,
                                              RitualOccurrence.scheduled_at >= naive(now)))}
        take = per_ritual or limit
        for at in iter_occurrences(r.cadence_kind, r.cadence, r.timezone, now):
            found.append(Upcoming(r, at, rows.get(at)))
            take -= 1
            if take <= 0:
                break
    found.sort(key=lambda u: (u.scheduled_at, u.ritual.key))
    return found[:limit] if per_ritual is None else found


@dataclass(frozen=True)
class PastOccurrence:
    ritual: Ritual
    scheduled_at: dt.datetime
    occurrence: RitualOccurrence | None

    @property
    def status(self) -> str:
        """held, missed, skipped, cancelled — or 'not recorded' for a meeting nobody wrote minutes for."""
        if self.occurrence is None or self.occurrence.status == "planned":
            return "not recorded"
        return self.occurrence.status


def past_occurrences(session: Session, actor: Actor, ritual_ref: str, *, now: dt.datetime | None = None,
                     limit: int = 12, before: dt.datetime | None = None) -> list[PastOccurrence]:
    """The latest occurrences that have begun, newest first: every time the cadence met, recorded or not.

    `before` pages further back (pass the oldest `scheduled_at` shown). Recorded rows outside the cadence (a ritual
    whose cadence changed) are included too, so no minutes are unreachable."""
    actor.require("read")
    now = as_utc(now or now_utc())
    ritual = get_ritual(session, ritual_ref)
    until = as_utc(before) if before is not None else now + dt.timedelta(seconds=1)
    first = starts_at(ritual)
    back_to = until - LOOK_BACK if first is None else max(first, until - LOOK_BACK)
    times = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone, back_to, until) \
        if back_to < until else []
    times = [t for t in times if t < until][-limit:]
    oldest = times[0] if len(times) == limit else until - LOOK_BACK
    rows = {as_utc(o.scheduled_at): o for o in session.scalars(
        sa.select(RitualOccurrence).where(RitualOccurrence.ritual_id == ritual.id,
                                          RitualOccurrence.scheduled_at >= naive(oldest),
                                          RitualOccurrence.scheduled_at < naive(until)))}
    found = {t: PastOccurrence(ritual, t, rows.get(t)) for t in times}
    for at, row in rows.items():
        found.setdefault(at, PastOccurrence(ritual, at, row))
    return sorted(found.values(), key=lambda p: p.scheduled_at, reverse=True)[:limit]


# --- occurrences: sync and firing (the scheduler's use cases) ---------------------------------------------------------


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    statement = (dialect_insert(session, RitualOccurrence.__table__)
                 .on_conflict_do_nothing(index_elements=["ritual_id", "scheduled_at"])
                 .returning(RitualOccurrence.__table__.c.id))
    return len(session.connection().execute(statement, rows).all())


def ensure_occurrences(session: Session, ritual: Ritual, *, now: dt.datetime,
                       horizon: dt.timedelta = HORIZON) -> int:
    """Record the ritual's occurrences up to now + horizon; no commit. Returns how many rows were added.

    After downtime the gap since the last recorded occurrence is filled too (at most CATCH_UP_LIMIT back), so that
    the missed-occurrence policy sees it. Future rows the cadence no longer yields (the ritual was rescheduled in
    govern.yaml) are dropped while they are untouched: planned, never fired.
    """
    latest_past = session.scalar(sa.select(sa.func.max(RitualOccurrence.scheduled_at))
                                 .where(RitualOccurrence.ritual_id == ritual.id,
                                        RitualOccurrence.scheduled_at < naive(now)))
    start = now if latest_past is None else max(as_utc(latest_past) + dt.timedelta(seconds=1), now - CATCH_UP_LIMIT)
    wanted = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone, start, now + horizon)
    wanted_set = set(wanted)
    untouched = session.execute(
        sa.select(RitualOccurrence.id, RitualOccurrence.scheduled_at)
        .where(RitualOccurrence.ritual_id == ritual.id, RitualOccurrence.scheduled_at >= naive(now),
               RitualOccurrence.scheduled_at < naive(now + horizon),
               RitualOccurrence.status == "planned", RitualOccurrence.fired_by.is_(None))).all()
    stale = [occ_id for occ_id, at in untouched if as_utc(at) not in wanted_set]
    if stale:
        session.execute(sa.delete(RitualOccurrence).where(RitualOccurrence.id.in_(stale),
                                                          RitualOccurrence.fired_by.is_(None)))
    return _insert_ignoring_duplicates(
        session, [{"ritual_id": ritual.id, "scheduled_at": naive(t), "status": "planned"} for t in wanted])


def sync_occurrences(session: Session, actor: Actor, *, now: dt.datetime | None = None,
                     horizon: dt.timedelta = HORIZON) -> int:
    """Create missing occurrence rows for every active ritual; returns how many were created."""
    actor.require("ritual.manage")
    now = as_utc(now or now_utc())
    created = 0
    for ritual in session.scalars(sa.select(Ritual).where(Ritual.active.is_(True)).order_by(Ritual.id)):
        try:
            created += ensure_occurrences(session, ritual, now=now, horizon=horizon)
        except ValueError:  # a cadence that no longer parses (edited in the database): skip it, keep the rest going
            continue
    session.commit()
    return created


def grace_of(ritual: Ritual) -> dt.timedelta:
    """How late an agenda may still be posted: `grace_minutes` of the ritual, by default its duration."""
    minutes = (ritual.settings or {}).get("grace_minutes")
    return dt.timedelta(minutes=int(minutes if minutes is not None else ritual.duration_minutes))


def lead_of(ritual: Ritual) -> dt.timedelta:
    return dt.timedelta(minutes=ritual.agenda_lead_minutes or 0)


@dataclass
class FireReport:
    fired: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)


def fire_due(session: Session, actor: Actor, *, now: dt.datetime | None = None, fired_by: str = "scheduler",
             publish: bool = True, before_commit: Callable[[int], None] | None = None) -> FireReport:
    """Apply the missed-occurrence policy and fire what is due: build the agenda, queue its Slack post.

    Each fired occurrence is its own transaction. Returns the ids fired and marked missed by this call.
    """
    actor.require("ritual.manage")
    now = as_utc(now or now_utc())
    report = FireReport()
    rituals = list(session.scalars(sa.select(Ritual).where(Ritual.active.is_(True)).order_by(Ritual.id)))
    for ritual in rituals:
        lead, grace = lead_of(ritual), grace_of(ritual)
        meets_at = sa.func.coalesce(RitualOccurrence.moved_to, RitualOccurrence.scheduled_at)
        unfired = session.execute(
            sa.select(RitualOccurrence.id, meets_at)
            .where(RitualOccurrence.ritual_id == ritual.id, RitualOccurrence.status == "planned",
                   RitualOccurrence.fired_by.is_(None), meets_at <= naive(now + lead))
        ).all()
        if not unfired:
            continue
        ids_by_time = {as_utc(at): occ_id for occ_id, at in unfired}
        plan = plan_due(ids_by_time, now, lead=lead, grace=grace)
        if plan.missed:
            missed_ids = [ids_by_time[t] for t in plan.missed]
            result = session.execute(
                sa.update(RitualOccurrence)
                .where(RitualOccurrence.id.in_(missed_ids), RitualOccurrence.status == "planned",
                       RitualOccurrence.fired_by.is_(None))
                .values(status="missed"))
            if result.rowcount:
                audit.record(session, actor, "ritual.missed", "ritual", ritual.key,
                             after={"occurrences": [iso(t) for t in plan.missed]},
                             reason="the scheduler was not running when their agendas were due")
                report.missed.extend(missed_ids)
            session.commit()
        if plan.fire is not None:
            occurrence_id = ids_by_time[plan.fire]
            try:
                if _fire(session, actor, ritual, occurrence_id, now=now, fired_by=fired_by, publish=publish,
                         before_commit=before_commit):
                    report.fired.append(occurrence_id)
            except sa.exc.OperationalError:
                raise  # the database is away: the caller retries the whole round
            except Exception:  # noqa: BLE001 - one ritual's broken agenda must not stop the others
                session.rollback()
                log.exception("the agenda of %s (occurrence %s) could not be built", ritual.key, occurrence_id)
    return report


def _fire(session: Session, actor: Actor, ritual: Ritual, occurrence_id: int, *, now: dt.datetime,
          fired_by: str, publish: bool, before_commit: Callable[[int], None] | None = None) -> bool:
    """Claim one occurrence (conditional UPDATE), build and store its agenda, queue the post; commit. False if taken."""
    claimed = session.execute(
        sa.update(RitualOccurrence)
        .where(RitualOccurrence.id == occurrence_id, RitualOccurrence.fired_by.is_(None),
               RitualOccurrence.status == "planned")
        .values(fired_by=fired_by[:100], agenda_built_at=naive(now))
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        session.rollback()
        return False
    occurrence = session.get(RitualOccurrence, occurrence_id, populate_existing=True)
    agenda = agenda_mod.build_agenda(session, ritual, as_utc(occurrence.scheduled_at), now=now,
                                     occurrence_id=occurrence.id)
    occurrence.agenda = agenda
    if publish and ritual.slack_channel:
        queue_agenda_post(session, ritual, occurrence, agenda)
    if before_commit is not None:
        before_commit(occurrence.id)
    audit.record(session, actor, "ritual.agenda_built", "ritual_occurrence", occurrence.id,
                 after={"ritual": ritual.key, "scheduled_at": iso(occurrence.scheduled_at), "fired_by": fired_by,
                        "items": {s["key"]: len(s["items"]) for s in agenda["sections"]}})
    session.commit()
    return True


def queue_agenda_post(session: Session, ritual: Ritual, occurrence: RitualOccurrence,
                      agenda: Mapping[str, Any]) -> None:
    """One `ritual.agenda` notification per occurrence (dedupe key) for the ritual's channel; each chat adapter
    renders the agenda its own way."""
    notifications.notify(
        session, notifications.RITUAL_AGENDA,
        about={"ritual": ritual.key, "name": ritual.name, "occurrence_id": occurrence.id,
               "scheduled_at": iso(occurrence.scheduled_at)},
        audience=Audience(channels=(ritual.slack_channel,)) if ritual.slack_channel else Audience(council=True),
        facts={"agenda": dict(agenda), "summary": agenda_mod.summary_text(agenda)},
        dedupe_key=f"ritual-agenda:{occurrence.id}",
    )


def next_due_at(session: Session, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the scheduler next has something to do: the earliest agenda time of a planned, unfired occurrence."""
    now = as_utc(now or now_utc())
    soonest: dt.datetime | None = None
    for ritual in session.scalars(sa.select(Ritual).where(Ritual.active.is_(True))):
        at = session.scalar(
            sa.select(sa.func.min(sa.func.coalesce(RitualOccurrence.moved_to, RitualOccurrence.scheduled_at)))
            .where(RitualOccurrence.ritual_id == ritual.id, RitualOccurrence.status == "planned",
                   RitualOccurrence.fired_by.is_(None)))
        if at is None:
            continue
        due = as_utc(at) - lead_of(ritual)
        soonest = due if soonest is None or due < soonest else soonest
    return soonest


def announce_due_evaluations(session: Session, actor: Actor, *, now: dt.datetime | None = None) -> int:
    """An `evaluation.due` notification for every opportunity due for evaluation now (govern.queries.evaluations:
    the date the lifecycle's schedule_evaluation effect wrote on it has come), once per scheduled date."""
    actor.require("ritual.manage")
    now = as_utc(now or now_utc())
    announced = 0
    for due in due_evaluations(session, now=now):
        opp = due.opportunity
        since = due.due_at or opp.state_changed_at  # an unscheduled evaluation state: once per entry into it
        journeys = [j.key for j in opp.journeys]
        message = notifications.notify(
            session, notifications.EVALUATION_DUE,
            about={"opportunity": opp.key, "title": opp.title, "journeys": journeys},
            audience=Audience(journeys=tuple(journeys)),
            facts={"due_at": iso(as_utc(due.due_at)) if due.due_at else None},
            dedupe_key=f"evaluation-due:{opp.id}:{since.isoformat()}")
        announced += message is not None
    if announced:
        session.commit()
    return announced


def notify_ownership_gaps(session: Session, actor: Actor, *, now: dt.datetime | None = None) -> int:
    """A `journey.ownership_gap` notification per journey without an (active) owner, at most once per ISO week."""
    actor.require("ritual.manage")
    now = as_utc(now or now_utc())
    year, week, _ = now.isocalendar()
    queued = 0
    for item in agenda_mod.ownership_gaps_section(session, None):
        journey = session.get(Journey, item["journey_id"])
        message = notifications.notify(
            session, notifications.OWNERSHIP_GAP, about={"journey": journey.key, "name": journey.name},
            audience=Audience(channels=(journey.slack_channel,)) if journey.slack_channel else Audience(council=True),
            facts={"text": item["text"]}, dedupe_key=f"ownership-gap:{journey.key}:{year}-W{week:02d}")
        queued += message is not None
    session.commit()
    return queued


# --- agendas on demand -----------------------------------------------------------------------------------------------


def find_occurrence(session: Session, ritual: Ritual, at: dt.datetime) -> RitualOccurrence | None:
    return session.scalar(sa.select(RitualOccurrence).where(RitualOccurrence.ritual_id == ritual.id,
                                                            RitualOccurrence.scheduled_at == naive(at)))


def _is_cadence_instant(ritual: Ritual, at: dt.datetime) -> bool:
    return at in occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone, at, at + dt.timedelta(
        seconds=1))


def ensure_occurrence(session: Session, ritual: Ritual, at: dt.datetime) -> RitualOccurrence:
    """The occurrence at `at`, recorded if it is one of the cadence's times; InvalidInput naming the nearest if not."""
    at = as_utc(at)
    found = find_occurrence(session, ritual, at)
    if found is not None:
        return found
    if not _is_cadence_instant(ritual, at):
        nearest = next_occurrence(ritual.cadence_kind, ritual.cadence, ritual.timezone, at - dt.timedelta(seconds=1))
        hint = f"; the next one is {nearest.astimezone(zone(ritual.timezone)):%Y-%m-%d %H:%M %Z}" if nearest else ""
        raise InvalidInput(f"{ritual.name} does not meet at {at:%Y-%m-%d %H:%M} UTC{hint}",
                           {"at": "not an occurrence of the ritual's cadence"})
    first = starts_at(ritual)
    if first is not None and at < first:
        raise InvalidInput(f"{ritual.name} did not exist yet at {at:%Y-%m-%d %H:%M} UTC (it starts "
                           f"{first.astimezone(zone(ritual.timezone)):%Y-%m-%d})",
                           {"at": "before the ritual's first occurrence"})
    _insert_ignoring_duplicates(session, [{"ritual_id": ritual.id, "scheduled_at": naive(at), "status": "planned"}])
    return find_occurrence(session, ritual, at)


def resolve_occurrence(session: Session, ritual: Ritual, *, at: str | dt.datetime | None = None,
                       occurrence_id: int | None = None, default: str = "next",
                       now: dt.datetime | None = None, record: bool = True) -> RitualOccurrence:
    """An occurrence by id, by time, or by default the next one (`next`) or the latest that has begun (`last`).

    With `record` (the default) a missing row is recorded (no commit); without it, a transient one is returned."""
    now = as_utc(now or now_utc())

    def ensure(when: dt.datetime) -> RitualOccurrence:
        if record:
            return ensure_occurrence(session, ritual, when)
        found = find_occurrence(session, ritual, when)
        first = starts_at(ritual)
        if found is None and (not _is_cadence_instant(ritual, as_utc(when))
                              or (first is not None and as_utc(when) < first)):
            ensure_occurrence(session, ritual, when)  # raises, naming the nearest occurrence (or the first)
        return found or RitualOccurrence(ritual_id=ritual.id, scheduled_at=naive(when), status="planned")

    if occurrence_id is not None:
        occurrence = get_occurrence(session, occurrence_id)
        if occurrence.ritual_id != ritual.id:
            raise NotFound(f"occurrence {occurrence_id} is not one of {ritual.name}", {"occurrence": occurrence_id})
        return occurrence
    if at is not None:
        return ensure(parse_when(at, ritual))
    if default == "last":
        # The latest that has begun: a recorded one (held, planned or missed), else the cadence's latest time.
        recorded = session.scalar(
            sa.select(RitualOccurrence).where(RitualOccurrence.ritual_id == ritual.id,
                                              RitualOccurrence.scheduled_at <= naive(now),
                                              RitualOccurrence.status.in_(("planned", "missed", "held")))
            .order_by(RitualOccurrence.scheduled_at.desc()).limit(1))
        past = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                   now - LOOK_BACK, now + dt.timedelta(seconds=1))
        if past and (recorded is None or as_utc(recorded.scheduled_at) < past[-1]):
            found = find_occurrence(session, ritual, past[-1])
            if found is None or found.status in ("planned", "missed", "held"):
                return ensure(past[-1])
        if recorded is None:
            raise NotFound(f"{ritual.name} has not met yet; name the occurrence with its time",
                           {"occurrence": "none has begun"})
        return recorded
    # The next occurrence still to come (or under way: it started less than its duration ago).
    start = now - dt.timedelta(minutes=ritual.duration_minutes)
    for at_time in iter_occurrences(ritual.cadence_kind, ritual.cadence, ritual.timezone, start):
        occurrence = find_occurrence(session, ritual, at_time)
        if occurrence is None or occurrence.status in ("planned", "held", "missed"):
            return ensure(at_time)
    raise NotFound(f"{ritual.name} has no further occurrences", {"occurrence": "none left"})


def agenda_for(session: Session, actor: Actor, ritual_ref: str, *, at: str | dt.datetime | None = None,
               occurrence_id: int | None = None, fresh: bool = False,
               now: dt.datetime | None = None) -> dict[str, Any]:
    """The agenda of an occurrence (the next by default): as posted if it was built, else built now from live data."""
    actor.require("read")
    now = as_utc(now or now_utc())
    ritual = get_ritual(session, ritual_ref)
    occurrence = resolve_occurrence(session, ritual, at=at, occurrence_id=occurrence_id, now=now, record=False)
    if occurrence.agenda and not fresh:
        # as posted, with the items added to it since (they may be added until the meeting)
        return {**occurrence.agenda, "added": agenda_mod.added_items(session, occurrence.id)}
    return agenda_mod.build_agenda(session, ritual, as_utc(occurrence.scheduled_at), now=now,
                                   occurrence_id=occurrence.id)


def publish_agenda(session: Session, actor: Actor, ritual_ref: str, *, at: str | dt.datetime | None = None,
                   occurrence_id: int | None = None, now: dt.datetime | None = None) -> RitualOccurrence:
    """Build an occurrence's agenda now and queue its post, ahead of the scheduler (once per occurrence)."""
    actor.require("ritual.record")
    now = as_utc(now or now_utc())
    ritual = get_ritual(session, ritual_ref)
    occurrence = resolve_occurrence(session, ritual, at=at, occurrence_id=occurrence_id, now=now)
    session.commit()
    if occurrence.status != "planned":
        raise Conflict(f"the {ritual.name} of {_local(ritual, occurrence)} is {occurrence.status}",
                       {"status": occurrence.status})
    if occurrence.fired_by is not None:
        raise Conflict(f"the agenda of {_local(ritual, occurrence)} was already posted (by {occurrence.fired_by})",
                       {"fired_by": occurrence.fired_by})
    if not _fire(session, actor, ritual, occurrence.id, now=now, fired_by=f"manual:{actor.handle}", publish=True):
        raise Conflict("the agenda was posted by someone else a moment ago", {"fired_by": "another process"})
    return session.get(RitualOccurrence, occurrence.id, populate_existing=True)


def _local(ritual: Ritual, occurrence: RitualOccurrence) -> str:
    return as_utc(occurrence.scheduled_at).astimezone(zone(ritual.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _local_time(ritual: Ritual, when: dt.datetime) -> str:
    return as_utc(when).astimezone(zone(ritual.timezone)).strftime("%Y-%m-%d %H:%M %Z")


# --- minutes, decisions, follow-ups -----------------------------------------------------------------------------------


def occurrence_snapshot(o: RitualOccurrence) -> dict[str, Any]:
    return {"ritual": o.ritual.key, "scheduled_at": iso(o.scheduled_at), "status": o.status, "notes": o.notes,
            "moved_to": iso(o.moved_to), "reason": o.status_reason,
            "attendance": {a.person.handle: a.present for a in o.attendance}}


def _parse_due(value: Any, path: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{path}: '{value}' is not a date such as 2026-04-15", {path: "not a date"}) from None


def _check_follow_up(session: Session, item: Any, path: str, errors: dict[str, str]) -> dict[str, Any] | None:
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, Mapping):
        errors[path] = "a follow-up is {text, owner, due_on}"
        return None
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        errors[f"{path}.text"] = "required"
    owner = None
    if item.get("owner"):
        try:
            owner = get_person(session, item["owner"])
        except NotFound:
            errors[f"{path}.owner"] = f"unknown person '{item['owner']}'"
    else:
        errors[f"{path}.owner"] = "every follow-up needs an owner"
    due = None
    try:
        due = _parse_due(item.get("due_on"), f"{path}.due_on")
    except InvalidInput as exc:
        errors.update(exc.details)
    if item.get("due_on") in (None, "") and f"{path}.due_on" not in errors:
        errors[f"{path}.due_on"] = "every follow-up needs a due date"
    unknown = set(item) - {"text", "owner", "due_on"}
    for key in sorted(unknown):
        errors[f"{path}.{key}"] = "unknown field"
    return {"text": (text or "").strip(), "owner": owner, "due_on": due}


def _check_decision(session: Session, item: Any, path: str, errors: dict[str, str]) -> dict[str, Any] | None:
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, Mapping):
        errors[path] = "a decision is {text, opportunity, request, outcome, reason, follow_ups}"
        return None
    unknown = set(item) - {"text", "opportunity", "request", "outcome", "reason", "follow_ups"}
    for key in sorted(unknown):
        errors[f"{path}.{key}"] = "unknown field"
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        errors[f"{path}.text"] = "required"
    outcome = item.get("outcome")
    if outcome is not None and outcome not in DECISION_OUTCOMES:
        errors[f"{path}.outcome"] = f"must be one of {', '.join(DECISION_OUTCOMES)}"
    opp = None
    if item.get("opportunity"):
        try:
            opp = get_opportunity(session, item["opportunity"])
        except NotFound:
            errors[f"{path}.opportunity"] = f"unknown opportunity '{item['opportunity']}'"
    request = None
    if item.get("request") is not None:
        request = _row(session, ApprovalRequest, item["request"])
        if request is None:
            errors[f"{path}.request"] = f"unknown approval request '{item['request']}'"
        elif opp is not None and request.opportunity_id != opp.id:
            errors[f"{path}.request"] = f"request {request.id} is about {request.opportunity.key}, not {opp.key}"
    if outcome in ("approve", "reject") and request is None and f"{path}.request" not in errors:
        if opp is None:
            errors[f"{path}.request"] = "name the request (or the opportunity) this decision approves or rejects"
        else:
            pending = pending_requests_of(session, [opp.id])[opp.id]
            if len(pending) == 1:
                request = pending[0]
            else:
                errors[f"{path}.request"] = (f"{opp.key} has no pending request" if not pending else
                                             f"{opp.key} has {len(pending)} pending requests: name one")
    if outcome == "reject" and not (isinstance(item.get("reason"), str) and item["reason"].strip()):
        errors[f"{path}.reason"] = "a rejection needs a reason"
    follow_ups = []
    raw_follow_ups = item.get("follow_ups") or []
    if not isinstance(raw_follow_ups, list):
        errors[f"{path}.follow_ups"] = "must be a list"
        raw_follow_ups = []
    for j, raw in enumerate(raw_follow_ups):
        checked = _check_follow_up(session, raw, f"{path}.follow_ups[{j}]", errors)
        if checked:
            follow_ups.append(checked)
    if opp is None and request is not None:
        opp = request.opportunity
    return {"text": (text or "").strip(), "outcome": outcome, "opportunity": opp, "request": request,
            "reason": (item.get("reason") or "").strip() or None, "follow_ups": follow_ups}


def _already_taken(d: dict[str, Any]) -> bool:
    """A decision the meeting took already (say the lead approved in Slack during the review): the minutes record it,
    naming who took it, instead of deciding the request a second time."""
    request: ApprovalRequest = d["request"]
    wanted = {"approve": ("approved", "approve"), "reject": ("rejected", "reject")}[d["outcome"]]
    if request is None or request.status != wanted[0]:
        return False
    deciders = [v.person_id for v in request.votes if v.decision == wanted[1]]
    d["taken_by"] = deciders[-1] if deciders else None
    return d["taken_by"] is not None


def _precheck_decider(session: Session, actor: Actor, request: ApprovalRequest, outcome: str, path: str,
                      errors: dict[str, str]) -> None:
    """Refuse up front, before anything is written, a decision the lifecycle engine would refuse: the same decision
    rights it enforces (govern.queries.rights: the permission table and the request's approval rule), and, for an
    approval that completes the rule, the transition's guards as they stand now."""
    if request.status != "pending":
        errors[f"{path}.request"] = f"request #{request.id} is already {request.status}"
        return
    decision = "approve" if outcome == "approve" else "reject"
    status = lifecycle.approval_status(session, request)
    refusal = decision_refusal(actor, request, status, decision)
    if refusal is not None:
        message = refusal.message
        if actor.person_id is None:
            message += "; the approver records this decision"
        error = Conflict if refusal.conflict else PermissionDenied
        raise error(message, {f"{path}.request": message, "waiting_for": status.waiting_for()})
    if decision == "approve":
        unmet = lifecycle.unmet_guards_if_approved(session, request, actor)
        if unmet:
            errors[f"{path}.request"] = (f"approving request #{request.id} would complete it, but "
                                         f"{request.opportunity.key} does not meet its guards: " + "; ".join(unmet))


def _apply_to_request(session: Session, actor: Actor, request: ApprovalRequest, outcome: str, reason: str) -> None:
    """Approve or reject through the lifecycle engine's own service, with its permissions and rules, inside the
    meeting's transaction (no commit: the caller commits everything once, or rolls it all back)."""
    if outcome == "approve":
        lifecycle.approve_request(session, actor, request.id, reason=reason, commit=False)
    else:
        lifecycle.reject_request(session, actor, request.id, reason=reason, commit=False)


def hold_ritual(
    session: Session,
    actor: Actor,
    occurrence_id: int,
    *,
    attendance: Mapping[str, bool] | Sequence[str] | None = None,
    notes: str | None = None,
    decisions: Sequence[Any] = (),
    follow_ups: Sequence[Any] = (),
    now: dt.datetime | None = None,
) -> RitualOccurrence:
    """Record that an occurrence was held: attendance, notes, decisions and follow-ups. Call again to add to them.

    A decision with outcome ``approve`` or ``reject`` decides a pending request through the lifecycle engine's own
    service, as the actor, with its permissions (a manager cannot approve what only the lead may). Every input and
    every such permission is checked before anything is written. Everything — minutes, every decision with the
    approval or rejection it takes, every follow-up — is one transaction: all of it is saved, or none of it.
    Notes that change are versioned (`minutes_version`): editing the minutes after the meeting keeps the earlier text.
    `occurrence_id` is an id or an `At(ritual, time)` (recorded by this write if it was not yet).
    """
    actor.require("ritual.record")
    now = as_utc(now or now_utc())
    occurrence = writable_occurrence(session, occurrence_id)
    ritual = occurrence.ritual
    if occurrence.status in ("skipped", "cancelled"):
        raise Conflict(f"the {ritual.name} of {_local(ritual, occurrence)} was {occurrence.status}; "
                       "it cannot be held", {"status": occurrence.status})
    if effective_at(occurrence) - now > dt.timedelta(days=1):
        raise InvalidInput(f"the {ritual.name} of {_local(ritual, occurrence)} has not happened yet",
                           {"occurrence": "in the future"})
    errors: dict[str, str] = {}
    present: dict[Person, bool] = {}
    if attendance is not None:
        pairs = attendance.items() if isinstance(attendance, Mapping) else ((h, True) for h in attendance)
        for handle, here in pairs:
            try:
                present[get_person(session, handle)] = bool(here)
            except NotFound:
                errors[f"attendance.{handle}"] = f"unknown person '{handle}'"
    checked_decisions = [d for i, item in enumerate(decisions)
                         if (d := _check_decision(session, item, f"decisions[{i}]", errors))]
    checked_follow_ups = [f for i, item in enumerate(follow_ups)
                          if (f := _check_follow_up(session, item, f"follow_ups[{i}]", errors))]
    for i, d in enumerate(checked_decisions):
        request = d["request"]
        if d["outcome"] in ("approve", "reject") and request is not None and not made_before_it_ended(occurrence,
                                                                                                      request):
            errors[f"decisions[{i}].request"] = (
                f"request #{request.id} ({request.opportunity.key}) was made on "
                f"{_local_time(ritual, request.created_at)}, after the {ritual.name} of {_local(ritual, occurrence)} "
                f"ended; a meeting decides only what was asked before it ended (decide it at a later meeting or "
                f"in the approvals inbox)")
    if errors:
        raise InvalidInput("the minutes have " + (f"{len(errors)} problems" if len(errors) > 1 else "a problem")
                           + ": " + "; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    for i, d in enumerate(checked_decisions):
        if d["outcome"] in ("approve", "reject") and _already_taken(d):
            continue
        if d["outcome"] in ("approve", "reject"):
            _precheck_decider(session, actor, d["request"], d["outcome"], f"decisions[{i}]", errors)
    if errors:
        raise Conflict("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)

    before = occurrence_snapshot(occurrence)
    if occurrence.agenda is None:
        # Freeze what was on the table: the minutes are read later against this agenda, not today's data.
        occurrence.agenda = agenda_mod.build_agenda(session, ritual, as_utc(occurrence.scheduled_at), now=now,
                                                    occurrence_id=occurrence.id)
        occurrence.agenda_built_at = naive(now)
    occurrence.status = "held"
    occurrence.held_at = occurrence.held_at or naive(now)
    occurrence.recorded_by_id = actor.person_id
    if notes is not None:
        new_notes = notes.strip() or None
        if new_notes != occurrence.notes:
            _keep_minutes_version(session, actor, occurrence, new_notes, now=now)
        occurrence.notes = new_notes
    if attendance is not None:
        occurrence.attendance.clear()
        session.flush()
        for person, here in present.items():
            occurrence.attendance.append(Attendance(person=person, present=here))
    for decision in checked_decisions:
        _record_decision(session, actor, occurrence, decision)
    for follow_up in checked_follow_ups:
        _record_follow_up(session, actor, occurrence, follow_up, decision=None)
    session.flush()
    audit.record(session, actor, "ritual.held", "ritual_occurrence", occurrence.id, before=before,
                 after=occurrence_snapshot(occurrence))
    deciding = [d for d in checked_decisions if d["outcome"] in ("approve", "reject") and not d.get("taken_by")]
    for n, decision in enumerate(deciding):
        try:
            _apply_to_request(session, actor, decision["request"], decision["outcome"],
                              decision["reason"] or decision["text"])
        except GovernError as exc:
            session.rollback()
            raise type(exc)(f"nothing was saved: decision {n + 1} of {len(deciding)} "
                            f"({decision['request'].opportunity.key}) was refused: {exc.message}",
                            exc.details) from None
    occurrence_pk = occurrence.id
    session.commit()
    return session.get(RitualOccurrence, occurrence_pk, populate_existing=True)


def _keep_minutes_version(session: Session, actor: Actor, occurrence: RitualOccurrence, text: str | None, *,
                          now: dt.datetime) -> MinutesVersion:
    """A new version of the notes (the earlier ones stay); no commit."""
    if occurrence.notes is not None and not session.scalar(
            sa.select(sa.func.count()).select_from(MinutesVersion)
            .where(MinutesVersion.occurrence_id == occurrence.id)):
        # notes written before versions were kept: the first version is the text as it stood
        session.add(MinutesVersion(occurrence_id=occurrence.id, version=1, notes=occurrence.notes,
                                   recorded_by_id=occurrence.recorded_by_id, recorded_at=occurrence.held_at or naive(now)))
        session.flush()
    number = (session.scalar(sa.select(sa.func.max(MinutesVersion.version))
                             .where(MinutesVersion.occurrence_id == occurrence.id)) or 0) + 1
    version = MinutesVersion(occurrence_id=occurrence.id, version=number, notes=text,
                             recorded_by_id=actor.person_id, recorded_at=naive(now))
    session.add(version)
    session.flush()
    if number > 1:
        audit.record(session, actor, "ritual.minutes_edited", "ritual_occurrence", occurrence.id,
                     before={"notes": occurrence.notes}, after={"notes": text, "version": number})
    return version


def minutes_versions(session: Session, actor: Actor, occurrence_id: int) -> list[MinutesVersion]:
    """Every text the notes of an occurrence have had, oldest first."""
    actor.require("read")
    return list(session.scalars(sa.select(MinutesVersion).where(MinutesVersion.occurrence_id == occurrence_id)
                                .order_by(MinutesVersion.version)))


def _record_decision(session: Session, actor: Actor, occurrence: RitualOccurrence, d: dict[str, Any]) -> Decision:
    request: ApprovalRequest | None = d["request"]
    decision = Decision(
        occurrence_id=occurrence.id, text=d["text"],
        opportunity_id=d["opportunity"].id if d["opportunity"] is not None else None,
        approval_request_id=request.id if request is not None else None,
        outcome={"approve": "approved", "reject": "rejected"}.get(d["outcome"], d["outcome"]),
        decided_by_id=d.get("taken_by") or actor.person_id, created_at=utcnow())
    session.add(decision)
    session.flush()
    audit.record(session, actor, "ritual.decision", "decision", decision.id,
                 after={"occurrence": occurrence.id, "ritual": occurrence.ritual.key, "text": decision.text,
                        "opportunity": d["opportunity"].key if d["opportunity"] is not None else None,
                        "request": decision.approval_request_id, "outcome": decision.outcome},
                 reason=d["reason"])
    for follow_up in d["follow_ups"]:
        _record_follow_up(session, actor, occurrence, follow_up, decision=decision)
    return decision


def _record_follow_up(session: Session, actor: Actor, occurrence: RitualOccurrence, f: dict[str, Any], *,
                      decision: Decision | None) -> FollowUp:
    follow_up = FollowUp(decision_id=decision.id if decision else None, occurrence_id=occurrence.id,
                         text=f["text"], owner=f["owner"], due_on=f["due_on"], created_at=utcnow())
    session.add(follow_up)
    session.flush()
    audit.record(session, actor, "ritual.follow_up", "follow_up", follow_up.id,
                 after={"text": follow_up.text, "owner": f["owner"].handle if f["owner"] else None,
                        "due_on": f["due_on"], "decision": follow_up.decision_id, "occurrence": occurrence.id})
    return follow_up


def record_decision(session: Session, actor: Actor, occurrence_id: int, decision: Mapping[str, Any], *,
                    now: dt.datetime | None = None) -> Decision:
    """Add one decision (with its follow-ups) to the minutes of an occurrence, holding it if not yet held."""
    occurrence = hold_ritual(session, actor, occurrence_id, decisions=[decision], now=now)  # id or At
    return session.scalars(sa.select(Decision).where(Decision.occurrence_id == occurrence.id)
                           .order_by(Decision.id.desc()).limit(1)).one()


def add_follow_up(session: Session, actor: Actor, occurrence_id: int, *, text: str, owner: str, due_on: Any,
                  decision_id: int | None = None) -> FollowUp:
    actor.require("ritual.record")
    occurrence = writable_occurrence(session, occurrence_id)
    errors: dict[str, str] = {}
    checked = _check_follow_up(session, {"text": text, "owner": owner, "due_on": due_on}, "follow_up", errors)
    decision = None
    if decision_id is not None:
        decision = _row(session, Decision, decision_id)
        if decision is None or decision.occurrence_id != occurrence.id:
            errors["follow_up.decision"] = f"decision {decision_id} is not in these minutes"
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    follow_up = _record_follow_up(session, actor, occurrence, checked, decision=decision)
    session.commit()
    return follow_up


def complete_follow_up(session: Session, actor: Actor, follow_up_id: int, *,
                       now: dt.datetime | None = None) -> FollowUp:
    """Mark a follow-up done: its owner may, and so may whoever records rituals."""
    follow_up = _row(session, FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(f"unknown follow-up {follow_up_id}", {"follow_up": follow_up_id})
    if not (actor.person_id is not None and actor.person_id == follow_up.owner_id):
        actor.require("ritual.record")
    if follow_up.done_at is not None:
        raise Conflict(f"follow-up {follow_up_id} was already done on {follow_up.done_at:%Y-%m-%d}",
                       {"done_at": iso(follow_up.done_at)})
    follow_up.done_at = naive(as_utc(now or now_utc()))
    audit.record(session, actor, "ritual.follow_up_done", "follow_up", follow_up.id,
                 after={"done_at": follow_up.done_at})
    session.commit()
    return follow_up


def open_follow_ups(session: Session, actor: Actor, *, owner: str | None = None,
                    ritual: str | None = None) -> list[FollowUp]:
    actor.require("read")
    query = sa.select(FollowUp).where(FollowUp.done_at.is_(None)).order_by(
        FollowUp.due_on.is_(None), FollowUp.due_on, FollowUp.id)
    if owner:
        query = query.where(FollowUp.owner_id == get_person(session, owner).id)
    if ritual:
        r = get_ritual(session, ritual)
        query = query.where(FollowUp.occurrence_id.in_(
            sa.select(RitualOccurrence.id).where(RitualOccurrence.ritual_id == r.id)))
    return list(session.scalars(query))


def minutes(session: Session, actor: Actor, occurrence_id: int) -> dict[str, Any]:
    """The record of an occurrence: status, attendance, notes, decisions with their follow-ups."""
    actor.require("read")
    occurrence = get_occurrence(session, occurrence_id)
    decisions = list(session.scalars(sa.select(Decision).where(Decision.occurrence_id == occurrence.id)
                                     .order_by(Decision.id)))
    follow_ups = list(session.scalars(sa.select(FollowUp).where(FollowUp.occurrence_id == occurrence.id)
                                      .order_by(FollowUp.id)))
    return {
        "occurrence": occurrence_dict(occurrence),
        "attendance": [{"person": a.person.handle, "present": a.present} for a in occurrence.attendance],
        "notes": occurrence.notes,
        "decisions": [decision_dict(session, d, [f for f in follow_ups if f.decision_id == d.id])
                      for d in decisions],
        "follow_ups": [follow_up_dict(f) for f in follow_ups if f.decision_id is None],
    }


def occurrence_dict(o: RitualOccurrence) -> dict[str, Any]:
    ritual = o.ritual
    return {"id": o.id, "ritual": ritual.key, "ritual_name": ritual.name, "scheduled_at": iso(o.scheduled_at),
            "local_time": _local(ritual, o), "status": o.status, "agenda_built_at": iso(o.agenda_built_at),
            "agenda_posted_at": iso(o.agenda_posted_at), "held_at": iso(o.held_at), "fired_by": o.fired_by,
            "moved_to": iso(o.moved_to), "status_reason": o.status_reason}


def decision_dict(session: Session, d: Decision, follow_ups: Iterable[FollowUp]) -> dict[str, Any]:
    opp = session.get(ApprovalRequest, d.approval_request_id).opportunity if d.approval_request_id else None
    if d.opportunity_id:
        opp = session.get(Opportunity, d.opportunity_id)
    decided_by = session.get(Person, d.decided_by_id) if d.decided_by_id else None
    return {"id": d.id, "text": d.text, "outcome": d.outcome, "opportunity": opp.key if opp else None,
            "request": d.approval_request_id, "decided_by": decided_by.handle if decided_by else None,
            "at": iso(d.created_at), "follow_ups": [follow_up_dict(f) for f in follow_ups]}


def follow_up_dict(f: FollowUp) -> dict[str, Any]:
    return {"id": f.id, "text": f.text, "owner": f.owner.handle if f.owner else None,
            "due_on": f.due_on.isoformat() if f.due_on else None, "done_at": iso(f.done_at),
            "decision": f.decision_id, "occurrence": f.occurrence_id}


# --- skip and cancel -------------------------------------------------------------------------------------------------


def _set_status(session: Session, actor: Actor, occurrence_id: int | At, status: str,
                reason: str | None) -> RitualOccurrence:
    actor.require("ritual.record")
    occurrence = writable_occurrence(session, occurrence_id)
    ritual = occurrence.ritual
    if occurrence.status == status:
        raise Conflict(f"the {ritual.name} of {_local(ritual, occurrence)} is already {status}", {"status": status})
    if occurrence.status == "held":
        raise Conflict(f"the {ritual.name} of {_local(ritual, occurrence)} was held; its minutes stay",
                       {"status": "held"})
    before = occurrence_snapshot(occurrence)
    occurrence.status = status
    occurrence.status_reason = reason.strip() if reason and reason.strip() else None
    occurrence.recorded_by_id = actor.person_id
    audit.record(session, actor, f"ritual.{status}", "ritual_occurrence", occurrence.id, before=before,
                 after=occurrence_snapshot(occurrence), reason=reason)
    occurrence_pk = occurrence.id
    session.commit()
    return session.get(RitualOccurrence, occurrence_pk)


def skip_occurrence(session: Session, actor: Actor, occurrence_id: int | At, *,
                    reason: str | None = None) -> RitualOccurrence:
    """The council decided not to meet this time (nothing to discuss, most are away); no agenda is posted."""
    return _set_status(session, actor, occurrence_id, "skipped", reason)


def cancel_occurrence(session: Session, actor: Actor, occurrence_id: int | At, *,
                      reason: str | None = None) -> RitualOccurrence:
    """The meeting is called off (a public holiday, an off-site); calendars show it cancelled."""
    return _set_status(session, actor, occurrence_id, "cancelled", reason)


def reinstate_occurrence(session: Session, actor: Actor, occurrence_id: int | At) -> RitualOccurrence:
    """Undo a skip or cancel (back to planned); the agenda is posted if its time has not passed."""
    return _set_status(session, actor, occurrence_id, "planned", None)


def move_occurrence(session: Session, actor: Actor, occurrence_id: int | At, *, to: str | dt.datetime,
                    reason: str, now: dt.datetime | None = None) -> RitualOccurrence:
    """Meet at another time this once (a reason is required); the calendar feed shows the new time and the reason.

    The occurrence keeps its cadence slot (its key); the agenda is posted ahead of the new time."""
    actor.require("ritual.record")
    now = as_utc(now or now_utc())
    occurrence = writable_occurrence(session, occurrence_id)
    ritual = occurrence.ritual
    errors: dict[str, str] = {}
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = "say why the meeting moves"
    try:
        new_at = parse_when(to, ritual)
    except InvalidInput as exc:
        errors["to"] = exc.message
        new_at = None
    if new_at is not None and new_at <= now:
        errors["to"] = "a meeting can only be moved to a time still to come"
    if errors:
        raise InvalidInput("the move has " + ("problems" if len(errors) > 1 else "a problem") + ": "
                           + "; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    if occurrence.status != "planned":
        raise Conflict(f"the {ritual.name} of {_local(ritual, occurrence)} is {occurrence.status}; only a planned "
                       "meeting moves", {"status": occurrence.status})
    if effective_at(occurrence) <= now:
        raise Conflict(f"the {ritual.name} of {_local(ritual, occurrence)} has begun; it cannot move",
                       {"occurrence": "begun"})
    before = occurrence_snapshot(occurrence)
    occurrence.moved_to = None if new_at == as_utc(occurrence.scheduled_at) else naive(new_at)
    occurrence.status_reason = reason.strip()
    occurrence.recorded_by_id = actor.person_id
    audit.record(session, actor, "ritual.moved", "ritual_occurrence", occurrence.id, before=before,
                 after=occurrence_snapshot(occurrence), reason=reason.strip())
    occurrence_pk = occurrence.id
    session.commit()
    return session.get(RitualOccurrence, occurrence_pk)


def add_agenda_item(session: Session, actor: Actor, occurrence_id: int | At, *, text: str,
                    now: dt.datetime | None = None) -> AgendaItem:
    """Put a point on an occurrence's agenda before the meeting (whoever records rituals, or attends as a council
    member with `ritual.record`); shown in the agenda's "Added to the agenda" section."""
    actor.require("ritual.record")
    now = as_utc(now or now_utc())
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("agenda item: say what to discuss", {"text": "required"})
    if len(text.strip()) > 2000:
        raise InvalidInput("agenda item: at most 2000 characters", {"text": "too long"})
    occurrence = writable_occurrence(session, occurrence_id)
    ritual = occurrence.ritual
    if occurrence.status != "planned" or effective_at(occurrence) + dt.timedelta(
            minutes=ritual.duration_minutes) <= now:
        raise Conflict(f"the {ritual.name} of {_local(ritual, occurrence)} is over (or {occurrence.status}); "
                       "add the item to the next one", {"status": occurrence.status})
    item = AgendaItem(occurrence_id=occurrence.id, text=text.strip(), added_by_id=actor.person_id,
                      created_at=naive(now))
    session.add(item)
    session.flush()
    audit.record(session, actor, "ritual.agenda_item", "ritual_occurrence", occurrence.id,
                 after={"text": item.text, "item": item.id})
    session.commit()
    return item


def agenda_items(session: Session, occurrence_id: int | None) -> list[AgendaItem]:
    if occurrence_id is None:
        return []
    return list(session.scalars(sa.select(AgendaItem).where(AgendaItem.occurrence_id == occurrence_id)
                                .order_by(AgendaItem.id)))


# --- calendars -------------------------------------------------------------------------------------------------------


def hash_calendar_secret(secret: str) -> str:
    return hashlib.sha256(f"govern-calendar:{secret}".encode()).hexdigest()


@dataclass(frozen=True)
class IssuedCalendarToken:
    token: CalendarToken
    secret: str  # shown once; only its hash is stored

    @property
    def path(self) -> str:
        return f"/calendar/{self.secret}.ics"


def create_calendar_token(session: Session, actor: Actor, *, ritual: str | None = None,
                          person: str | None = None) -> IssuedCalendarToken:
    """A revocable feed token for one ritual or for one person's rituals (your own; others need person.manage)."""
    if (ritual is None) == (person is None):
        raise InvalidInput("a calendar feed is for one ritual or for one person", {"feed": "ritual or person"})
    token = CalendarToken(created_at=utcnow())
    if ritual is not None:
        actor.require("read")
        token.ritual_id = get_ritual(session, ritual).id
    else:
        target = get_person(session, person)
        if target.id != actor.person_id:
            actor.require("person.manage")
        token.person_id = target.id
    secret = secrets.token_urlsafe(32)
    token.token_hash = hash_calendar_secret(secret)
    session.add(token)
    session.flush()
    audit.record(session, actor, "calendar_token.created", "calendar_token", token.id,
                 after={"ritual": ritual, "person": person})
    session.commit()
    return IssuedCalendarToken(token, secret)


def revoke_calendar_token(session: Session, actor: Actor, token_id: int) -> CalendarToken:
    token = _row(session, CalendarToken, token_id)
    if token is None:
        raise NotFound(f"unknown calendar token {token_id}", {"token": token_id})
    if token.person_id is not None and token.person_id == actor.person_id:
        pass  # your own feed
    elif token.person_id is not None:
        actor.require("person.manage")
    else:
        actor.require("ritual.manage")
    if token.revoked_at is not None:
        raise Conflict(f"calendar token {token_id} was already revoked", {"revoked_at": iso(token.revoked_at)})
    token.revoked_at = utcnow()
    audit.record(session, actor, "calendar_token.revoked", "calendar_token", token.id)
    session.commit()
    return token


def list_calendar_tokens(session: Session, actor: Actor) -> list[CalendarToken]:
    """Your own feed tokens, and (for those who manage rituals) every ritual feed token."""
    actor.require("read")
    clauses = []
    if actor.person_id is not None:
        clauses.append(CalendarToken.person_id == actor.person_id)
    if actor.can("ritual.manage"):
        clauses.append(CalendarToken.ritual_id.is_not(None))
    if actor.can("person.manage"):
        clauses.append(CalendarToken.person_id.is_not(None))
    if not clauses:
        return []
    return list(session.scalars(sa.select(CalendarToken).where(sa.or_(*clauses)).order_by(CalendarToken.id)))


def rituals_attended_by(session: Session, person: Person) -> list[Ritual]:
    seats = [(s.role, s.journey_id) for s in session.scalars(
        sa.select(CouncilSeat).where(CouncilSeat.person_id == person.id))]
    owned = set(session.scalars(sa.select(Journey.id).where(Journey.owner_id == person.id)))
    out = []
    for ritual in session.scalars(sa.select(Ritual).where(Ritual.active.is_(True)).order_by(Ritual.key)):
        if calendar_mod.attends(attendee_roles=ritual.attendee_roles or [],
                                attendee_people=ritual.attendee_people or [],
                                scope_journey_ids=agenda_mod.scope_journey_ids(session, ritual),
                                handle=person.handle, seats=seats, owned_journey_ids=owned):
            out.append(ritual)
    return out


def calendar_feed(session: Session, secret: str, *, now: dt.datetime | None = None,
                  base_url: str | None = None) -> tuple[str, bytes]:
    """(file name, iCalendar bytes) for a feed token; NotFound for an unknown or revoked one (no hint which)."""
    now = as_utc(now or now_utc())
    token = session.scalar(sa.select(CalendarToken).where(CalendarToken.token_hash == hash_calendar_secret(secret)))
    if token is None or token.revoked_at is not None:
        raise NotFound("unknown calendar feed", {"token": "unknown or revoked"})
    if token.ritual_id is not None:
        rituals = [session.get(Ritual, token.ritual_id)]
        name, filename = rituals[0].name, f"{rituals[0].key}.ics"
    else:
        person = session.get(Person, token.person_id)
        rituals = rituals_attended_by(session, person) if person.active else []
        name, filename = f"Rituals of {person.name}", f"{person.handle}-rituals.ics"
    start, end = now - calendar_mod.DEFAULT_PAST, now + calendar_mod.DEFAULT_FUTURE
    events: list[calendar_mod.FeedEvent] = []
    for ritual in rituals:
        rows = session.execute(
            sa.select(RitualOccurrence.scheduled_at, RitualOccurrence.status, RitualOccurrence.moved_to,
                      RitualOccurrence.status_reason)
            .where(RitualOccurrence.ritual_id == ritual.id, RitualOccurrence.scheduled_at >= naive(start),
                   RitualOccurrence.scheduled_at < naive(end))).all()
        statuses = {as_utc(at): status for at, status, _, _ in rows}
        changes = {as_utc(at): calendar_mod.Change(as_utc(moved) if moved else None, reason)
                   for at, _, moved, reason in rows if moved or reason}
        events += calendar_mod.ritual_events(ritual, start, end, statuses=statuses, changes=changes,
                                             agenda_url=_occurrence_link(base_url, ritual))
    return filename, calendar_mod.build_feed(name, events, stamp=now)


def _occurrence_link(base_url: str | None, ritual: Ritual) -> Callable[[dt.datetime], str] | None:
    """The web page of an occurrence (its agenda and minutes), for the URL of a calendar event."""
    if not base_url:
        return None
    return lambda at: f"{base_url.rstrip('/')}/rituals/{ritual.key}/at/{iso(at)}"
