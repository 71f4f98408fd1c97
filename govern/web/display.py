"""How the web app shows things to people: local times, names instead of handles, history in plain words.

Every page shows times in one zone (the organisation's rituals' zone, so a 10:00 meeting reads 10:00 everywhere) and
people by name. The words for audit actions live here because they are presentation, not rules.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import g
from sqlalchemy.orm import Session

from govern.model import SOLUTION_STATE_TITLES, Insight, Kpi, Ritual
from govern.queries.reference import reference

FALLBACK_ZONE = "UTC"


def display_zone(session: Session) -> ZoneInfo:
    """The zone pages show times in: the one most active rituals use (the council's own clock), else UTC."""
    if "display_zone" in g:
        return g.display_zone
    rows = session.execute(sa.select(Ritual.timezone, sa.func.count()).where(Ritual.active.is_(True))
                           .group_by(Ritual.timezone).order_by(sa.func.count().desc(), Ritual.timezone)).all()
    zone = ZoneInfo(FALLBACK_ZONE)
    for name, _count in rows:
        try:
            zone = ZoneInfo(name)
            break
        except (KeyError, ValueError):
            continue
    g.display_zone = zone
    return zone


def as_local(when: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    aware = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)  # the database stores naive UTC
    return aware.astimezone(zone)


def local_time(when: dt.datetime | str | None, zone: ZoneInfo, *, weekday: bool = False) -> str:
    """'25 Nov 2026, 10:00 CET' (or 'Wed 25 Nov 2026, 10:00 CET')."""
    if when is None or when == "":
        return "–"
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return when
    local = as_local(when, zone)
    return local.strftime(("%a " if weekday else "") + "%-d %b %Y, %H:%M %Z")


def local_day(when: dt.date | dt.datetime | None, zone: ZoneInfo | None = None) -> str:
    """'25 Nov 2026' for a date, or for a moment in the display zone."""
    if when is None or when == "":
        return "–"
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if "T" in when else dt.date.fromisoformat(when)
        except ValueError:
            return when
    if isinstance(when, dt.datetime):
        when = as_local(when, zone).date() if zone else when.date()
    return when.strftime("%-d %b %Y")


def iso_local(when: dt.datetime, zone: ZoneInfo) -> str:
    """Machine-readable form for <time datetime=…>."""
    return as_local(when, zone).isoformat(timespec="minutes")


# --- names ------------------------------------------------------------------------------------------------------------


class Names:
    """Handles, journey keys, KPI and insight keys → the words people use, loaded once per page (one query each)."""

    def __init__(self, session: Session):
        self.session = session
        self._people: dict[str, str] | None = None
        self._journeys: dict[str, str] | None = None
        self._kpis: dict[str, str] | None = None

    def person(self, handle: str | None) -> str:
        if self._people is None:  # from the transaction's reference snapshot (read once, whoever asks)
            self._people = {p.handle: p.name for p in reference(self.session).people}
        if not handle:
            return "nobody"
        if handle.startswith("manual:"):
            handle = handle.split(":", 1)[1]
        return self._people.get(handle) or {"system": "the system", "scheduler": "the scheduler"}.get(handle, handle)

    def journey(self, key: str) -> str:
        if self._journeys is None:
            self._journeys = {j.key: j.name for j in reference(self.session).journeys}
        return self._journeys.get(key, key)

    def kpi(self, key: str) -> str:
        if self._kpis is None:
            self._kpis = dict(self.session.execute(sa.select(Kpi.key, Kpi.name)).all())
        return self._kpis.get(key, key)


_PARENTHESES = re.compile(r"\(([^()]*)\)")
_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def with_names(text: str, n: Names, me: str | None = None) -> str:
    """Handles inside parentheses in generated words become names: '(owner lotte)' → '(owner Lotte de Vries)'."""
    n.person("")  # load the table once
    people = n._people or {}

    def inside(match: re.Match) -> str:
        body = _WORD.sub(lambda w: ("you" if w.group(0) == me else people.get(w.group(0), w.group(0))),
                         match.group(1))
        return f"({body})"
    return _PARENTHESES.sub(inside, text or "")


def names(session: Session) -> Names:
    if "display_names" not in g:
        g.display_names = Names(session)
    return g.display_names


# --- history in plain words -------------------------------------------------------------------------------------------

ACTION_WORDS = {
    "opportunity.created": "created it",
    "opportunity.updated": "edited it",
    "opportunity.evidence_linked": "linked evidence",
    "opportunity.kpi_baseline_recorded": "recorded the KPI baseline",
    "opportunity.outcome_recorded": "recorded the outcome",
    "opportunity.scored": "recorded scoring inputs",
    "opportunity.state_imported": "brought it in from the earlier records",
    "opportunity.transitioned": "moved it",
    "transition.requested": "asked to move it",
    "approval.approved": "approved",
    "approval.rejected": "rejected",
    "approval.withdrawn": "withdrew the request",
    "solution.added": "added a solution",
    "solution.updated": "updated a solution",
    "solution.backlog_items_linked": "linked backlog items",
    "ritual.decision": "recorded a decision",
    "ritual.held": "recorded the minutes",
    "evidence.recorded": "recorded evidence",
    "evidence.linked": "linked evidence to steps",
}

FIELD_WORDS = {"title": "statement", "description": "description", "owner": "owner", "journeys": "journeys",
               "insights": "evidence", "kpis": "KPIs", "state": "state", "version": None, "key": None}


def action_words(action: str) -> str:
    if action in ACTION_WORDS:
        return ACTION_WORDS[action]
    noun, _, verb = action.partition(".")
    return f"{verb.replace('_', ' ')} ({noun.replace('_', ' ')})" if verb else action.replace("_", " ")


def _show(field: str, value: Any, n: Names, state_title) -> str:
    if value in (None, "", []):
        return "nothing"
    if field == "owner":
        return n.person(value)
    if field == "journeys":
        return ", ".join(n.journey(k) for k in value)
    if field == "kpis":
        return ", ".join(n.kpi(k) for k in value)
    if field == "state":
        return state_title(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def changes_between(before: dict | None, after: dict | None, n: Names, state_title=lambda s: s) -> list[dict]:
    """What changed from one snapshot to the next, field by field, in words ('owner: Lotte de Vries → Femke Jansen')."""
    before, after = before or {}, after or {}
    out = []
    for field in after:
        label = FIELD_WORDS.get(field, field.replace("_", " "))
        if label is None or before.get(field) == after.get(field) or field not in before:
            continue
        out.append({"field": field, "label": label, "before": _show(field, before.get(field), n, state_title),
                    "after": _show(field, after.get(field), n, state_title)})
    return out


def describe_events(session: Session, events: Iterable, state_title=lambda s: s) -> list[dict]:
    """Audit events of an entity as lines a person reads: when (local), who (name), what (words), which changes."""
    zone = display_zone(session)
    n = names(session)
    out = []
    for e in events:
        before, after = e.before or {}, e.after or {}
        move = None
        solution = e.action.startswith("solution.")
        title = (lambda st: SOLUTION_STATE_TITLES.get(st, st)) if solution else state_title  # noqa: E731
        if after.get("state") and before.get("state") and after["state"] != before["state"]:
            move = (title(before["state"]), title(after["state"]))
        elif after.get("to") and after.get("from"):
            move = (state_title(after["from"]), state_title(after["to"]))
        detail = None
        if e.action in ("solution.added", "solution.updated") and after.get("title"):
            detail = f"“{after['title']}”" + (f" is {SOLUTION_STATE_TITLES.get(after['state'], after['state']).lower()}"
                                              if after.get("state") else "")
        elif e.action == "opportunity.evidence_linked":
            added = [k for k in after.get("insights", []) if k not in before.get("insights", [])]
            detail = ", ".join(added) or None
        elif e.action == "opportunity.state_imported" and after.get("state"):
            detail = f"in {state_title(after['state'])}"
        out.append({"id": e.id, "at": local_time(e.at, zone), "iso": iso_local(e.at, zone),
                    "who": n.person(e.actor), "what": action_words(e.action), "move": move, "detail": detail,
                    "changes": changes_between(before, after, n, state_title) if e.action.endswith("updated")
                    and not e.action.startswith("solution") else [],
                    "reason": e.reason, "guards": after.get("guards") or []})
    return out


def insight_label(insight: Insight) -> str:
    text = insight.text if len(insight.text) <= 90 else insight.text[:89].rstrip() + "…"
    return f"{insight.key} — {text}"
