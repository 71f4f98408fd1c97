"""The journey framework: journeys in a hierarchy, their stages and steps, personas and KPI definitions."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import Conflict, InvalidInput, RefusedChange
from govern.model import (
    DIRECTIONS, KPI_KINDS, KPI_SCALES, Insight, Journey, Kpi, Opportunity, Persona, Stage, Step,
    insight_step, opportunity_journey,
)
from govern.policy import Actor
from govern.services.common import get_journey, get_person, get_step, journey_subtree_ids, require_text
from govern.services.summary import refresh_evidence_summary

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_key(key: str, field: str = "key") -> str:
    if not isinstance(key, str) or not KEY.match(key):
        raise InvalidInput(f"{field} '{key}' must be lower-case letters, digits, '-' or '_'", {field: "invalid key"})
    return key


def journey_snapshot(j: Journey) -> dict:
    return {"key": j.key, "name": j.name, "level": j.level, "parent": j.parent.key if j.parent else None,
            "owner": j.owner.handle if j.owner else None, "description": j.description,
            "slack_channel": j.slack_channel, "scoring_model": j.scoring_model,
            "details_step": f"{j.parent_step.journey.key}/{j.parent_step.key}" if j.parent_step else None,
            "personas": sorted(p.key for p in j.personas)}


def create_journey(session: Session, actor: Actor, *, key: str, name: str, level: str, owner: str | None = None,
                   parent: str | None = None, details_step: str | None = None, description: str = "",
                   slack_channel: str | None = None, commit: bool = True) -> Journey:
    """Create a journey, optionally below a parent journey and detailing one of the parent's steps."""
    actor.require("journey.manage")
    check_key(key)
    name = require_text(name, "name", max_len=200)
    level = require_text(level, "level", max_len=40)
    if session.scalar(sa.select(Journey.id).where(Journey.key == key)):
        raise Conflict(f"a journey with key '{key}' already exists", {"key": "taken"})
    journey = Journey(key=key, name=name, level=level, description=description, slack_channel=slack_channel)
    if owner:
        journey.owner = get_person(session, owner)
    if parent:
        journey.parent = get_journey(session, parent)
    if details_step:
        step = get_step(session, details_step)
        if journey.parent is None or step.journey_id != journey.parent.id:
            raise InvalidInput("details_step must be a step of the parent journey", {"details_step": details_step})
        journey.parent_step = step
    session.add(journey)
    session.flush()
    audit.record(session, actor, "journey.created", "journey", key, after=journey_snapshot(journey))
    if commit:
        session.commit()
    return journey


def update_journey(session: Session, actor: Actor, key: str, *, commit: bool = True, **changes) -> Journey:
    """Change a journey's name, description, level, parent, owner or channel."""
    journey = get_journey(session, key)
    # Structure, accountability, ranking and routing are council matters: a scoped journey.edit (owner, coordinator)
    # changes only a journey's words, stages and steps.
    structural = {"level", "parent", "owner", "scoring_model", "slack_channel"} & set(changes)
    actor.require("journey.manage" if structural else "journey.edit", [journey.id])
    before = journey_snapshot(journey)
    for field, value in changes.items():
        if field == "owner":
            journey.owner = get_person(session, value) if value else None
        elif field == "parent":
            new_parent = get_journey(session, value) if value else None
            if new_parent and new_parent.id in journey_subtree_ids(session, journey.id):
                raise InvalidInput("a journey cannot be placed below itself or its own children",
                                   {"parent": value})
            journey.parent = new_parent
        elif field in {"name", "description", "level", "slack_channel", "scoring_model"}:
            setattr(journey, field, value)
        else:
            raise InvalidInput(f"unknown field '{field}'", {field: "unknown field"})
    after = journey_snapshot(journey)
    if after != before:
        audit.record(session, actor, "journey.updated", "journey", key, before=before, after=after)
    if commit:
        session.commit()
    return journey


def assign_owner(session: Session, actor: Actor, journey: str, owner: str | None, *, commit: bool = True) -> Journey:
    """Make a person the one accountable owner of a journey."""
    return update_journey(session, actor, journey, owner=owner, commit=commit)


def evidence_on_journey(session: Session, journey_id: int) -> list[int]:
    """Insight ids linked to any step of the journey."""
    return list(session.scalars(
        sa.select(insight_step.c.insight_id).join(Step, Step.id == insight_step.c.step_id)
        .where(Step.journey_id == journey_id).distinct().order_by(insight_step.c.insight_id)))


def journey_references(session: Session, journey: Journey) -> list[str]:
    """Why a journey cannot be removed: evidence on its steps, opportunities linked to it, child journeys."""
    reasons = []
    insights = evidence_on_journey(session, journey.id)
    if insights:
        numbers = session.scalars(sa.select(Insight.number).where(Insight.id.in_(insights)).order_by(Insight.number))
        reasons.append("evidence would be orphaned: " + ", ".join(f"INS-{n}" for n in numbers))
    opps = session.scalars(sa.select(Opportunity).join(opportunity_journey).where(
        opportunity_journey.c.journey_id == journey.id).order_by(Opportunity.number)).all()
    if opps:
        reasons.append("linked opportunities: " + ", ".join(o.key for o in opps))
    children = session.scalars(sa.select(Journey.key).where(Journey.parent_id == journey.id)).all()
    if children:
        reasons.append("child journeys: " + ", ".join(sorted(children)))
    kpis = session.scalars(sa.select(Kpi.key).where(Kpi.journey_id == journey.id)).all()
    if kpis:
        reasons.append("KPIs defined on it: " + ", ".join(sorted(kpis)))
    return reasons


def delete_journey(session: Session, actor: Actor, key: str, *, commit: bool = True) -> None:
    """Remove a journey; refused while evidence, opportunities, children or KPIs refer to it."""
    actor.require("journey.manage")
    journey = get_journey(session, key)
    reasons = journey_references(session, journey)
    if reasons:
        raise RefusedChange(f"journey '{key}' cannot be removed: " + "; ".join(reasons), {"journey": reasons})
    before = journey_snapshot(journey)
    session.delete(journey)
    session.flush()
    audit.record(session, actor, "journey.deleted", "journey", key, before=before)
    if commit:
        session.commit()


def add_stage(session: Session, actor: Actor, journey: str, *, key: str, name: str, position: int | None = None,
              commit: bool = True) -> Stage:
    j = get_journey(session, journey)
    actor.require("journey.edit", [j.id])
    check_key(key)
    if any(s.key == key for s in j.stages):
        raise Conflict(f"journey '{journey}' already has a stage '{key}'", {"key": "taken"})
    stage = Stage(journey=j, key=key, name=require_text(name, "name"),
                  position=len(j.stages) if position is None else position)
    session.add(stage)
    session.flush()
    audit.record(session, actor, "stage.created", "journey", j.key, after={"stage": key, "name": stage.name})
    if commit:
        session.commit()
    return stage


def step_snapshot(s: Step) -> dict:
    return {"key": s.key, "name": s.name, "stage": s.stage.key if s.stage else None, "position": s.position,
            "touchpoint": s.touchpoint, "channel": s.channel, "moment_that_matters": s.moment_that_matters,
            "emotion_score": s.emotion_score}


def add_step(session: Session, actor: Actor, journey: str, *, key: str, name: str, stage: str | None = None,
             touchpoint: str | None = None, channel: str | None = None, moment_that_matters: bool = False,
             emotion_score: float | None = None, position: int | None = None, commit: bool = True) -> Step:
    """Add a step to a journey, in a stage, with its touchpoint, channel, moment-that-matters flag and emotion."""
    j = get_journey(session, journey)
    actor.require("journey.edit", [j.id])
    check_key(key)
    if any(s.key == key for s in j.steps):
        raise Conflict(f"journey '{journey}' already has a step '{key}'", {"key": "taken"})
    stage_obj = None
    if stage:
        stage_obj = next((s for s in j.stages if s.key == stage), None)
        if stage_obj is None:
            raise InvalidInput(f"journey '{journey}' has no stage '{stage}'", {"stage": stage})
    _check_emotion(emotion_score)
    step = Step(journey=j, stage=stage_obj, key=key, name=require_text(name, "name"), touchpoint=touchpoint,
                channel=channel, moment_that_matters=moment_that_matters, emotion_score=emotion_score,
                position=len(j.steps) if position is None else position)
    session.add(step)
    session.flush()
    audit.record(session, actor, "step.created", "step", f"{j.key}/{key}", after=step_snapshot(step))
    if commit:
        session.commit()
    return step


def _check_emotion(score: float | None) -> None:
    if score is not None and not -2 <= float(score) <= 2:
        raise InvalidInput("emotion_score runs from -2 (very negative) to 2 (very positive)",
                           {"emotion_score": "between -2 and 2"})


def update_step(session: Session, actor: Actor, ref: str, *, commit: bool = True, **changes) -> Step:
    step = get_step(session, ref)
    actor.require("journey.edit", [step.journey_id])
    before = step_snapshot(step)
    for field, value in changes.items():
        if field == "stage":
            stage = next((s for s in step.journey.stages if s.key == value), None) if value else None
            if value and stage is None:
                raise InvalidInput(f"journey '{step.journey.key}' has no stage '{value}'", {"stage": value})
            step.stage = stage
        elif field in {"name", "touchpoint", "channel", "moment_that_matters", "emotion_score", "position"}:
            if field == "emotion_score":
                _check_emotion(value)
            setattr(step, field, value)
        else:
            raise InvalidInput(f"unknown field '{field}'", {field: "unknown field"})
    after = step_snapshot(step)
    if after != before:
        audit.record(session, actor, "step.updated", "step", ref, before=before, after=after)
    if commit:
        session.commit()
    return step


def delete_step(session: Session, actor: Actor, ref: str, *, move_evidence_to: str | None = None,
                commit: bool = True) -> None:
    """Remove a step. Evidence linked to it is moved to `move_evidence_to`, or the removal is refused."""
    step = get_step(session, ref)
    actor.require("journey.edit", [step.journey_id])
    linked = list(session.scalars(sa.select(insight_step.c.insight_id).where(insight_step.c.step_id == step.id)))
    if linked and not move_evidence_to:
        raise RefusedChange(
            f"step '{ref}' has {len(linked)} piece(s) of evidence linked; move them to another step first "
            "(move_evidence_to) so that no insight is orphaned", {"step": ref, "insights": linked})
    if linked:
        target = get_step(session, move_evidence_to)
        actor.require("journey.edit", [target.journey_id])  # the evidence must land within the actor's reach too
        if target.id == step.id:
            raise InvalidInput("cannot move evidence to the step being removed", {"move_evidence_to": ref})
        already = set(session.scalars(sa.select(insight_step.c.insight_id).where(insight_step.c.step_id == target.id)))
        for insight_id in linked:
            if insight_id not in already:
                session.execute(insight_step.insert().values(insight_id=insight_id, step_id=target.id))
        session.execute(insight_step.delete().where(insight_step.c.step_id == step.id))
        refresh_evidence_summary(session, insight_ids=linked)  # the target step may be in another journey
    referring = session.scalars(sa.select(Journey.key).where(Journey.parent_step_id == step.id)).all()
    if referring:
        raise RefusedChange(f"step '{ref}' is detailed by journey(s) {', '.join(referring)}",
                            {"step": ref, "journeys": list(referring)})
    if session.scalar(sa.select(Kpi.key).where(Kpi.step_id == step.id)):
        raise RefusedChange(f"step '{ref}' has KPIs defined on it", {"step": ref})
    before = step_snapshot(step)
    session.delete(step)
    session.flush()
    audit.record(session, actor, "step.deleted", "step", ref, before=before,
                 after={"evidence_moved_to": move_evidence_to} if linked else None)
    if commit:
        session.commit()


def create_persona(session: Session, actor: Actor, *, key: str, name: str, description: str = "",
                   needs: list[str] | None = None, journeys: list[str] | None = None,
                   commit: bool = True) -> Persona:
    actor.require("persona.manage")
    check_key(key)
    if session.scalar(sa.select(Persona.id).where(Persona.key == key)):
        raise Conflict(f"a persona with key '{key}' already exists", {"key": "taken"})
    persona = Persona(key=key, name=require_text(name, "name"), description=description, needs=list(needs or []))
    persona.journeys = [get_journey(session, j) for j in journeys or []]
    session.add(persona)
    session.flush()
    audit.record(session, actor, "persona.created", "persona", key,
                 after={"name": persona.name, "journeys": journeys or []})
    if commit:
        session.commit()
    return persona


def kpi_snapshot(k: Kpi) -> dict:
    return {"key": k.key, "name": k.name, "kind": k.kind, "scale": k.scale, "min": k.scale_min, "max": k.scale_max,
            "unit": k.unit, "direction": k.direction, "target": k.target,
            "journey": k.journey.key if k.journey else None,
            "step": f"{k.step.journey.key}/{k.step.key}" if k.step else None}


def check_kpi_fields(kind: str, scale: str, direction: str, scale_min, scale_max) -> dict[str, str]:
    errors = {}
    if kind not in KPI_KINDS:
        errors["kind"] = f"unknown kind '{kind}' (one of {', '.join(KPI_KINDS)})"
    if scale not in KPI_SCALES:
        errors["scale"] = f"unknown scale '{scale}' (one of {', '.join(KPI_SCALES)})"
    if direction not in DIRECTIONS:
        errors["direction"] = f"unknown direction '{direction}' (higher or lower)"
    if scale == "custom" and (scale_min is None or scale_max is None):
        errors["scale"] = "a custom scale needs min and max"
    if scale_min is not None and scale_max is not None and scale_min >= scale_max:
        errors["max"] = "max must be greater than min"
    return errors


def define_kpi(session: Session, actor: Actor, *, key: str, name: str, kind: str, scale: str,
               direction: str = "higher", target: float | None = None, journey: str | None = None,
               step: str | None = None, scale_min: float | None = None, scale_max: float | None = None,
               unit: str | None = None, commit: bool = True) -> Kpi:
    """Define a KPI for a journey or one of its steps."""
    actor.require("kpi.manage")
    check_key(key)
    errors = check_kpi_fields(kind, scale, direction, scale_min, scale_max)
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    if session.scalar(sa.select(Kpi.id).where(Kpi.key == key)):
        raise Conflict(f"a KPI with key '{key}' already exists", {"key": "taken"})
    kpi = Kpi(key=key, name=require_text(name, "name"), kind=kind, scale=scale, direction=direction, target=target,
              scale_min=scale_min, scale_max=scale_max, unit=unit)
    if step:
        kpi.step = get_step(session, step)
        kpi.journey = kpi.step.journey
    elif journey:
        kpi.journey = get_journey(session, journey)
    session.add(kpi)
    session.flush()
    audit.record(session, actor, "kpi.defined", "kpi", key, after=kpi_snapshot(kpi))
    if commit:
        session.commit()
    return kpi
