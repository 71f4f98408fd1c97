"""Governance as code: compare a validated govern.yaml with the database and apply the difference idempotently.

The file is the truth for configuration (people, council, personas, journeys with stages and steps, KPIs, rituals,
organisation settings). Runtime data (evidence, opportunities, measurements, decisions) lives only in the database,
so removing something from the file that runtime data still refers to is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
import datetime

from govern import audit
from govern.errors import RefusedChange
from govern.model import (
    CouncilSeat, Insight, Journey, Kpi, KpiMeasurement, Opportunity, OpportunityKpi, Person, Persona, Ritual,
    RitualOccurrence, Setting, Stage, Step, insight_step, kpi_cadence_days, opportunity_journey,
)
from govern.policy import Actor, require_not_self, seat_action
from govern.queries.states import state_catalog
from govern.vocabulary import forget as forget_vocabulary

SETTING_SECTIONS = ("organisation", "terminology", "words", "roles", "evidence", "lifecycle", "scoring", "jira", "slack",
                    "sources", "map")


@dataclass
class Change:
    op: str  # add | change | remove
    kind: str  # person, seat, persona, journey, stage, step, kpi, ritual, setting
    key: str
    before: dict | None = None
    after: dict | None = None

    def describe(self) -> str:
        sign = {"add": "+", "change": "~", "remove": "-"}[self.op]
        if self.op == "change":
            diffs = [f"{k}: {_show(self.before.get(k))} -> {_show(self.after.get(k))}"
                     for k in sorted(set(self.before) | set(self.after)) if self.before.get(k) != self.after.get(k)]
            return f"{sign} {self.kind} {self.key}: " + "; ".join(diffs)
        if self.op == "remove" and self.kind in ("person", "ritual"):
            return f"{sign} {self.kind} {self.key} (deactivated; history is kept)"
        return f"{sign} {self.kind} {self.key}"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, (list, dict)):
        return repr(value) if len(repr(value)) < 60 else f"{type(value).__name__} of {len(value)}"
    return str(value)


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes

    def lines(self) -> list[str]:
        return [c.describe() for c in self.changes]


# --- desired and current state as plain dicts keyed by natural keys ---------------------------------------------------


def _desired(doc: dict, extra_settings: dict[str, Any]) -> dict[str, dict]:
    parent_of = {j["key"]: j.get("parent") for j in doc["journeys"]}
    position: dict[str, int] = {}
    sibling_count: dict[Any, int] = {}
    for j in doc["journeys"]:
        position[j["key"]] = sibling_count.get(parent_of[j["key"]], 0)
        sibling_count[parent_of[j["key"]]] = position[j["key"]] + 1
    state: dict[str, dict] = {k: {} for k in ("person", "seat", "persona", "journey", "stage", "step", "kpi",
                                                "ritual", "setting")}
    for p in doc["people"]:
        state["person"][p["handle"]] = {"name": p["name"], "email": p.get("email"), "slack_id": p.get("slack_id"),
                                        "title": p.get("title"), "department": p.get("department"),
                                        "is_admin": p["admin"], "active": True}
    for s in doc["council"]:
        state["seat"][f"{s['person']} {s['role']}" + (f" {s['journey']}" if s.get("journey") else "")] = {
            "person": s["person"], "role": s["role"], "journey": s.get("journey")}
    for p in doc["personas"]:
        state["persona"][p["key"]] = {"name": p["name"], "description": p["description"], "needs": p["needs"]}
    for j in doc["journeys"]:
        state["journey"][j["key"]] = {
            "name": j["name"], "level": j["level"], "parent": j.get("parent"), "owner": j.get("owner"),
            "details_step": j.get("details_step"), "description": j["description"],
            "slack_channel": j.get("slack_channel"), "scoring_model": j.get("scoring_model"),
            "personas": sorted(j["personas"]), "position": position[j["key"]]}
        step_pos = 0
        for s_i, stage in enumerate(j["stages"]):
            state["stage"][f"{j['key']}/{stage['key']}"] = {"name": stage["name"], "position": s_i}
            for step in stage["steps"]:
                state["step"][f"{j['key']}/{step['key']}"] = {
                    "name": step["name"], "stage": stage["key"], "position": step_pos,
                    "touchpoint": step.get("touchpoint"), "channel": step.get("channel"),
                    "moment_that_matters": step["moment_that_matters"], "emotion_score": step.get("emotion")}
                step_pos += 1
    for k in doc["kpis"]:
        journey = k.get("journey") or (k["step"].partition("/")[0] if k.get("step") else None)
        state["kpi"][k["key"]] = {"name": k["name"], "kind": k["kind"], "scale": k["scale"], "min": k.get("min"),
                                  "max": k.get("max"), "unit": k.get("unit"), "direction": k["direction"],
                                  "target": k.get("target"), "journey": journey, "step": k.get("step"),
                                  "cadence_days": kpi_cadence_days(k.get("cadence")),
                                  "measure_after_days": k.get("measure_after_days")}
    for r in doc["rituals"]:
        state["ritual"][r["key"]] = ritual_fields(r)
    for section in SETTING_SECTIONS:
        state["setting"][section] = {"value": doc.get(section)}
    for key, value in extra_settings.items():
        state["setting"][key] = {"value": value}
    return state


def ritual_fields(r: dict) -> dict:
    """A ritual entry of govern.yaml as the columns of the ritual table (validated by rituals.config)."""
    cadence = r.get("cadence") or {}
    kind = "cron" if "cron" in cadence else "rrule"
    scope = r.get("scope") or "council"
    if isinstance(scope, dict):
        scope_kind, scope_journey = next(iter(scope.items()))
    else:
        scope_kind, scope_journey = scope, None
    attendees = r.get("attendees") or {}
    known = {"key", "name", "purpose", "cadence", "timezone", "duration_minutes", "scope", "attendees",
             "slack_channel", "agenda", "agenda_lead_minutes", "piggyback_on"}
    return {"name": r.get("name", r["key"]), "purpose": r.get("purpose", ""), "cadence_kind": kind,
            "cadence": _cadence_text(cadence, kind), "timezone": r.get("timezone", "UTC"),
            "duration_minutes": int(r.get("duration_minutes", 60)), "scope_kind": scope_kind,
            "scope_journey": scope_journey, "attendee_roles": list(attendees.get("roles", [])),
            "attendee_people": list(attendees.get("people", [])), "slack_channel": r.get("slack_channel"),
            "agenda_sections": list(r.get("agenda", [])), "agenda_lead_minutes": int(r.get("agenda_lead_minutes", 60)),
            "piggyback_on": r.get("piggyback_on"),
            "settings": {k: (v.isoformat() if k == "since" and hasattr(v, "isoformat") else v)
                         for k, v in r.items() if k not in known},
            "active": True}


def _cadence_text(cadence: dict, kind: str) -> str:
    """The stored cadence; {rrule, dtstart} become one RFC 5545 text (DTSTART local, see rituals.config)."""
    rule = str(cadence.get(kind, "")).strip()
    start = cadence.get("dtstart")
    if kind != "rrule" or not start:
        return rule
    start = start if isinstance(start, datetime.datetime) else datetime.datetime.fromisoformat(str(start))
    return f"DTSTART:{start:%Y%m%dT%H%M%S}\n" + (rule if ":" in rule.split("\n")[0] else f"RRULE:{rule}")


def _current(session: Session, setting_keys: list[str]) -> dict[str, dict]:
    state: dict[str, dict] = {k: {} for k in ("person", "seat", "persona", "journey", "stage", "step", "kpi",
                                                "ritual", "setting")}
    for p in session.scalars(sa.select(Person)):
        state["person"][p.handle] = {"name": p.name, "email": p.email, "slack_id": p.slack_id, "title": p.title,
                                     "department": p.department, "is_admin": p.is_admin, "active": p.active}
    for s in session.scalars(sa.select(CouncilSeat)):
        key = f"{s.person.handle} {s.role}" + (f" {s.journey.key}" if s.journey else "")
        state["seat"][key] = {"person": s.person.handle, "role": s.role, "journey": s.journey.key if s.journey else None}
    for p in session.scalars(sa.select(Persona)):
        state["persona"][p.key] = {"name": p.name, "description": p.description, "needs": list(p.needs or [])}
    for j in session.scalars(sa.select(Journey)):
        state["journey"][j.key] = {
            "name": j.name, "level": j.level, "parent": j.parent.key if j.parent else None,
            "owner": j.owner.handle if j.owner else None,
            "details_step": j.parent_step.key if j.parent_step else None, "description": j.description,
            "slack_channel": j.slack_channel, "scoring_model": j.scoring_model,
            "personas": sorted(p.key for p in j.personas), "position": j.position}
        for stage in j.stages:
            state["stage"][f"{j.key}/{stage.key}"] = {"name": stage.name, "position": stage.position}
        for step in j.steps:
            state["step"][f"{j.key}/{step.key}"] = {
                "name": step.name, "stage": step.stage.key if step.stage else None, "position": step.position,
                "touchpoint": step.touchpoint, "channel": step.channel,
                "moment_that_matters": step.moment_that_matters, "emotion_score": step.emotion_score}
    for k in session.scalars(sa.select(Kpi)):
        state["kpi"][k.key] = {"name": k.name, "kind": k.kind, "scale": k.scale, "min": k.scale_min,
                               "max": k.scale_max, "unit": k.unit, "direction": k.direction, "target": k.target,
                               "journey": k.journey.key if k.journey else None,
                               "step": f"{k.step.journey.key}/{k.step.key}" if k.step else None,
                               "cadence_days": k.cadence_days, "measure_after_days": k.measure_after_days}
    for r in session.scalars(sa.select(Ritual)):
        state["ritual"][r.key] = {
            "name": r.name, "purpose": r.purpose, "cadence_kind": r.cadence_kind, "cadence": r.cadence,
            "timezone": r.timezone, "duration_minutes": r.duration_minutes, "scope_kind": r.scope_kind,
            "scope_journey": r.scope_journey.key if r.scope_journey else None,
            "attendee_roles": list(r.attendee_roles or []), "attendee_people": list(r.attendee_people or []),
            "slack_channel": r.slack_channel, "agenda_sections": list(r.agenda_sections or []),
            "agenda_lead_minutes": r.agenda_lead_minutes, "piggyback_on": r.piggyback_on,
            "settings": dict(r.settings or {}), "active": r.active}
    for s in session.scalars(sa.select(Setting).where(Setting.key.in_(setting_keys))):
        state["setting"][s.key] = {"value": s.value}
    return state


ORDER = ("setting", "person", "persona", "journey", "stage", "step", "kpi", "seat", "ritual")


def plan(session: Session, doc: dict, extra_settings: dict[str, Any] | None = None) -> Plan:
    """What applying `doc` would change, and every reason it would be refused.

    `extra_settings` are settings derived from the document by the caller (e.g. the resolved lifecycle).
    """
    extra = extra_settings or {}
    want, have = _desired(doc, extra), _current(session, [*SETTING_SECTIONS, *extra])
    result = Plan()
    for kind in ORDER:
        for key in sorted(set(want[kind]) | set(have[kind])):
            new, old = want[kind].get(key), have[kind].get(key)
            if old is None:
                result.changes.append(Change("add", kind, key, None, new))
            elif new is None:
                if kind in ("person", "ritual") and not old.get("active"):
                    continue  # already deactivated
                result.changes.append(Change("remove", kind, key, old, None))
            elif new != old:
                result.changes.append(Change("change", kind, key, old, new))
    result.refusals = _refusals(session, result.changes)
    return result


def _refusals(session: Session, changes: list[Change]) -> list[str]:
    """Removals that runtime data still depends on; nothing is applied while any remain."""
    reasons: list[str] = []
    for change in changes:
        if change.op != "remove":
            continue
        if change.kind == "journey":
            journey = session.scalar(sa.select(Journey).where(Journey.key == change.key))
            numbers = session.scalars(
                sa.select(Insight.number).join(insight_step, insight_step.c.insight_id == Insight.id)
                .join(Step, Step.id == insight_step.c.step_id).where(Step.journey_id == journey.id)
                .distinct().order_by(Insight.number)).all()
            if numbers:
                reasons.append(f"journey '{change.key}' cannot be removed: evidence on its steps would be orphaned: "
                               + ", ".join(f"INS-{n}" for n in numbers))
            opps = session.scalars(sa.select(Opportunity.number).join(opportunity_journey)
                                   .where(opportunity_journey.c.journey_id == journey.id)
                                   .order_by(Opportunity.number)).all()
            if opps:
                reasons.append(f"journey '{change.key}' cannot be removed: opportunities are linked to it: "
                               + ", ".join(f"OPP-{n}" for n in opps))
        elif change.kind == "step":
            journey_key, _, step_key = change.key.partition("/")
            numbers = session.scalars(
                sa.select(Insight.number).join(insight_step, insight_step.c.insight_id == Insight.id)
                .join(Step, Step.id == insight_step.c.step_id).join(Journey, Journey.id == Step.journey_id)
                .where(Journey.key == journey_key, Step.key == step_key).order_by(Insight.number)).all()
            if numbers and not any(c.kind == "journey" and c.op == "remove" and c.key == journey_key
                                   for c in changes):
                reasons.append(f"step '{change.key}' cannot be removed: evidence linked to it would be orphaned: "
                               + ", ".join(f"INS-{n}" for n in numbers) + " (link it to another step first)")
        elif change.kind == "kpi":
            kpi = session.scalar(sa.select(Kpi).where(Kpi.key == change.key))
            measured = session.scalar(sa.select(sa.func.count()).select_from(KpiMeasurement)
                                      .where(KpiMeasurement.kpi_id == kpi.id))
            targeted = session.scalars(sa.select(Opportunity.number).join(OpportunityKpi)
                                       .where(OpportunityKpi.kpi_id == kpi.id).order_by(Opportunity.number)).all()
            if measured or targeted:
                what = [f"{measured} measurement(s)"] if measured else []
                what += ["targeted by " + ", ".join(f"OPP-{n}" for n in targeted)] if targeted else []
                reasons.append(f"KPI '{change.key}' cannot be removed: " + "; ".join(what))
        elif change.kind == "person":
            person = session.scalar(sa.select(Person).where(Person.handle == change.key))
            owns = session.scalars(sa.select(Opportunity.number).where(
                Opportunity.owner_id == person.id,
                Opportunity.state.not_in(state_catalog(session).final_states))  # parked ones need an owner too
                .order_by(Opportunity.number)).all()
            if owns:
                reasons.append(f"person '{change.key}' cannot be removed: they own open opportunities "
                               + ", ".join(f"OPP-{n}" for n in owns) + " (hand them over first)")
    return reasons


# --- applying -----------------------------------------------------------------------------------------------------------


def _require_identity_rights(session: Session, actor: Actor, changes: list[Change]) -> None:
    """Governance as code grants no more than the applier could grant by hand: seats need the right that grants
    that role, the admin flag needs person.grant_admin, and nobody gives themselves a seat or the admin flag (a file
    that leaves the applier out lowers, never raises, their standing, so it may)."""
    me = session.get(Person, actor.person_id).handle if actor.person_id is not None else None
    for change in changes:
        data = change.after or change.before or {}
        if change.kind == "seat":
            actor.require(seat_action(data.get("role", "")))
            if data.get("person") == me and change.op != "remove":
                require_not_self(actor, actor.person_id, f"take a {data.get('role')} seat")
        elif change.kind == "person":
            admin_before = bool((change.before or {}).get("is_admin"))
            admin_after = bool((change.after or {}).get("is_admin")) if change.op != "remove" else admin_before
            if admin_before != admin_after:
                actor.require("person.grant_admin")
            if change.key == me and admin_after and not admin_before:
                require_not_self(actor, actor.person_id, "make themselves an administrator")


def _end_sessions_of_demoted(people: dict[str, Person], changes: list[Change]) -> None:
    """Removal of a seat, of the admin flag or of the person ends their sessions (as the same edits by hand do)."""
    for change in changes:
        if change.kind == "seat" and change.op == "remove":
            handle = (change.before or {}).get("person")
        elif change.kind == "person" and (change.op == "remove" or (
                (change.before or {}).get("is_admin") and not (change.after or {}).get("is_admin"))):
            handle = change.key
        else:
            continue
        person = people.get(handle)
        if person is not None:
            person.session_version = (person.session_version or 1) + 1


def apply_config(session: Session, actor: Actor, doc: dict, *, dry_run: bool = False,
                 extra_settings: dict[str, Any] | None = None) -> Plan:
    """Upsert the configuration in `doc`; refuse (changing nothing) if a removal would orphan runtime data."""
    actor.require("config.apply")
    result = plan(session, doc, extra_settings)
    if result.refusals:
        raise RefusedChange("the configuration was not applied: " + "; ".join(result.refusals),
                            {"refused": result.refusals, "changes": result.lines()})
    _require_identity_rights(session, actor, result.changes)
    if dry_run or result.empty:
        return result
    by_kind: dict[str, list[Change]] = {}
    for change in result.changes:
        by_kind.setdefault(change.kind, []).append(change)
    people = {p.handle: p for p in session.scalars(sa.select(Person))}
    _end_sessions_of_demoted(people, result.changes)
    for change in by_kind.get("setting", []):
        row = session.get(Setting, change.key)
        value = change.after["value"] if change.after else None
        if row is None:
            session.add(Setting(key=change.key, value=value))
        else:
            row.value = value
    for change in by_kind.get("person", []):
        if change.op == "add":
            people[change.key] = Person(handle=change.key, **change.after)
            session.add(people[change.key])
        elif change.op == "change":
            for k, v in change.after.items():
                setattr(people[change.key], k, v)
        else:
            people[change.key].active = False
    session.flush()
    personas = {p.key: p for p in session.scalars(sa.select(Persona))}
    for change in by_kind.get("persona", []):
        if change.op == "remove":
            session.delete(personas.pop(change.key))
        else:
            persona = personas.get(change.key) or Persona(key=change.key)
            for k, v in change.after.items():
                setattr(persona, k, v)
            session.add(persona)
            personas[change.key] = persona
    _apply_journeys(session, by_kind, people, personas)
    _apply_kpis(session, by_kind)
    journeys = {j.key: j for j in session.scalars(sa.select(Journey))}
    for change in by_kind.get("seat", []):
        data = change.after or change.before
        person = people[data["person"]]
        journey = journeys.get(data["journey"]) if data["journey"] else None
        if change.op == "add":
            session.add(CouncilSeat(person=person, role=data["role"], journey=journey))
        elif change.op == "remove":
            seat = session.scalar(sa.select(CouncilSeat).where(
                CouncilSeat.person_id == person.id, CouncilSeat.role == data["role"],
                CouncilSeat.journey_id.is_(None) if journey is None else CouncilSeat.journey_id == journey.id))
            session.delete(seat)
    for change in by_kind.get("ritual", []):
        ritual = session.scalar(sa.select(Ritual).where(Ritual.key == change.key))
        if change.op == "remove":
            ritual.active = False
            has_history = session.scalar(sa.select(sa.func.count()).select_from(RitualOccurrence)
                                         .where(RitualOccurrence.ritual_id == ritual.id))
            if not has_history:
                session.delete(ritual)
            continue
        if ritual is None:
            ritual = Ritual(key=change.key)
            session.add(ritual)
        data = dict(change.after)
        scope_journey = data.pop("scope_journey")
        ritual.scope_journey = journeys.get(scope_journey) if scope_journey else None
        for k, v in data.items():
            setattr(ritual, k, v)
    session.flush()
    for change in result.changes:
        audit.record(session, actor, f"config.{change.op}", change.kind, change.key,
                     before=change.before, after=change.after, reason="govern apply")
    session.commit()
    forget_vocabulary(session)  # the words may have changed
    return result


def _apply_journeys(session: Session, by_kind: dict[str, list[Change]], people: dict[str, Person],
                    personas: dict[str, Persona]) -> None:
    journeys = {j.key: j for j in session.scalars(sa.select(Journey))}
    for change in by_kind.get("journey", []):
        if change.op == "add":
            journeys[change.key] = Journey(key=change.key, name=change.after["name"], level=change.after["level"])
            session.add(journeys[change.key])
    session.flush()
    stages = {f"{s.journey.key}/{s.key}": s for s in session.scalars(sa.select(Stage))}
    for change in by_kind.get("stage", []):
        journey_key, _, key = change.key.partition("/")
        if change.op == "remove":
            continue  # after steps have moved off it
        stage = stages.get(change.key) or Stage(journey=journeys[journey_key], key=key)
        stage.name, stage.position = change.after["name"], change.after["position"]
        session.add(stage)
        stages[change.key] = stage
    session.flush()
    steps = {f"{s.journey.key}/{s.key}": s for s in session.scalars(sa.select(Step))}
    for change in by_kind.get("step", []):
        journey_key, _, key = change.key.partition("/")
        if change.op == "remove":
            continue
        step = steps.get(change.key) or Step(journey=journeys[journey_key], key=key)
        data = dict(change.after)
        step.stage = stages[f"{journey_key}/{data.pop('stage')}"]
        for k, v in data.items():
            setattr(step, k, v)
        session.add(step)
        steps[change.key] = step
    session.flush()
    for change in by_kind.get("journey", []):
        if change.op == "remove":
            continue
        journey, data = journeys[change.key], dict(change.after)
        journey.parent = journeys.get(data.pop("parent")) if data.get("parent") else None
        data.pop("parent", None)
        owner = data.pop("owner")
        journey.owner = people[owner] if owner else None
        details = data.pop("details_step")
        journey.parent_step = steps.get(f"{journey.parent.key}/{details}") if details and journey.parent else None
        journey.personas = [personas[k] for k in data.pop("personas")]
        for k, v in data.items():
            setattr(journey, k, v)
    session.flush()
    # Removals, innermost first: steps, then stages, then journeys (children before parents).
    for change in by_kind.get("step", []):
        if change.op == "remove":
            session.delete(steps[change.key])
    session.flush()
    for change in by_kind.get("stage", []):
        if change.op == "remove":
            session.delete(stages[change.key])
    session.flush()
    removed = [journeys[c.key] for c in by_kind.get("journey", []) if c.op == "remove"]
    for journey in sorted(removed, key=lambda j: -_depth(j)):
        session.delete(journey)
        session.flush()


def _depth(journey: Journey) -> int:
    depth, cursor = 0, journey.parent
    while cursor is not None:
        depth, cursor = depth + 1, cursor.parent
    return depth


def _apply_kpis(session: Session, by_kind: dict[str, list[Change]]) -> None:
    journeys = {j.key: j for j in session.scalars(sa.select(Journey))}
    for change in by_kind.get("kpi", []):
        kpi = session.scalar(sa.select(Kpi).where(Kpi.key == change.key))
        if change.op == "remove":
            session.delete(kpi)
            continue
        data = dict(change.after)
        kpi = kpi or Kpi(key=change.key)
        journey_key, step_ref = data.pop("journey"), data.pop("step")
        kpi.journey = journeys.get(journey_key) if journey_key else None
        if step_ref:
            j_key, _, s_key = step_ref.partition("/")
            kpi.step = session.scalar(sa.select(Step).where(Step.journey_id == journeys[j_key].id, Step.key == s_key))
        else:
            kpi.step = None
        kpi.scale_min, kpi.scale_max = data.pop("min"), data.pop("max")
        for k, v in data.items():
            setattr(kpi, k, v)
        session.add(kpi)
    session.flush()
