"""Council and rituals: members by role, the next occurrences, an occurrence's agenda and its minutes."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from flask import redirect, render_template, request, url_for
from zoneinfo import ZoneInfo

from govern.errors import GovernError, InvalidInput, NotFound
from govern.http.request import runtime
from govern.model import (
    COUNCIL_ROLES, ApprovalRequest, CouncilSeat, Decision, FollowUp, Journey, Person, RitualOccurrence, utcnow,
)
from govern.queries.requests import pending_requests
from govern.web import bp
from govern.web.support import actor, db_session, field_errors, flash_message, form_list, login_required, render_error
from govern.rituals import services as ritual_services


def local_time(when: dt.datetime, timezone: str) -> str:
    """A ritual's time as its members read it: in the ritual's own time zone ('Wed 25 Nov 2026, 10:00 CET')."""
    aware = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    try:
        return aware.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %Y, %H:%M %Z")
    except (KeyError, ValueError):
        return aware.strftime("%a %d %b %Y, %H:%M UTC")


ROLE_TITLES = {"lead": "Council lead", "manager": "Manager", "coordinator": "Coordinators", "supporter": "Supporters"}


@bp.get("/council")
@login_required
def council():
    session = db_session()
    me = actor()
    seats = session.execute(sa.select(CouncilSeat, Person, Journey).join(Person, CouncilSeat.person_id == Person.id)
                            .outerjoin(Journey, CouncilSeat.journey_id == Journey.id)
                            .order_by(Person.name)).all()
    by_role = [(role, ROLE_TITLES[role], [(p, j) for s, p, j in seats if s.role == role]) for role in COUNCIL_ROLES]
    owners = session.execute(sa.select(Journey, Person).outerjoin(Person, Journey.owner_id == Person.id)
                             .order_by(Journey.name)).all()
    upcoming = ritual_services.upcoming(session, me, limit=8)
    rituals = ritual_services.list_rituals(session, me)
    recent = list(session.scalars(sa.select(RitualOccurrence).where(
        RitualOccurrence.scheduled_at <= utcnow()).order_by(RitualOccurrence.scheduled_at.desc())
        .limit(8)))
    # the signed-in person's own open follow-ups (they may close them; the page of each meeting has the minutes)
    mine = ritual_services.open_follow_ups(session, me, owner=me.handle) if me.person_id is not None else []
    ids = {f.occurrence_id for f in mine if f.occurrence_id}
    meetings = {o.id: o for o in session.scalars(sa.select(RitualOccurrence).where(RitualOccurrence.id.in_(ids)))} \
        if ids else {}
    return render_template("council.html", by_role=by_role, owners=owners, upcoming=upcoming, rituals=rituals,
                           recent=recent, local_time=local_time, my_follow_ups=mine,
                           meetings=meetings)


@bp.get("/rituals/<key>")
@login_required
def ritual(key: str):
    """One ritual: what it is for, who attends, its next occurrences and every past one (with or without minutes)."""
    return _ritual_page(key)


@bp.post("/rituals/<key>/calendar")
@login_required
def ritual_calendar(key: str):
    """A calendar subscription link for this ritual (an unguessable feed token; shown this once, only its hash is
    kept). The feed shows moved, skipped and cancelled meetings with their reason."""
    session = db_session()
    try:
        issued = ritual_services.create_calendar_token(session, actor(), ritual=key)
    except NotFound as exc:
        return render_error(404, exc.message)
    base = (runtime().config.base_url or request.host_url).rstrip("/")
    flash_message("ok", "your calendar link is below; it is shown this once")
    return _ritual_page(key, feed_url=base + issued.path)


def _ritual_page(key: str, feed_url: str | None = None):
    session = db_session()
    me = actor()
    try:
        r = ritual_services.get_ritual(session, key)
    except NotFound as exc:
        return render_error(404, exc.message)
    before = None
    raw_before = request.args.get("before", "").strip()
    if raw_before:
        try:
            before = dt.datetime.fromisoformat(raw_before.replace("Z", "+00:00"))
        except ValueError:
            return render_error(400, f"'before' must be a moment such as 2026-11-25T09:00:00Z, got '{raw_before}'")
    upcoming = ritual_services.upcoming(session, me, ritual=r.key, limit=6) if before is None else []
    past = ritual_services.past_occurrences(session, me, r.key, limit=12, before=before)
    decisions = _decision_counts(session, [p.occurrence.id for p in past if p.occurrence is not None])
    attendees = sorted(_expected_attendees(session, r))
    people = dict(session.execute(sa.select(Person.handle, Person.name)).all())
    return render_template("ritual.html", ritual=r, upcoming=upcoming, past=past, decisions=decisions,
                           attendees=[people.get(h, h) for h in attendees], local_time=local_time,
                           feed_url=feed_url,
                           older=past[-1].scheduled_at.isoformat().replace("+00:00", "Z") if len(past) == 12
                           else None)


def _decision_counts(session, occurrence_ids: list[int]) -> dict[int, int]:
    if not occurrence_ids:
        return {}
    return dict(session.execute(sa.select(Decision.occurrence_id, sa.func.count()).where(
        Decision.occurrence_id.in_(occurrence_ids)).group_by(Decision.occurrence_id)).all())


@bp.route("/rituals/<key>/at/<when>", methods=["GET", "POST"])
@login_required
def ritual_occurrence_at(key: str, when: str):
    """An occurrence by its ritual and time. Looking records nothing: a recorded one redirects to its page, an
    unrecorded one is shown from the cadence; a write to it (the forms below) records it in the write's transaction."""
    session = db_session()
    actor().require("read")
    try:
        ritual = ritual_services.get_ritual(session, key)
        if when in ("next", "last"):  # /rituals/<key>/at/next: the coming meeting; /at/last: the latest begun
            occurrence = ritual_services.resolve_occurrence(session, ritual, default=when, record=False)
        else:
            occurrence = ritual_services.resolve_occurrence(session, ritual, at=when, record=False)
    except (InvalidInput, NotFound) as exc:
        return render_error(404, exc.message)
    if occurrence.id is not None:
        return redirect(url_for("web.occurrence", occurrence_id=occurrence.id), 307 if request.method == "POST"
                        else 302)
    occurrence.ritual = ritual
    ref = ritual_services.At(ritual.key, ritual_services.iso(occurrence.scheduled_at))
    return _occurrence_page(session, occurrence, ref)


def _minutes_form_values(form) -> dict:
    return {"attendance": form_list("attendance"), "notes": form.get("notes", ""),
            "decision_text": form.get("decision_text", ""), "decision_request": form.get("decision_request", ""),
            "decision_opportunity": form.get("decision_opportunity", "").strip(),
            "decision_outcome": form.get("decision_outcome", "noted"),
            "decision_reason": form.get("decision_reason", ""),
            "follow_up_text": form.get("follow_up_text", ""), "follow_up_owner": form.get("follow_up_owner", ""),
            "follow_up_due": form.get("follow_up_due", "")}


FOLLOW_UP_ROWS = 3


DECIDE = re.compile(r"^decide_(\d+)$")


def _meeting_decisions(session, form) -> list[dict]:
    """One decision per request the meeting decided in place (`decide_<id>` = approve | reject). Every posted choice
    goes to the rituals service, also for a request that is no longer pending (decided by someone else since the page
    was shown): the service refuses it with a message, rather than the choice being dropped."""
    out = []
    for name, choice in form.items(multi=True):
        match = DECIDE.match(name)
        if not match or choice not in ("approve", "reject"):
            continue
        request_id = int(match.group(1))
        r = session.get(ApprovalRequest, request_id)
        reason = form.get(f"reason_{request_id}", "").strip()
        verb = "Approved" if choice == "approve" else "Rejected"
        what = f"{r.trigger.replace('_', ' ')} {r.opportunity.key}" if r is not None else f"request #{request_id}"
        item = {"text": f"{verb}: {what}", "outcome": choice, "request": request_id}
        if reason:
            item["reason"] = reason
        out.append(item)
    return out


@bp.route("/occurrences/<int:occurrence_id>", methods=["GET", "POST"])
@login_required
def occurrence(occurrence_id: int):
    """An occurrence's agenda (built from live data until it is posted), its minutes, and meeting mode."""
    session = db_session()
    try:
        occ = ritual_services.get_occurrence(session, occurrence_id)
    except NotFound as exc:
        return render_error(404, exc.message)
    return _occurrence_page(session, occ, occ.id)


def _pending_at(session, occ) -> list:
    """The requests the meeting can decide: pending now, and made before the meeting ended (a meeting's decision list
    offers what existed then)."""
    return [r for r in pending_requests(session) if ritual_services.made_before_it_ended(occ, r)]


def _occurrence_page(session, occ, ref):
    me = actor()
    errors: dict[str, str] = {}
    status = 200
    action = request.form.get("action", "minutes") if request.method == "POST" else None
    values = _minutes_form_values(request.form) if request.method == "POST" else None
    pending = _pending_at(session, occ)
    if request.method == "POST":
        try:
            if action in ("skip", "cancel", "move", "agenda_item"):
                return _occurrence_action(session, me, ref, action)
            decisions = _meeting_decisions(session, request.form)
            follow_ups = []
            if values["decision_text"].strip() or values["decision_outcome"] in ("approve", "reject"):
                decision = {"text": values["decision_text"], "outcome": values["decision_outcome"] or None}
                if values["decision_request"]:
                    decision["request"] = values["decision_request"]
                if values["decision_opportunity"]:
                    decision["opportunity"] = values["decision_opportunity"]
                if values["decision_reason"].strip():
                    decision["reason"] = values["decision_reason"]
                decisions.append(decision)
            for n in range(FOLLOW_UP_ROWS):
                suffix = "" if n == 0 else f"_{n}"
                text, owner = request.form.get(f"follow_up_text{suffix}", ""), request.form.get(
                    f"follow_up_owner{suffix}", "")
                due = request.form.get(f"follow_up_due{suffix}", "")
                if text.strip() or owner or due:
                    follow_ups.append({"text": text, "owner": owner or None, "due_on": due or None})
            held = ritual_services.hold_ritual(session, me, ref, attendance=values["attendance"],
                                               notes=values["notes"], decisions=decisions, follow_ups=follow_ups)
        except GovernError as exc:
            session.rollback()
            if exc.http_status == 403 and not me.can("ritual.record"):
                raise  # not theirs to record at all: the refusal page, with its message
            # someone who records, refused one thing (a decision only the lead may take, a move into the past …):
            # the page again with the message and everything they typed
            errors = field_errors(exc)
            errors.setdefault("_form", exc.message)
            status = exc.http_status if exc.http_status in (403, 409) else 422
        else:
            said = ["the minutes"]
            if decisions:
                said.append(f"{len(decisions)} decision" + ("s" if len(decisions) > 1 else ""))
            if follow_ups:
                said.append(f"{len(follow_ups)} follow-up" + ("s" if len(follow_ups) > 1 else ""))
            flash_message("ok", ("saved " + ", ".join(said[:-1]) + " and " + said[-1]) if len(said) > 1
                          else "the minutes were saved")
            return redirect(url_for("web.occurrence", occurrence_id=held.id) + "#minutes")
        if occ.id is not None:
            occ = ritual_services.get_occurrence(session, occ.id)
        pending = _pending_at(session, occ)
    if occ.id is not None:
        agenda = ritual_services.agenda_for(session, me, occ.ritual.key, occurrence_id=occ.id)
        minutes = ritual_services.minutes(session, me, occ.id)
        versions = ritual_services.minutes_versions(session, me, occ.id)
    else:
        agenda = ritual_services.agenda_for(session, me, occ.ritual.key, at=ref.when)
        minutes = {"attendance": [], "notes": None, "decisions": [], "follow_ups": []}
        versions = []
    items = ritual_services.agenda_items(session, occ.id)
    if values is None:
        values = {"attendance": [a["person"] for a in minutes["attendance"] if a["present"]], "notes":
                  minutes["notes"] or "", "decision_text": "", "decision_request": "", "decision_opportunity": "",
                  "decision_outcome": "noted", "decision_reason": "", "follow_up_text": "", "follow_up_owner": "",
                  "follow_up_due": ""}
    people = session.scalars(sa.select(Person).where(Person.active.is_(True)).order_by(Person.name)).all()
    attendees = _expected_attendees(session, occ.ritual)
    meets = ritual_services.effective_at(occ).replace(tzinfo=None)
    # Minutes are recorded from the day before onwards (the rituals service refuses earlier ones).
    opens = meets - dt.timedelta(days=1)
    recorded_by = session.get(Person, occ.recorded_by_id).name if occ.recorded_by_id else None
    action_url = (url_for("web.occurrence", occurrence_id=occ.id) if occ.id is not None else
                  url_for("web.ritual_occurrence_at", key=occ.ritual.key, when=ref.when))
    open_follow_ups = [f for f in session.scalars(sa.select(FollowUp).where(
        FollowUp.occurrence_id == occ.id).order_by(FollowUp.id))] if occ.id is not None else []
    return render_template("occurrence.html", occ=occ, agenda=agenda, minutes=minutes, values=values, errors=errors,
                           recorded_by=recorded_by, action_url=action_url, versions=versions, items=items,
                           people=people, attendees=attendees, pending=pending, minutes_open_on=opens,
                           meets_at=meets, upcoming=utcnow() < meets, follow_up_rows=FOLLOW_UP_ROWS,
                           follow_up_records=open_follow_ups, me_id=me.person_id,
                           recordable=utcnow() >= opens, can_record=me.can("ritual.record"), action=action), \
        status


def _occurrence_action(session, me, ref, action):
    form = request.form
    reason = form.get("reason", "")
    if action == "skip":
        occ = ritual_services.skip_occurrence(session, me, ref, reason=reason)
        flash_message("ok", "the meeting was skipped")
    elif action == "cancel":
        occ = ritual_services.cancel_occurrence(session, me, ref, reason=reason)
        flash_message("ok", "the meeting was cancelled")
    elif action == "move":
        occ = ritual_services.move_occurrence(session, me, ref, to=form.get("to", ""), reason=reason)
        flash_message("ok", "the meeting was moved")
    else:
        item = ritual_services.add_agenda_item(session, me, ref, text=form.get("text", ""))
        occ = ritual_services.get_occurrence(session, item.occurrence_id)
        flash_message("ok", "the item was added to the agenda")
    return redirect(url_for("web.occurrence", occurrence_id=occ.id))


@bp.post("/follow-ups/<int:follow_up_id>/done")
@login_required
def follow_up_done(follow_up_id: int):
    """Close a follow-up: its owner may (and whoever records rituals)."""
    session = db_session()
    follow_up = ritual_services.complete_follow_up(session, actor(), follow_up_id)
    flash_message("ok", "the follow-up is done")
    back = request.form.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect(url_for("web.occurrence", occurrence_id=follow_up.occurrence_id) if follow_up.occurrence_id
                    else url_for("web.council"))


def _expected_attendees(session, ritual) -> set[str]:
    roles = set(ritual.attendee_roles or [])
    handles = set(ritual.attendee_people or [])
    for role, handle in session.execute(sa.select(CouncilSeat.role, Person.handle)
                                        .join(Person, CouncilSeat.person_id == Person.id)):
        if role in roles:
            handles.add(handle)
    return handles
