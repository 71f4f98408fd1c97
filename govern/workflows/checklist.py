"""Checklist guards: checks a lifecycle declares (`checks:`), ticked by the people it names, with who, when and a link.

A transition that lists a check as a guard (`guards: [safety_case]`) moves only once the check is ticked for that
opportunity; the guard answers in the same plain words as every other guard, in every entry point.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from govern.model import ChecklistTick, Opportunity, Person, utcnow
from govern.policy import Actor
from govern.services.common import get_opportunity
from govern.workflows import approvals
from govern.workflows.definition import CheckDef
from govern.workflows.services import lifecycle_of


def _check(session: Session, opp: Opportunity, key: str) -> CheckDef:
    checks = lifecycle_of(session, opp).definition.checks
    if key not in checks:
        known = ", ".join(checks) or "none"
        raise NotFound(f"the lifecycle of {opp.key} has no check {key!r} (checks: {known})", {"check": key})
    return checks[key]


def may_tick(actor: Actor, check: CheckDef, opp: Opportunity) -> bool:
    """Whether this person is one of the check's tickers (a listed role on one of the opportunity's journeys, or a
    listed person); the local operator never ticks: a check records who vouched for it."""
    if actor.person_id is None:
        return False
    return approvals.may_request(actor, check.tickers, [j.id for j in opp.journeys])


def _valid_link(check: CheckDef, link: str | None) -> str | None:
    link = link.strip() if isinstance(link, str) and link.strip() else None
    if link is None:
        if check.link == "required":
            raise InvalidInput(f"“{check.title}” needs a link to its evidence (a document or ticket)",
                               {"link": "required"})
        return None
    if check.link == "none":
        raise InvalidInput(f"“{check.title}” takes no link", {"link": "not allowed for this check"})
    parsed = urlparse(link)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(link) > 500:
        raise InvalidInput(f"the link must be an http(s) address of at most 500 characters, got {link[:80]!r}",
                           {"link": "not an http(s) address"})
    return link


def tick_check(session: Session, actor: Actor, opportunity_ref: str | int, check_key: str, *,
               link: str | None = None, note: str | None = None) -> ChecklistTick:
    """Tick a check for an opportunity as `actor` (one of the check's tickers), with an optional link and note."""
    opp = get_opportunity(session, opportunity_ref)
    check = _check(session, opp, check_key)
    if not may_tick(actor, check, opp):
        who = approvals.describe_requesters(check.tickers)
        raise PermissionDenied(
            (f"{actor.handle} may not tick “{check.title}”: that is for {who}" if actor.person_id is not None else
             f"the local operator cannot tick “{check.title}”; act as a person (--as HANDLE): {who}"),
            {"check": check.key, "tickers": list(check.tickers)})
    link = _valid_link(check, link)
    note = note.strip() if isinstance(note, str) and note.strip() else None
    if session.scalar(sa.select(ChecklistTick.id).where(ChecklistTick.opportunity_id == opp.id,
                                                        ChecklistTick.check == check.key)) is not None:
        raise Conflict(f"“{check.title}” is already ticked for {opp.key}", {"check": check.key})
    tick = ChecklistTick(opportunity_id=opp.id, check=check.key, ticked_by_id=actor.person_id, ticked_at=utcnow(),
                         link=link, note=note)
    session.add(tick)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"“{check.title}” was just ticked for {opp.key} by someone else", {"check": check.key}) \
            from None
    audit.record(session, actor, "check.ticked", "opportunity", opp.key,
                 after={"check": check.key, "title": check.title, "link": link, "note": note})
    session.commit()
    return tick


def untick_check(session: Session, actor: Actor, opportunity_ref: str | int, check_key: str,
                 reason: str | None = None) -> None:
    """Take a tick back (the check's tickers may); the audit log keeps who ticked and who took it back."""
    opp = get_opportunity(session, opportunity_ref)
    check = _check(session, opp, check_key)
    if not may_tick(actor, check, opp):
        raise PermissionDenied(f"{actor.handle} may not untick “{check.title}”: that is for "
                               f"{approvals.describe_requesters(check.tickers)}", {"check": check.key})
    tick = session.scalar(sa.select(ChecklistTick).where(ChecklistTick.opportunity_id == opp.id,
                                                         ChecklistTick.check == check.key))
    if tick is None:
        raise Conflict(f"“{check.title}” is not ticked for {opp.key}", {"check": check.key})
    before = {"check": check.key, "link": tick.link, "ticked_at": tick.ticked_at,
              "ticked_by": tick.ticked_by.handle if tick.ticked_by else None}
    session.delete(tick)
    audit.record(session, actor, "check.unticked", "opportunity", opp.key, before=before, reason=reason)
    session.commit()


def checklist(session: Session, actor: Actor, opportunity_ref: str | int | Opportunity) -> list[dict[str, Any]]:
    """Every check of the opportunity's lifecycle: what it asks, who may tick it, and whether (by whom, when, with
    which link) it is ticked now; `may_tick` says whether this actor may."""
    opp = opportunity_ref if isinstance(opportunity_ref, Opportunity) else get_opportunity(session, opportunity_ref)
    actor.require("read")
    checks = lifecycle_of(session, opp).definition.checks
    if not checks:
        return []
    ticks = {t.check: t for t in session.scalars(sa.select(ChecklistTick).where(ChecklistTick.opportunity_id == opp.id))}
    handles = dict(session.execute(sa.select(Person.id, Person.handle).where(
        Person.id.in_([t.ticked_by_id for t in ticks.values() if t.ticked_by_id is not None]))).all())
    out = []
    for check in checks.values():
        tick = ticks.get(check.key)
        out.append({**check.to_dict(), "who_may_tick": approvals.describe_requesters(check.tickers),
                    "ticked": tick is not None, "may_tick": may_tick(actor, check, opp),
                    "ticked_by": handles.get(tick.ticked_by_id) if tick else None,
                    "ticked_at": tick.ticked_at if tick else None, "link": tick.link if tick else None,
                    "note": tick.note if tick else None})
    return out
