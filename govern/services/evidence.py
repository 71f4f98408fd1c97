"""Evidence (insights): recorded once, linked to steps across journeys, never orphaned."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import InvalidInput, RefusedChange
from govern.model import INSIGHT_KINDS, Insight, Opportunity, opportunity_insight
from govern.policy import Actor
from govern.services.common import get_insight, get_step, get_steps, next_number, require_text


def insight_snapshot(i: Insight) -> dict:
    return {"key": i.key, "text": i.text, "source": i.source, "kind": i.kind, "observed_on": i.observed_on,
            "steps": [f"{s.journey.key}/{s.key}" for s in i.steps]}


def _parse_date(value, field: str) -> dt.date:
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{field} must be a date (YYYY-MM-DD), got '{value}'", {field: "not a date"}) from None


def record_evidence(session: Session, actor: Actor, *, text: str, source: str, kind: str = "other",
                    observed_on: dt.date | str | None = None, steps: list[str] | None = None,
                    commit: bool = True) -> Insight:
    """Record an insight (a quote, survey result, analytics finding, ticket cluster …) and link it to steps."""
    actor.require("evidence.record")
    errors = {}
    if not isinstance(text, str) or not text.strip():
        errors["text"] = "required"
    if not isinstance(source, str) or not source.strip():
        errors["source"] = "required"
    if kind not in INSIGHT_KINDS:
        errors["kind"] = f"unknown kind '{kind}' (one of {', '.join(INSIGHT_KINDS)})"
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    insight = Insight(number=next_number(session, Insight.number), text=text.strip(), source=source.strip()[:200],
                      kind=kind, observed_on=_parse_date(observed_on, "observed_on"),
                      created_by_id=actor.person_id)
    insight.steps = get_steps(session, steps or [])
    session.add(insight)
    session.flush()
    audit.record(session, actor, "evidence.recorded", "insight", insight.key, after=insight_snapshot(insight))
    if commit:
        session.commit()
    return insight


def link_evidence_to_steps(session: Session, actor: Actor, insight_ref: str | int, steps: list[str], *,
                           commit: bool = True) -> Insight:
    """Attach an insight to more steps (possibly in several journeys)."""
    actor.require("evidence.link")
    insight = get_insight(session, insight_ref)
    before = insight_snapshot(insight)
    for ref in steps:
        step = get_step(session, ref)
        if step not in insight.steps:
            insight.steps.append(step)
    after = insight_snapshot(insight)
    if after != before:
        audit.record(session, actor, "evidence.linked", "insight", insight.key, before=before, after=after)
    if commit:
        session.commit()
    return insight


def unlink_evidence_from_step(session: Session, actor: Actor, insight_ref: str | int, step: str, *,
                              commit: bool = True) -> Insight:
    """Detach an insight from a step, unless that would leave it attached to nothing at all."""
    actor.require("evidence.link")
    insight = get_insight(session, insight_ref)
    target = get_step(session, step)
    if target not in insight.steps:
        raise InvalidInput(f"{insight.key} is not linked to {step}", {"step": step})
    in_use = session.scalar(sa.select(sa.func.count()).select_from(opportunity_insight)
                            .where(opportunity_insight.c.insight_id == insight.id))
    if len(insight.steps) == 1 and not in_use:
        raise RefusedChange(f"{insight.key} would be orphaned: it is linked to no other step and no opportunity")
    before = insight_snapshot(insight)
    insight.steps.remove(target)
    audit.record(session, actor, "evidence.unlinked", "insight", insight.key, before=before,
                 after=insight_snapshot(insight))
    if commit:
        session.commit()
    return insight


def delete_evidence(session: Session, actor: Actor, insight_ref: str | int, *, reason: str,
                    commit: bool = True) -> None:
    """Delete an insight that no opportunity relies on; the audit log keeps its content."""
    actor.require("evidence.delete")
    reason = require_text(reason, "reason")
    insight = get_insight(session, insight_ref)
    users = session.scalars(sa.select(Opportunity).join(opportunity_insight)
                            .where(opportunity_insight.c.insight_id == insight.id)).all()
    if users:
        raise RefusedChange(f"{insight.key} supports {', '.join(o.key for o in users)}; unlink it there first")
    before = insight_snapshot(insight)
    insight.steps.clear()  # through the relationship: a raw DELETE here left the ORM deleting the rows twice
    session.delete(insight)
    audit.record(session, actor, "evidence.deleted", "insight", before["key"], before=before, reason=reason)
    if commit:
        session.commit()
