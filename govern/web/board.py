"""The portfolio board (opportunities by lifecycle state, in rank order) and the approvals inbox."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from govern.errors import GovernError, InvalidInput
from govern.queries.cards import opportunity_cards
from govern.queries.lists import PAGE_SIZES, Page, page_of
from govern.queries.reference import reference
from govern.services.common import get_opportunity
from govern.web import bp
from govern.web.readmodel import (
    board_columns, decision_rights, lifecycle_view, request_summaries,
)
from govern.web.support import actor, db_session, flash_message, get_or_404, login_required, safe_next
from govern.workflows import services as lifecycle_services


BOARD_CAP = 8  # cards per column before "show N more": a projector shows this many at a readable size
SHORT_TITLE = 70


def short_title(title: str) -> str:
    """The statement without its "How might we" opening, cut at a word near 70 characters (full title on hover)."""
    text = title.strip()
    for opening in ("How might we ", "how might we "):
        if text.startswith(opening):
            text = text[len(opening):]
            text = text[:1].upper() + text[1:]
    if len(text) > SHORT_TITLE:
        text = text[:SHORT_TITLE].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return text


def _size(count: int) -> str:
    """Column width by content: empty columns stay narrow, full ones take the room."""
    return "empty" if count == 0 else "few" if count <= 2 else "many"


@bp.get("/board")
@login_required
def board():
    """Columns by lifecycle state, ordered by rank; filters by journey subtree, owner, persona and text."""
    session = db_session()
    filters = {k: request.args.get(k, "").strip() for k in ("journey", "owner", "persona", "q")}
    lifecycle = lifecycle_view(session)
    cap = None if request.args.get("cap") == "all" else BOARD_CAP
    try:
        found = board_columns(session, per_state=cap, journey=filters["journey"], owner=filters["owner"],
                              persona=filters["persona"], text=filters["q"])
    except GovernError as exc:  # an unknown journey/owner/persona in the query string
        found, filters["error"] = {}, exc.message
    me = actor()
    columns, closed, shown_cards = [], [], []
    for state in lifecycle.states:
        # Every column shows at most `cap` cards (closed ones too): what the page reads is bounded by the cap.
        found_column = found.get(state)
        shown = found_column.rows if found_column else []
        count = found_column.count if found_column else 0
        for card in shown:  # its place in the column's running order; a closed item has none
            card["column_rank"] = card["rank"] if lifecycle.is_open(state) else None
        shown_cards.extend(shown)
        column = {"state": state, "title": lifecycle.title_of(state), "description": lifecycle.descriptions.get(state, ""),
                  "cards": shown, "count": count, "shown": len(shown), "size": _size(count)}
        (columns if lifecycle.is_open(state) else closed).append(column)
    # The cards shown (with their journeys, evidence summary and pending requests) and, for someone who may act,
    # their transitions, computed from what the cards already read.
    cards = opportunity_cards(session, [card["number"] for card in shown_cards])
    moves = lifecycle_services.available_transitions_many(session, me, cards.values())
    for card in shown_cards:
        opp = card["opportunity"] = cards[card["number"]]
        card["pending"] = opp.pending
        card["short_title"] = short_title(card["title"])
        card["transitions"] = [t for t in moves.get(opp.id, []) if t.get("may_request")]
    ref = reference(session)  # the filters' choices, from the transaction's snapshot
    options = {
        "journeys": [(j.key, j.name) for j in ref.journeys_by_name()],
        "owners": [(p.handle, p.name) for p in ref.active_people()],
        "personas": [(p.key, p.name) for p in ref.personas],
    }
    return render_template("board.html", columns=columns, closed=closed, filters=filters, options=options,
                           lifecycle=lifecycle, cap=cap, total=sum(column.count for column in found.values()),
                           can_create=me.can("opportunity.create"))


@bp.post("/opportunities/<ref>/transition")
@login_required
def request_transition(ref: str):
    """Move an opportunity (or ask for approval to); the lifecycle engine checks permission, guards and approvals."""
    session = db_session()
    back = safe_next(request.form.get("next"), url_for("web.opportunity", ref=ref))
    opp = get_or_404(get_opportunity, session, ref)
    trigger = request.form.get("trigger", "")
    version = request.form.get("version")
    try:
        result = lifecycle_services.request_transition(
            session, actor(), opp.key, trigger, reason=request.form.get("reason") or None,
            expected_version=int(version) if version and version.isdigit() else None)
    except InvalidInput as exc:
        flash_message("error", f"{trigger}: {exc.message}")
        return redirect(url_for("web.opportunity", ref=opp.key, trigger=trigger) + "#transitions")
    except GovernError as exc:
        if exc.http_status == 403:
            raise
        session.rollback()
        flash_message("error", exc.message)
        return redirect(back)
    flash_message("ok", result.message)
    return redirect(back)


INBOX_SECTIONS = ("awaiting", "mine", "others")  # each pages on its own: ?awaiting=2, ?mine=3, ...


def _inbox_page(rows: list, page_arg: str | None, per_page: int) -> Page:
    """One section of the inbox as a page of `per_page` requests (oldest first); a page past the end shows the last."""
    number = int(page_arg) if page_arg and page_arg.isdigit() and int(page_arg) > 0 else 1
    return page_of(rows, number, per_page)


def _inbox_url(section: str, number: int) -> str:
    """This inbox with one section at another page (the other sections' pages and the page size are kept)."""
    args = {key: request.args[key] for key in (*INBOX_SECTIONS, "per_page") if request.args.get(key)}
    args[section] = str(number)
    if number == 1:
        del args[section]
    return url_for("web.approvals", **args) + f"#{section}"


@bp.get("/approvals")
@login_required
def approvals():
    """What awaits me (approve or reject in place), and the requests I made that are still pending; each section paged
    (25, 50 or 100 a page, oldest first), so what the page reads and renders is bounded by the page size."""
    session = db_session()
    me = actor()
    per_page = int(request.args.get("per_page", "")) if request.args.get("per_page", "") in map(str, PAGE_SIZES) \
        else PAGE_SIZES[0]
    # Every pending request with where it stands (to sort them into the sections and count them), read at once.
    everything, statuses = lifecycle_services.pending_with_status(session)
    status_of = {r.id: status for r, status in zip(everything, statuses)}
    awaiting = [lifecycle_services.Awaiting(r, status.eligible()[me.person_id], status)
                for r, status in zip(everything, statuses) if me.person_id in status.eligible()]
    g.awaiting_count = len(awaiting)  # the header's badge counts the same requests: not read again
    awaiting_ids = {a.request.id for a in awaiting}
    mine = [r for r in everything if r.requested_by_id == me.person_id]
    others = [r for r in everything if r.requested_by_id != me.person_id and r.id not in awaiting_ids]
    pages = {"awaiting": _inbox_page(awaiting, request.args.get("awaiting"), per_page),
             "mine": _inbox_page(mine, request.args.get("mine"), per_page),
             "others": _inbox_page(others, request.args.get("others"), per_page)}
    # Only the requests shown need their journeys (decision rights), rights and summaries.
    shown = [a.request for a in pages["awaiting"].rows] + pages["mine"].rows + pages["others"].rows
    lifecycle_services.load_journeys(session, [r.opportunity for r in shown])
    rights = {r.id: decision_rights(session, me, r, status_of[r.id]) for r in shown}
    summaries = request_summaries(session, me, [a.request for a in pages["awaiting"].rows])
    return render_template("approvals.html", pages=pages, rights=rights, summaries=summaries,
                           page_url=_inbox_url, page_sizes=PAGE_SIZES, per_page=per_page,
                           here=request.full_path.rstrip("?"))


def _decide(request_id: int, decision: str):
    session = db_session()
    back = safe_next(request.form.get("next"), url_for("web.approvals"))
    reason = (request.form.get("reason") or "").strip() or None
    version = request.form.get("version")
    expected = int(version) if version and version.isdigit() else None
    try:
        if decision == "approve":
            result = lifecycle_services.approve_request(session, actor(), request_id, reason=reason,
                                                        expected_version=expected)
            message = result.message
        elif decision == "reject":
            result = lifecycle_services.reject_request(session, actor(), request_id, reason or "",
                                                       expected_version=expected)
            message = f"request #{result.id} rejected ({result.opportunity.key} stays in {result.from_state})"
        else:
            result = lifecycle_services.withdraw_request(session, actor(), request_id, reason=reason)
            message = f"request #{result.id} withdrawn"
    except GovernError as exc:
        if exc.http_status in (403, 404):
            raise  # a forged or stale form: the service refused; show the error page
        session.rollback()
        flash_message("error", exc.message)
        return redirect(back)
    flash_message("ok", message)
    return redirect(back)


@bp.post("/approvals/<int:request_id>/approve")
@login_required
def approve(request_id: int):
    return _decide(request_id, "approve")


@bp.post("/approvals/<int:request_id>/reject")
@login_required
def reject(request_id: int):
    return _decide(request_id, "reject")


@bp.post("/approvals/<int:request_id>/withdraw")
@login_required
def withdraw(request_id: int):
    return _decide(request_id, "withdraw")
