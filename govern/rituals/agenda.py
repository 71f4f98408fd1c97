"""Agendas: built from live data for a ritual's scope, as JSON (the stored form), Markdown and Slack blocks.

Sections (a ritual lists the ones it wants; none listed means all):

* ``approvals``        requests awaiting a decision on opportunities touching the scope, oldest first, with the
                       approval rule and, when the opportunity has one, its score and rank;
* ``stale``            opportunities in an open state (kind active or evaluation in the lifecycle definition) on which
                       nothing happened (no change, evidence, request or decision: govern.queries.activity) for
                       ``stale_after_days``;
* ``kpis``             KPIs of the scope whose latest measurement moved since the last occurrence (beyond the
                       scale's tolerance, see govern.kpis), misses its target, or is stale (older than its cadence:
                       govern.queries.freshness);
* ``evaluations_due``  opportunities due for evaluation (govern.queries.evaluations: the date the lifecycle's
                       ``schedule_evaluation`` effect wrote on the opportunity has come, or it sits in a state of
                       kind evaluation with nothing scheduled) whose KPI outcome is not recorded yet;
* ``ownership_gaps``   journeys of the scope without an (active) owner;
* ``follow_ups``       the decisions of the last held occurrence, and every follow-up of this ritual not yet done.

Besides the sections, ``added`` lists the points people put on this occurrence's agenda before the meeting (``id``,
``text``, ``added_by`` as a name, ``added_at``), read live so an item added after the agenda was posted is there too.

Each item is a dict with a ``text`` line (what people read) and the references behind it (``ref`` such as OPP-7,
ids), so that the UI and Slack can link and act on it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from govern.escaping import markdown_inline
from govern.kpis import KpiScale, evaluate, verdict_words
from govern.queries.freshness import freshness_of
from govern.model import (
    AgendaItem, Decision, FollowUp, Journey, Kpi, KpiMeasurement, Opportunity, Person, Ritual, RitualOccurrence, Step,
)
from govern.queries.activity import stale_opportunities
from govern.queries.evaluations import due_evaluations
from govern.queries.portfolio import touching_journeys
from govern.queries.reference import reference
from govern.queries.requests import pending_requests
from govern.queries.states import state_catalog
from govern.scoring import rank_portfolio
from govern.services.common import journey_subtree_ids
from govern.rituals.cadence import UTC, CadenceError, as_utc, occurrences_between, zone
from govern.vocabulary import vocabulary_of
from govern.rituals.config import AGENDA_SECTION_TITLES, AGENDA_SECTIONS, DEFAULT_STALE_AFTER_DAYS
from govern.workflows.approvals import describe_rule

log = logging.getLogger(__name__)

AGENDA_FORMAT = 1
PREVIOUS_LOOK_BACK = dt.timedelta(days=400)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """How the database stores times: naive UTC."""
    return as_utc(value).replace(tzinfo=None)


def scope_journey_ids(session: Session, ritual: Ritual) -> set[int] | None:
    """The journeys a ritual covers; None for the whole council."""
    if ritual.scope_kind == "council" or ritual.scope_journey_id is None:
        return None
    if ritual.scope_kind == "journey":
        return {ritual.scope_journey_id}
    return journey_subtree_ids(session, ritual.scope_journey_id)


def scope_label(session: Session, ritual: Ritual) -> str:
    if ritual.scope_kind == "council" or ritual.scope_journey is None:
        return "the whole council"
    if ritual.scope_kind == "journey":
        return f"journey {ritual.scope_journey.name}"
    return f"{ritual.scope_journey.name} and the journeys below it"


def sections_of(ritual: Ritual) -> list[str]:
    wanted = [s for s in (ritual.agenda_sections or []) if s in AGENDA_SECTIONS]
    return wanted or list(AGENDA_SECTIONS)


def _opportunities_in_scope(query: sa.Select, scope: set[int] | None) -> sa.Select:
    return query if scope is None else query.where(Opportunity.id.in_(touching_journeys(scope)))


def _person_label(row: Any, person_id_attr: str) -> str:
    """The name of the person `row.<person_id_attr>` names, from the transaction's reference snapshot (one read for
    the whole agenda, not one per row); "nobody" for none."""
    person_id = getattr(row, person_id_attr)
    found = reference(object_session(row)).person(person_id) if person_id is not None else None
    return found.name if found is not None else "nobody"


def _date(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat()[:10] if value else None


# --- the sections -----------------------------------------------------------------------------------------------------


def approvals_section(session: Session, scope: set[int] | None, now: dt.datetime) -> list[dict[str, Any]]:
    requests = pending_requests(session, journey_ids=scope)
    scores = _scores(session, [r.opportunity for r in requests])
    states = state_catalog(session)
    items = []
    for request in requests:
        opp = request.opportunity
        rule = _rule_words(request.rule)
        requester = _person_label(request, "requested_by_id")
        score = scores.get(opp.id)
        score_text = ""
        if score:
            evidence = f", evidence strength {score['evidence']:.0f}/100" if score.get("evidence") is not None else ""
            score_text = f"; score {_num(score['value'])}{evidence} (rank {score['rank']})"
        items.append({
            "ref": opp.key, "request_id": request.id, "opportunity_id": opp.id, "title": opp.title,
            "from_state": request.from_state, "to_state": request.to_state, "trigger": request.trigger,
            "from_title": states.title_of(request.from_state), "to_title": states.title_of(request.to_state),
            "requested_by": requester, "requested_at": _date(request.created_at),
            "approvers": rule, "score": score["value"] if score else None, "rank": score["rank"] if score else None,
            "votes": [{"person": _person_label(v, "person_id"), "decision": v.decision} for v in request.votes],
            "text": (f"{opp.key} {opp.title}: {states.title_of(request.from_state)} → "
                     f"{states.title_of(request.to_state)}, requested by "
                     f"{requester} on {_date(request.created_at)}; needs {rule}{score_text}"),
        })
    return items


def _rule_words(rule: dict[str, Any] | None) -> str:
    if not rule:
        return "an approver"
    try:
        return describe_rule(rule)
    except Exception:  # noqa: BLE001 - a rule captured by an older definition still shows, in its raw form
        log.warning("agenda: approval rule %r cannot be described; shown raw", rule, exc_info=True)
        return ", ".join(f"{k}: {v}" for k, v in rule.items())


def _scores(session: Session, opportunities: Iterable[Opportunity]) -> dict[int, dict[str, Any]]:
    """{opportunity id: {value, rank, evidence}} from the organisation's scoring model (ranked over the portfolio)."""
    wanted = {o.number: o.id for o in opportunities}
    if not wanted:
        return {}
    try:
        ranked = rank_portfolio(session, explain=False)
    except Exception:  # noqa: BLE001 - a score helps the agenda; a scoring problem must never stop it being posted
        log.warning("agenda: the portfolio cannot be scored; the agenda goes out without scores", exc_info=True)
        return {}
    return {wanted[row["number"]]: {"value": row["score"], "rank": row["rank"],
                                    "evidence": row.get("evidence_strength")}
            for row in ranked if row["number"] in wanted and row["score"] is not None}


def stale_section(session: Session, scope: set[int] | None, now: dt.datetime, days: int) -> list[dict[str, Any]]:
    """Open opportunities of the scope on which nothing happened for `days` days (govern.queries.activity: no
    change, evidence, request or decision), idlest first."""
    states = state_catalog(session)
    query = sa.select(Opportunity).where(Opportunity.state.in_(states.open_states))
    items = []
    for opp, last in stale_opportunities(session, _opportunities_in_scope(query, scope), now=now, days=days):
        idle = (naive_utc(now) - last).days
        owner = _person_label(opp, "owner_id")
        items.append({
            "ref": opp.key, "opportunity_id": opp.id, "title": opp.title, "state": opp.state, "days": idle,
            "state_title": states.title_of(opp.state), "owner": owner,
            "text": (f"{opp.key} {opp.title}: nothing for {idle} days, in {states.title_of(opp.state)} "
                     f"(owner {owner})"),
        })
    return items


def kpis_section(session: Session, scope: set[int] | None, now: dt.datetime,
                 since: dt.datetime | None) -> list[dict[str, Any]]:
    query = sa.select(Kpi).order_by(Kpi.key)
    if scope is not None:
        step_journeys = sa.select(Step.id).where(Step.journey_id.in_(scope))
        query = query.where(sa.or_(Kpi.journey_id.in_(scope), Kpi.step_id.in_(step_journeys)))
    cutoff = naive_utc(now)
    since_naive = naive_utc(since) if since else None
    items = []
    kpis = session.scalars(query).all()
    freshness = freshness_of(session, kpis, now)  # one rule for stale KPIs (govern.queries.freshness)
    for kpi in kpis:
        fresh = freshness[kpi.id]
        points = session.execute(
            sa.select(KpiMeasurement.value, KpiMeasurement.measured_at)
            .where(KpiMeasurement.kpi_id == kpi.id, KpiMeasurement.measured_at <= cutoff)
            .order_by(KpiMeasurement.measured_at.desc()).limit(1)).first()
        if points is None:
            if fresh.stale:
                items.append({"ref": kpi.key, "kpi_id": kpi.id, "name": kpi.name, "value": None, "previous": None,
                              "measured_at": None, "verdict": None, "target": kpi.target, "target_met": None,
                              "stale": True, "text": f"{kpi.name}: {fresh.text}"})
            continue
        latest, latest_at = points
        scale = KpiScale.of(kpi)
        before = None
        if since_naive is not None and latest_at > since_naive:
            before = session.execute(
                sa.select(KpiMeasurement.value).where(KpiMeasurement.kpi_id == kpi.id,
                                                      KpiMeasurement.measured_at <= since_naive)
                .order_by(KpiMeasurement.measured_at.desc()).limit(1)).scalar()
        verdict = None
        moved = False
        if before is not None:
            # The verdict honours the target (target met; improved, target not met; …); whether it moved at all is
            # the same comparison without the target.
            verdict = evaluate(scale, before, latest).verdict
            moved = evaluate(dataclasses.replace(scale, target=None), before, latest).verdict != "no_change"
        target_met = scale.target_met(latest)
        if not moved and target_met is not False and not fresh.stale:
            continue
        unit = f" {kpi.unit}" if kpi.unit else ""
        if moved:
            text = f"{_num(before)} → {_num(latest)}{unit}, {verdict_words(verdict)}"
        else:
            text = f"now {_num(latest)}{unit}"
        if target_met is False:
            text += f" (target {_num(kpi.target)})" if verdict == "short_of_target" else (
                f" (target {_num(kpi.target)}: missed)")
        if fresh.stale:
            text += f" — {fresh.text}"
        items.append({
            "ref": kpi.key, "kpi_id": kpi.id, "name": kpi.name, "value": latest, "previous": before,
            "measured_at": _date(latest_at), "verdict": verdict, "target": kpi.target, "target_met": target_met,
            "stale": fresh.stale, "text": f"{kpi.name}: {text}",
        })
    return items


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def evaluations_section(session: Session, scope: set[int] | None, now: dt.datetime) -> list[dict[str, Any]]:
    items = []
    for due in due_evaluations(session, now=now, journey_ids=scope):
        opp = due.opportunity
        due_text = f" (due {due.due_at:%Y-%m-%d})" if due.due_at else ""
        items.append({
            "ref": opp.key, "opportunity_id": opp.id, "title": opp.title, "state": opp.state,
            "due_on": _date(due.due_at), "owner": _person_label(opp, "owner_id"),
            "text": f"{opp.key} {opp.title}: record the KPI outcome and the verdict{due_text}",
        })
    return items


def ownership_gaps_section(session: Session, scope: set[int] | None) -> list[dict[str, Any]]:
    query = (sa.select(Journey).outerjoin(Person, Journey.owner_id == Person.id)
             .where(sa.or_(Journey.owner_id.is_(None), Person.active.is_(False))).order_by(Journey.key))
    if scope is not None:
        query = query.where(Journey.id.in_(scope))
    items = []
    for journey in session.scalars(query):
        why = "has no owner" if journey.owner_id is None else f"is owned by {journey.owner.name}, who has left"
        items.append({"ref": journey.key, "journey_id": journey.id, "name": journey.name,
                      "text": f"{journey.name} ({journey.level}) {why}"})
    return items


def follow_ups_section(session: Session, ritual: Ritual, before: dt.datetime) -> list[dict[str, Any]]:
    before_naive = naive_utc(before)
    earlier = sa.select(RitualOccurrence.id).where(RitualOccurrence.ritual_id == ritual.id,
                                                   RitualOccurrence.scheduled_at < before_naive)
    last_held = session.scalar(
        sa.select(RitualOccurrence).where(RitualOccurrence.ritual_id == ritual.id, RitualOccurrence.status == "held",
                                          RitualOccurrence.scheduled_at < before_naive)
        .order_by(RitualOccurrence.scheduled_at.desc()).limit(1))
    items: list[dict[str, Any]] = []
    shown_follow_ups: set[int] = set()
    if last_held is not None:
        decisions = session.scalars(sa.select(Decision).where(Decision.occurrence_id == last_held.id)
                                    .order_by(Decision.id))
        for decision in decisions:
            follow_ups = list(session.scalars(sa.select(FollowUp).where(FollowUp.decision_id == decision.id)
                                              .order_by(FollowUp.id)))
            shown_follow_ups.update(f.id for f in follow_ups)
            items.append({
                "kind": "decision", "decision_id": decision.id, "outcome": decision.outcome,
                "decided_on": _date(decision.created_at),
                "follow_ups": [_follow_up_item(f) for f in follow_ups],
                "text": _decision_text(session, decision, follow_ups),
            })
    open_follow_ups = session.scalars(
        sa.select(FollowUp).where(FollowUp.occurrence_id.in_(earlier), FollowUp.done_at.is_(None))
        .order_by(FollowUp.due_on.is_(None), FollowUp.due_on, FollowUp.id))
    for follow_up in open_follow_ups:
        if follow_up.id not in shown_follow_ups:
            items.append({"kind": "follow_up", **_follow_up_item(follow_up)})
    return items


def _follow_up_item(f: FollowUp) -> dict[str, Any]:
    owner = _person_label(f, "owner_id")
    due = f", due {f.due_on.isoformat()}" if f.due_on else ""
    state = "done" if f.done_at else "open"
    return {"follow_up_id": f.id, "owner": owner, "due_on": _date(f.due_on), "done": f.done_at is not None,
            "text": f"{f.text} ({owner}{due}; {state})"}


def _decision_text(session: Session, decision: Decision, follow_ups: list[FollowUp]) -> str:
    ref = ""
    if decision.opportunity_id:
        opp = session.get(Opportunity, decision.opportunity_id)
        ref = f"{opp.key}: " if opp else ""
    outcome = f" [{decision.outcome}]" if decision.outcome else ""
    tail = ""
    if follow_ups:
        done = sum(1 for f in follow_ups if f.done_at)
        tail = f" — follow-ups {done}/{len(follow_ups)} done"
    return f"Decided: {ref}{decision.text}{outcome}{tail}"


# --- the whole agenda -------------------------------------------------------------------------------------------------


def added_items(session: Session, occurrence_id: int | None) -> list[dict[str, Any]]:
    """The points people put on this occurrence's agenda before the meeting (rituals.services.add_agenda_item), in
    the order they were added. Read live: an item may be added after the agenda was posted."""
    if occurrence_id is None:
        return []
    rows = session.execute(sa.select(AgendaItem, Person).outerjoin(Person, AgendaItem.added_by_id == Person.id)
                           .where(AgendaItem.occurrence_id == occurrence_id).order_by(AgendaItem.id)).all()
    return [{"id": item.id, "text": item.text, "added_by": person.name if person else None,
             "added_at": as_utc(item.created_at).astimezone(UTC).isoformat().replace("+00:00", "Z")}
            for item, person in rows]


def previous_occurrence_time(session: Session, ritual: Ritual, scheduled_at: dt.datetime) -> dt.datetime | None:
    """When this ritual last met (or was due to) before `scheduled_at`, cancelled and skipped ones aside; for a
    ritual with no history yet, the cadence's previous time (so "since last time" means one period)."""
    value = session.scalar(
        sa.select(sa.func.max(RitualOccurrence.scheduled_at))
        .where(RitualOccurrence.ritual_id == ritual.id, RitualOccurrence.scheduled_at < naive_utc(scheduled_at),
               RitualOccurrence.status.in_(("held", "planned", "missed"))))
    if value:
        return as_utc(value)
    try:
        earlier = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                      scheduled_at - PREVIOUS_LOOK_BACK, scheduled_at)
    except CadenceError:
        return None
    return earlier[-1] if earlier else None


def build_agenda(session: Session, ritual: Ritual, scheduled_at: dt.datetime, *, now: dt.datetime,
                 occurrence_id: int | None = None) -> dict[str, Any]:
    """The agenda of one occurrence from the data as it is at `now` (JSON-ready)."""
    scheduled_at = as_utc(scheduled_at)
    scope = scope_journey_ids(session, ritual)
    settings = ritual.settings or {}
    stale_days = int(settings.get("stale_after_days") or DEFAULT_STALE_AFTER_DAYS)
    since = previous_occurrence_time(session, ritual, scheduled_at)
    sections = []
    for key in sections_of(ritual):
        if key == "approvals":
            items = approvals_section(session, scope, now)
        elif key == "stale":
            items = stale_section(session, scope, now, stale_days)
        elif key == "kpis":
            items = kpis_section(session, scope, now, since)
        elif key == "evaluations_due":
            items = evaluations_section(session, scope, now)
        elif key == "ownership_gaps":
            items = ownership_gaps_section(session, scope)
        else:
            items = follow_ups_section(session, ritual, scheduled_at)
        sections.append({"key": key, "title": vocabulary_of(session).fill(AGENDA_SECTION_TITLES[key]),
                         "items": items})
    local = scheduled_at.astimezone(zone(ritual.timezone))
    return {
        "format": AGENDA_FORMAT,
        "ritual": {"key": ritual.key, "name": ritual.name, "purpose": ritual.purpose,
                   "piggyback_on": ritual.piggyback_on, "slack_channel": ritual.slack_channel,
                   "duration_minutes": ritual.duration_minutes, "timezone": ritual.timezone},
        "occurrence_id": occurrence_id,
        "scheduled_at": scheduled_at.isoformat().replace("+00:00", "Z"),
        "local_time": local.strftime("%A %d %B %Y, %H:%M %Z"),
        "scope": {"kind": ritual.scope_kind, "journey": ritual.scope_journey.key if ritual.scope_journey else None,
                  "label": scope_label(session, ritual)},
        "since": since.isoformat().replace("+00:00", "Z") if since else None,
        "stale_after_days": stale_days,
        "built_at": as_utc(now).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "sections": sections,
        "added": added_items(session, occurrence_id),
    }


# --- renderings -------------------------------------------------------------------------------------------------------


def to_markdown(agenda: dict[str, Any]) -> str:
    ritual = agenda["ritual"]
    lines = [f"# {_md_escape(ritual['name'])} — {_md_escape(agenda['local_time'])}", ""]
    if ritual.get("purpose"):
        lines += [_md_escape(ritual["purpose"].strip()), ""]
    lines.append(f"Scope: {_md_escape(agenda['scope']['label'])}.")
    if ritual.get("piggyback_on"):
        lines.append(f"Held during the {_md_escape(ritual['piggyback_on'])}.")
    lines.append("")
    for section in agenda["sections"]:
        lines += [f"## {_md_escape(section['title'])}", ""]
        if not section["items"]:
            lines.append("_Nothing._")
        for item in section["items"]:
            lines.append(f"- {_md_escape(item['text'])}")
            for follow_up in item.get("follow_ups") or []:
                lines.append(f"  - {_md_escape(follow_up['text'])}")
        lines.append("")
    if agenda.get("added"):
        lines += ["## Added to the agenda", ""]
        for item in agenda["added"]:
            by = f" (added by {_md_escape(item['added_by'])})" if item.get("added_by") else ""
            lines.append(f"- {_md_escape(item['text'])}{by}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_md_escape = markdown_inline


def summary_text(agenda: dict[str, Any]) -> str:
    """One line saying what is on the agenda (a chat message's plain-text fallback, screen readers)."""
    counts = ", ".join([f"{len(s['items'])} {s['title'].lower()}" for s in agenda["sections"] if s["items"]]
                       + ([f"{len(agenda['added'])} added to the agenda"] if agenda.get("added") else []))
    return f"Agenda for {agenda['ritual']['name']} ({agenda['local_time']}): {counts or 'nothing to discuss'}"
