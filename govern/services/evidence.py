"""Evidence (insights): recorded once, linked to steps across journeys, never orphaned."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import InvalidInput, RefusedChange
from govern.model import INSIGHT_KINDS, AuditEvent, Insight, Opportunity, opportunity_insight, utcnow
from govern.policy import Actor
from govern.services.common import get_insight, get_setting, get_step, get_steps, next_number, require_text


EVIDENCE_SETTING = "evidence"
REDACTED_TEXT = "[erased]"
KIND_KEY = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
TAG_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
EVIDENCE_KEYS = ("kinds", "retention_days", "journey_breadth", "tags", "free_tags")


def evidence_taxonomy(session: Session) -> tuple[tuple[str, ...], bool]:
    """The organisation's tag keys (govern.yaml `evidence.tags`) and whether free tags (outside it) are kept
    (`evidence.free_tags`, default true: kept and shown as free)."""
    section = get_setting(session, EVIDENCE_SETTING, {}) or {}
    return tuple(section.get("tags") or ()), bool(section.get("free_tags", True))


def evidence_kinds(session: Session) -> tuple[str, ...]:
    """The kinds of insight this organisation records (govern.yaml `evidence.kinds`; the practice's by default)."""
    kinds = (get_setting(session, EVIDENCE_SETTING, {}) or {}).get("kinds")
    return tuple(kinds) if kinds else INSIGHT_KINDS


def validate_evidence_settings(section: Any, path: str = "evidence") -> dict[str, str]:
    """Every problem with govern.yaml's `evidence:` section (kinds, retention_days, journey_breadth, tags,
    free_tags)."""
    problems: dict[str, str] = {}
    if not section:
        return problems
    if not isinstance(section, dict):
        return {path: "must be a mapping with kinds, retention_days, journey_breadth, tags and free_tags"}
    for key in section:
        if key not in EVIDENCE_KEYS:
            problems[f"{path}.{key}"] = f"unknown key (allowed: {', '.join(EVIDENCE_KEYS)})"
    tags = section.get("tags")
    if tags is not None:
        if not isinstance(tags, list):
            problems[f"{path}.tags"] = "must be a list of tag keys, e.g. [billing, porting, outage]"
        else:
            seen: set = set()
            for i, tag in enumerate(tags):
                if not isinstance(tag, str) or not TAG_KEY.match(tag):
                    problems[f"{path}.tags[{i}]"] = (f"must be lower-case letters, digits, '-' or '_' (at most 40), "
                                                     f"got {tag!r}")
                elif tag in seen:
                    problems[f"{path}.tags[{i}]"] = f"duplicate tag '{tag}'"
                seen.add(tag)
    free = section.get("free_tags")
    if free is not None and not isinstance(free, bool):
        problems[f"{path}.free_tags"] = f"must be true or false, got {free!r}"
    kinds = section.get("kinds")
    if kinds is not None:
        if not isinstance(kinds, list) or not kinds:
            problems[f"{path}.kinds"] = "must be a non-empty list of kinds, e.g. [complaint, incident_report, prem]"
        else:
            for i, kind in enumerate(kinds):
                if not isinstance(kind, str) or not KIND_KEY.match(kind):
                    problems[f"{path}.kinds[{i}]"] = (f"must be lower-case letters, digits and _ (at most 20), "
                                                      f"got {kind!r}")
            if "other" not in kinds:
                problems[f"{path}.kinds"] = "must include 'other' (where evidence of an unlisted kind goes)"
    days = section.get("retention_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        problems[f"{path}.retention_days"] = f"must be a whole number of days, at least 1, got {days!r}"
    breadth = section.get("journey_breadth")
    if breadth is not None and breadth not in JOURNEY_BREADTH_RULES:
        problems[f"{path}.journey_breadth"] = f"must be one of {', '.join(JOURNEY_BREADTH_RULES)}, got {breadth!r}"
    return problems


# How guards count "evidence from N journeys" (govern.yaml `evidence.journey_breadth`): `independent` (the default)
# counts a journey nested in another journey that also has evidence as that journey, so a child and its parent are
# one; `distinct` counts every distinct journey.
JOURNEY_BREADTH_RULES = ("independent", "distinct")


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
    kinds = evidence_kinds(session)
    if kind not in kinds:
        errors["kind"] = f"unknown kind '{kind}' (one of {', '.join(kinds)})"
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


# --- redaction and retention ----------------------------------------------------------------------------------------


def _events_holding(session: Session, insight: Insight) -> list[int]:
    """The audit events whose payload holds this insight's personal data: its own events, and any other event whose
    payload quotes its text (found by the JSON-escaped text, as the JSON columns store it)."""
    ids = set(session.scalars(sa.select(AuditEvent.id).where(
        AuditEvent.entity_type == "insight", AuditEvent.entity_id == insight.key, AuditEvent.redacted_at.is_(None))))
    quoted = json.dumps(insight.text)[1:-1][:120]
    if len(quoted) >= 12:  # a short text would match unrelated events; its own events are found above
        pattern = "%" + quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for column in (AuditEvent.before, AuditEvent.after):
            ids.update(session.scalars(sa.select(AuditEvent.id).where(
                AuditEvent.redacted_at.is_(None), sa.cast(column, sa.Text).like(pattern, escape="\\"))))
    return sorted(ids)


def redact_evidence(session: Session, actor: Actor, insight_ref: str | int, *, reason: str,
                    commit: bool = True) -> Insight:
    """Erase an insight's personal data (its text and source) here and in the audit log, keeping the insight, its
    links and the audit chain (which covers payload digests, so `govern audit verify` still holds). The erasure is
    itself an audit event naming the events it erased. Needs evidence.delete."""
    actor.require("evidence.delete")
    reason = require_text(reason, "reason")
    insight = get_insight(session, insight_ref)
    if insight.redacted_at is not None:
        raise RefusedChange(f"{insight.key} was already erased on {insight.redacted_at:%Y-%m-%d}")
    now = utcnow()
    events = _events_holding(session, insight)
    audit.erase_payloads(session, events, now)
    insight.text, insight.source = REDACTED_TEXT, REDACTED_TEXT
    insight.redacted_at, insight.redacted_by_id, insight.redacted_reason = now, actor.person_id, reason
    session.flush()
    audit.record(session, actor, audit.REDACTION_ACTION, "insight", insight.key,
                 after={"audit_events": events, "fields": ["text", "source"]}, reason=reason)
    if commit:
        session.commit()
    return insight


def apply_retention(session: Session, actor: Actor, *, today: dt.date | None = None,
                    dry_run: bool = False) -> list[str]:
    """Erase every insight observed longer ago than `evidence.retention_days` (govern.yaml); returns their keys.
    Nothing happens when no retention is set."""
    days = (get_setting(session, EVIDENCE_SETTING, {}) or {}).get("retention_days")
    if not days:
        return []
    actor.require("evidence.delete")
    cutoff = (today or dt.date.today()) - dt.timedelta(days=int(days))
    due = list(session.scalars(sa.select(Insight).where(Insight.observed_on < cutoff, Insight.redacted_at.is_(None))
                               .order_by(Insight.number)))
    if not dry_run:
        for insight in due:
            redact_evidence(session, actor, insight.id, reason=f"retention: observed more than {days} days ago",
                            commit=False)
        session.commit()
    return [i.key for i in due]
