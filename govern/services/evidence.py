"""Evidence (insights): recorded once, linked to steps across journeys, never orphaned."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from govern import audit
from govern.errors import InvalidInput, NotFound, RefusedChange
from govern.model import (
    INSIGHT_KINDS, SENTIMENT_RANGE, AuditEvent, Insight, Opportunity, Persona, opportunity_insight, utcnow,
)
from govern.policy import Actor
from govern.queries.suggestions import suggest_sentiment
from govern.queries.triage import source_journeys
from govern.services.common import (
    INS_REF, get_insight, get_setting, get_step, get_steps, next_number, require_text,
)


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
    # No sentiment given: VADER's suggestion, marked as one until a person sets it (edit_evidence).
    insight.sentiment, insight.sentiment_suggested = suggest_sentiment(insight.text), True
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
    """Delete an insight; the audit log keeps its content.

    The rule: an opportunity *relies on an insight only* when that insight is its last live evidence (no other insight
    linked to it that is not a merged duplicate). Deleting such an insight is refused, naming the opportunity (link
    other evidence to it first, or merge the insight instead of deleting it). An insight that supports
    opportunities with other evidence is unlinked from them (audited on each opportunity) and deleted; their guards
    then count what is left. A survivor that merged duplicates point at is refused too (they would lose their
    survivor). Whoever recorded the insight may delete it; else evidence.curate on its journeys."""
    reason = require_text(reason, "reason")
    insight = get_insight(session, insight_ref)
    require_curation(session, actor, insight)
    users = session.scalars(sa.select(Opportunity).join(opportunity_insight)
                            .where(opportunity_insight.c.insight_id == insight.id).order_by(Opportunity.number)).all()
    if users:
        others = dict(session.execute(
            sa.select(opportunity_insight.c.opportunity_id, sa.func.count())
            .join(Insight, Insight.id == opportunity_insight.c.insight_id)
            .where(opportunity_insight.c.opportunity_id.in_([o.id for o in users]),
                   opportunity_insight.c.insight_id != insight.id, Insight.merged_into_id.is_(None))
            .group_by(opportunity_insight.c.opportunity_id)).all())
        sole = [o for o in users if not others.get(o.id)]
        if sole:
            names = ", ".join(f"{o.key} ({o.title})" for o in sole)
            raise RefusedChange(f"{insight.key} is the only evidence of {names}; link other evidence to it first, or "
                                f"merge {insight.key} into another insight instead of deleting it",
                                {"opportunities": [o.key for o in sole]})
    merged_here = session.scalars(sa.select(Insight.number).where(Insight.merged_into_id == insight.id)
                                  .order_by(Insight.number)).all()
    if merged_here:
        keys = [f"INS-{n}" for n in merged_here]
        raise RefusedChange(f"{insight.key} is the survivor of merged duplicates ({', '.join(keys)}); it cannot be "
                            "deleted", {"merged": keys})
    before = curation_snapshot(insight)
    for opp in users:
        keys_before = [i.key for i in opp.insights]
        opp.insights.remove(insight)
        audit.record(session, actor, "opportunity.evidence_unlinked", "opportunity", opp.key,
                     before={"insights": keys_before}, after={"insights": [i.key for i in opp.insights]},
                     reason=f"{insight.key} deleted: {reason}")
    insight.steps.clear()  # through the relationship: a raw DELETE here left the ORM deleting the rows twice
    insight.personas.clear()
    session.delete(insight)
    audit.record(session, actor, "evidence.deleted", "insight", before["key"], before=before, reason=reason)
    if commit:
        session.commit()


# --- curation: who may, edit, merge, duplicates -----------------------------------------------------------------------

CURATE = "evidence.curate"
EDITABLE_FIELDS = ("text", "source", "kind", "observed_on", "url", "volume", "sentiment", "tags", "personas")
MAX_TAGS, MAX_TAG_LENGTH, MAX_VOLUME = 50, 64, 10**9


def curation_snapshot(i: Insight) -> dict:
    """What the audit keeps of an insight when it is curated: the basic snapshot and the richer fields."""
    return {**insight_snapshot(i), "url": i.url, "volume": i.volume, "sentiment": i.sentiment,
            "sentiment_suggested": i.sentiment_suggested, "tags": list(i.tags or []),
            "personas": [p.key for p in i.personas],
            "merged_into": i.merged_into.key if i.merged_into_id and i.merged_into else None}


def triage_journey_ids(session: Session, insight: Insight) -> set[int]:
    """The journeys an insight without steps waits for in triage: its source's (govern.queries.triage.source_journeys);
    none for hand-typed evidence (then every coordinator and the council see it)."""
    return set(source_journeys(session).get(insight.source_key or "", set()))


def insight_journey_ids(session: Session, insight: Insight) -> set[int]:
    """The journeys an insight is about: those of its steps, or (in triage) its source's journey."""
    ids = {s.journey_id for s in insight.steps}
    return ids or triage_journey_ids(session, insight)


def may_curate(session: Session, actor: Actor, insight: Insight, journeys: set[int] | None = None) -> bool:
    """Whoever recorded an insight (and may record evidence) may curate it; else evidence.curate on its journeys."""
    if actor.person_id is not None and insight.created_by_id == actor.person_id and actor.can("evidence.record"):
        return True
    return actor.can(CURATE, journeys if journeys is not None else insight_journey_ids(session, insight))


def require_curation(session: Session, actor: Actor, insight: Insight, journeys: set[int] | None = None) -> None:
    if actor.person_id is not None and insight.created_by_id == actor.person_id and actor.can("evidence.record"):
        return
    actor.require(CURATE, journeys if journeys is not None else insight_journey_ids(session, insight))


def _require_live(insight: Insight) -> None:
    if insight.merged_into_id is not None:
        survivor = insight.merged_into.key if insight.merged_into else "another insight"
        raise RefusedChange(f"{insight.key} was merged into {survivor}; change {survivor} instead",
                            {"insight": insight.key, "merged_into": survivor})


def _clean_changes(session: Session, insight: Insight, changes: dict[str, Any]) -> dict[str, Any]:
    """The validated values of an edit; InvalidInput naming every bad field (nothing written)."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key in changes:
        if key not in EDITABLE_FIELDS:
            errors[key] = f"not an editable field (fields: {', '.join(EDITABLE_FIELDS)})"
    for key in ("text", "source"):
        if key in changes:
            value = changes[key]
            if not isinstance(value, str) or not value.strip():
                errors[key] = "required (cannot be emptied)"
            elif key == "source" and len(value.strip()) > 200:
                errors[key] = "at most 200 characters"
            elif key == "text" and len(value) > 10_000:
                errors[key] = "at most 10000 characters"
            elif insight.redacted_at is not None:
                errors[key] = "erased (personal data redacted); it cannot be changed"
            else:
                out[key] = value.strip()
    if "kind" in changes:
        kinds = evidence_kinds(session)
        if changes["kind"] not in kinds:
            errors["kind"] = f"unknown kind '{changes['kind']}' (one of {', '.join(kinds)})"
        else:
            out["kind"] = changes["kind"]
    if "observed_on" in changes:
        if changes["observed_on"] in (None, ""):
            errors["observed_on"] = "required (a date, YYYY-MM-DD)"
        else:
            try:
                out["observed_on"] = _parse_date(changes["observed_on"], "observed_on")
            except InvalidInput as exc:
                errors["observed_on"] = exc.details["observed_on"] + f" (YYYY-MM-DD, got '{changes['observed_on']}')"
    if "url" in changes:
        url = (changes["url"] or "").strip() if isinstance(changes["url"], (str, type(None))) else None
        if url is None:
            errors["url"] = "must be an http(s) address"
        elif url and (not re.match(r"^https?://[^\s]+$", url) or len(url) > 2000):
            errors["url"] = "must be an http(s) address of at most 2000 characters"
        else:
            out["url"] = url or None
    if "volume" in changes:
        volume = changes["volume"]
        try:
            if isinstance(volume, bool) or (isinstance(volume, float) and not volume.is_integer()):
                raise ValueError
            volume = int(str(volume).strip())
            if not 1 <= volume <= MAX_VOLUME:
                raise ValueError
            out["volume"] = volume
        except (TypeError, ValueError):
            errors["volume"] = f"a whole number of records from 1 to {MAX_VOLUME}, got {changes['volume']!r}"
    if "sentiment" in changes:
        value = changes["sentiment"]
        if value in (None, ""):
            out["sentiment"] = None
        else:
            try:
                if isinstance(value, bool):
                    raise ValueError
                number = float(str(value).strip())
                if not (SENTIMENT_RANGE[0] <= number <= SENTIMENT_RANGE[1]):
                    raise ValueError
                out["sentiment"] = round(number, 2)
            except (TypeError, ValueError):
                errors["sentiment"] = f"a number from -2 to +2 (or empty), got {value!r}"
    if "tags" in changes:
        tags = changes["tags"]
        if isinstance(tags, str):
            tags = [t for t in re.split(r"[,\n]", tags)]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors["tags"] = "a list of tags"
        else:
            clean = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
            if len(clean) > MAX_TAGS or any(len(t) > MAX_TAG_LENGTH for t in clean):
                errors["tags"] = f"at most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} characters"
            else:
                out["tags"] = clean
    if "personas" in changes:
        refs = changes["personas"]
        if isinstance(refs, str):
            refs = [r.strip() for r in refs.split(",")]
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            errors["personas"] = "a list of persona keys"
        else:
            refs = list(dict.fromkeys(r.strip() for r in refs if r.strip()))
            found = {p.key: p for p in session.scalars(sa.select(Persona).where(Persona.key.in_(refs)))} if refs \
                else {}
            unknown = [r for r in refs if r not in found]
            if unknown:
                errors["personas"] = f"unknown persona(s): {', '.join(unknown)}"
            else:
                out["personas"] = [found[r] for r in refs]
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    return out


def edit_evidence(session: Session, actor: Actor, insight_ref: str | int, changes: dict[str, Any], *,
                  commit: bool = True) -> Insight:
    """Correct an insight: its text, source, kind, date, link, volume, sentiment, tags or personas. Setting the
    sentiment makes it a person's value (no longer a suggestion). Nothing changed, nothing audited."""
    insight = get_insight(session, insight_ref)
    _require_live(insight)
    require_curation(session, actor, insight)
    values = _clean_changes(session, insight, changes)
    before = curation_snapshot(insight)
    for key, value in values.items():
        if key == "personas":
            if [p.id for p in insight.personas] != [p.id for p in value]:
                insight.personas = value
        elif getattr(insight, key) != value:
            setattr(insight, key, value)
    if "sentiment" in values:
        insight.sentiment_suggested = False
    after = curation_snapshot(insight)
    if after != before:
        insight.updated_at = utcnow()
        changed = sorted(k for k in after if after[k] != before[k])
        audit.record(session, actor, "evidence.edited", "insight", insight.key,
                     before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    if commit:
        session.commit()
    return insight


def merge_evidence(session: Session, actor: Actor, insight_ref: str | int, into: str | int, *,
                   commit: bool = True) -> Insight:
    """Merge a duplicate into its survivor: the duplicate's steps, the opportunities it supports, its volume, personas
    and tags move to the survivor; the duplicate keeps its text and points at the survivor (`merged_into_id`), is
    hidden from lists and counted nowhere. Both insights' audit trails record the merge. Needs curation rights on
    the duplicate as it was and on the survivor as it will be. Returns the survivor."""
    if into in (None, ""):
        raise InvalidInput("into: the insight to merge into is required (e.g. INS-3)", {"into": "required"})
    duplicate = get_insight(session, insight_ref)
    try:
        survivor = get_insight(session, into)
    except NotFound as exc:
        raise NotFound(f"unknown insight '{into}' to merge into (use its key, e.g. INS-3)", {"into": into}) from exc
    if duplicate.id == survivor.id:
        raise InvalidInput(f"{duplicate.key} cannot be merged into itself", {"into": "the same insight"})
    _require_live(duplicate)
    if survivor.merged_into_id is not None:
        target = survivor.merged_into.key if survivor.merged_into else "another insight"
        raise InvalidInput(f"{survivor.key} was itself merged into {target}; merge into {target} instead",
                           {"into": f"merged into {target}"})
    # Both as they stand (a scoped right covers an insight touching one of its journeys, so the survivor's own
    # journeys are checked, not the union it will have after the merge, which the duplicate's right would cover).
    require_curation(session, actor, duplicate)
    require_curation(session, actor, survivor)
    before_dup, before_survivor = curation_snapshot(duplicate), curation_snapshot(survivor)
    for step in list(duplicate.steps):
        if step not in survivor.steps:
            survivor.steps.append(step)
    duplicate.steps.clear()
    for persona in duplicate.personas:
        if persona not in survivor.personas:
            survivor.personas.append(persona)
    survivor.tags = list(dict.fromkeys([*(survivor.tags or []), *(duplicate.tags or [])]))
    survivor.volume = (survivor.volume or 1) + (duplicate.volume or 1)
    moved = []
    for opp in session.scalars(sa.select(Opportunity).join(opportunity_insight)
                               .where(opportunity_insight.c.insight_id == duplicate.id)
                               .order_by(Opportunity.number)).all():
        if survivor not in opp.insights:
            opp.insights.append(survivor)
        opp.insights.remove(duplicate)
        moved.append(opp.key)
    # Duplicates merged into this one earlier now point at the survivor (no chains).
    session.execute(sa.update(Insight).where(Insight.merged_into_id == duplicate.id)
                    .values(merged_into_id=survivor.id))
    duplicate.merged_into = survivor
    now = utcnow()
    duplicate.updated_at = survivor.updated_at = now
    session.flush()
    facts = {"into": survivor.key, "opportunities": moved, "steps": before_dup["steps"],
             "volume": before_dup["volume"]}
    audit.record(session, actor, "evidence.merged", "insight", duplicate.key, before=before_dup,
                 after={**curation_snapshot(duplicate), "moved": facts})
    audit.record(session, actor, "evidence.merged_in", "insight", survivor.key, before=before_survivor,
                 after={**curation_snapshot(survivor), "merged": duplicate.key, "moved": facts})
    if commit:
        session.commit()
    return survivor


def link_many_to_step(session: Session, actor: Actor, insight_refs: list[str], step: str, *,
                      commit: bool = True) -> list[Insight]:
    """Link several insights to one step at once (a theme's "link these N to step …"): two statements to load, one
    audit event per insight that changed."""
    actor.require("evidence.link")
    target = get_step(session, step)
    numbers = []
    for ref in dict.fromkeys(insight_refs):
        match = INS_REF.match(str(ref).strip())
        if not match or len(match.group(1)) > 9:
            raise InvalidInput(f"not an insight key: '{ref}' (e.g. INS-3)", {"insights": ref})
        numbers.append(int(match.group(1)))
    if not numbers:
        raise InvalidInput("name at least one insight", {"insights": "required"})
    found = {i.number: i for i in session.scalars(sa.select(Insight).where(Insight.number.in_(numbers))
                                                  .options(selectinload(Insight.steps)))}
    missing = [f"INS-{n}" for n in numbers if n not in found]
    if missing:
        raise NotFound(f"unknown insight(s): {', '.join(missing)}", {"insights": ", ".join(missing)})
    linked = []
    for n in numbers:
        insight = found[n]
        if insight.merged_into_id is not None or target in insight.steps:
            continue
        before = insight_snapshot(insight)
        insight.steps.append(target)
        audit.record(session, actor, "evidence.linked", "insight", insight.key, before=before,
                     after=insight_snapshot(insight))
        linked.append(insight)
    if commit:
        session.commit()
    return linked


def suggest_missing_sentiment(session: Session, actor: Actor, insight_ref: str | int, *,
                              commit: bool = True) -> Insight:
    """Give an insight without a sentiment the suggested one (VADER, labelled `sentiment_suggested` until a person
    sets it). An insight that has a sentiment keeps it."""
    insight = get_insight(session, insight_ref)
    _require_live(insight)
    actor.require("evidence.record")
    if insight.sentiment is None and insight.redacted_at is None:
        insight.sentiment, insight.sentiment_suggested = suggest_sentiment(insight.text), True
        audit.record(session, actor, "evidence.sentiment_suggested", "insight", insight.key,
                     after={"sentiment": insight.sentiment, "suggested": True})
    if commit:
        session.commit()
    return insight


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
