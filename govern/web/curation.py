"""Evidence curation in the web app: the triage list (link a suggested step in one click), editing, unlinking,
deleting and merging an insight, and the themes view. Every write goes through govern.services.evidence; every read
through govern.queries.triage (suggestions are computed locally and labelled as such on every page)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import redirect, render_template, request, url_for

from govern.errors import GovernError, InvalidInput, NotFound
from govern.model import Opportunity, Persona, opportunity_insight
from govern.queries.suggestions import THEMES_CAP
from govern.queries.triage import likely_duplicates, suggestions_for, themes_view, triage_count, triage_page
from govern.services.common import get_insight
from govern.services.evidence import (
    delete_evidence, edit_evidence, evidence_kinds, link_evidence_to_steps, link_many_to_step, may_curate,
    merge_evidence, unlink_evidence_from_step,
)
from govern.web import bp
from govern.web.support import (
    actor, db_session, field_errors, flash_message, form_list, get_or_404, login_required, safe_next,
)


def _page_number(name: str = "page") -> int:
    raw = request.args.get(name, "1")
    return int(raw) if raw.isdigit() and len(raw) < 7 and int(raw) > 0 else 1


@bp.get("/evidence/triage")
@login_required
def evidence_triage():
    """What matches no step and waits for you, newest first, with suggested steps (one click links one)."""
    session = db_session()
    me = actor()
    page = triage_page(session, me, page=_page_number(), per_page=25)
    return render_template("triage.html", page=page, can_link=me.can("evidence.link"))


@bp.post("/evidence/<ref>/link")
@login_required
def link_suggested_step(ref: str):
    """One click from the triage list or the insight's page: link the insight to the step of the button pressed."""
    session = db_session()
    back = safe_next(request.form.get("next"), url_for("web.evidence_triage"))
    step = request.form.get("step", "").strip()
    try:
        if not step:
            raise InvalidInput("choose a step to link", {"step": "required"})
        insight = link_evidence_to_steps(session, actor(), ref, [step])
    except (InvalidInput, NotFound) as exc:
        session.rollback()
        flash_message("error", exc.message)
        return redirect(back)
    flash_message("ok", f"{insight.key} is linked to {step}")
    return redirect(back)


FIELDS = ("text", "source", "kind", "observed_on", "url", "volume", "sentiment", "tags")


def _values(insight) -> dict:
    return {"text": insight.text, "source": insight.source, "kind": insight.kind,
            "observed_on": insight.observed_on.isoformat(), "url": insight.url or "", "volume": str(insight.volume),
            "sentiment": "" if insight.sentiment is None else f"{insight.sentiment:g}",
            "tags": ", ".join(insight.tags or []), "personas": [p.key for p in insight.personas]}


def _render_edit(insight, *, values=None, errors=None, status=200):
    session = db_session()
    me = actor()
    personas = session.scalars(sa.select(Persona).order_by(Persona.name)).all()
    opportunities = sorted({o for o in _opportunities_of(session, insight)}, key=lambda o: o.number)
    return render_template(
        "insight_edit.html", insight=insight, values=values or _values(insight), errors=errors or {},
        kinds=evidence_kinds(session), personas=personas, suggestions=suggestions_for(session, insight),
        opportunities=opportunities, can_curate=may_curate(session, me, insight),
        can_link=me.can("evidence.link")), status


def _opportunities_of(session, insight):
    return session.scalars(sa.select(Opportunity).join(opportunity_insight)
                           .where(opportunity_insight.c.insight_id == insight.id)).all()


@bp.route("/evidence/<ref>/edit", methods=["GET", "POST"])
@login_required
def edit_insight(ref: str):
    """Correct an insight; unlink, merge and delete are on the same page."""
    session = db_session()
    insight = get_or_404(get_insight, session, ref)
    if request.method == "GET":
        return _render_edit(insight)
    values = {k: request.form.get(k, "") for k in FIELDS}
    values["personas"] = form_list("personas")
    before = _values(insight)
    changes = {k: v for k, v in values.items() if v != before[k]}
    try:
        edit_evidence(session, actor(), insight.key, changes)
    except InvalidInput as exc:
        session.rollback()
        return _render_edit(get_insight(session, ref), values=values,
                            errors=field_errors(exc, FIELDS + ("personas",)), status=422)
    flash_message("ok", f"{insight.key} saved" if changes else "nothing changed")
    return redirect(url_for("web.edit_insight", ref=insight.key))


@bp.post("/evidence/<ref>/unlink")
@login_required
def unlink_insight_step(ref: str):
    session = db_session()
    insight = get_or_404(get_insight, session, ref)
    try:
        unlink_evidence_from_step(session, actor(), insight.key, request.form.get("step", ""))
    except GovernError as exc:
        session.rollback()
        if exc.http_status == 403:
            raise
        flash_message("error", exc.message)
    else:
        flash_message("ok", f"{insight.key} is no longer linked to {request.form.get('step')}")
    return redirect(url_for("web.edit_insight", ref=insight.key))


@bp.post("/evidence/<ref>/merge")
@login_required
def merge_insight(ref: str):
    session = db_session()
    insight = get_or_404(get_insight, session, ref)
    into = request.form.get("into", "").strip()
    try:
        survivor = merge_evidence(session, actor(), insight.key, into)
    except (InvalidInput, NotFound) as exc:
        session.rollback()
        return _render_edit(get_insight(session, ref), errors={"into": exc.message}, status=422)
    flash_message("ok", f"{insight.key} was merged into {survivor.key}")
    return redirect(url_for("web.edit_insight", ref=survivor.key))


@bp.post("/evidence/<ref>/delete")
@login_required
def delete_insight(ref: str):
    session = db_session()
    insight = get_or_404(get_insight, session, ref)
    key = insight.key
    try:
        delete_evidence(session, actor(), key, reason=request.form.get("reason", ""))
    except InvalidInput as exc:
        session.rollback()
        return _render_edit(get_insight(session, ref), errors={"reason": exc.message}, status=422)
    flash_message("ok", f"{key} deleted (the audit log keeps its content)")
    return redirect(url_for("web.evidence_list"))


@bp.get("/evidence/themes")
@login_required
def evidence_themes():
    """Themes across your triage, all evidence or one journey's (suggestions: k-means over TF-IDF, computed here)."""
    session = db_session()
    me = actor()
    scope = request.args.get("scope", "triage")
    journey = request.args.get("journey") or None
    view = themes_view(session, me, scope="journey" if journey else ("all" if scope == "all" else "triage"),
                       journey=journey)
    return render_template("themes.html", view=view, scope=scope, journey=journey, cap=THEMES_CAP,
                           can_link=me.can("evidence.link"))


@bp.post("/evidence/themes/link")
@login_required
def link_theme():
    """A theme's "link these N to step …": one service call for all of them."""
    session = db_session()
    back = safe_next(request.form.get("next"), url_for("web.evidence_themes"))
    try:
        linked = link_many_to_step(session, actor(), form_list("insights"), request.form.get("step", ""))
    except (InvalidInput, NotFound) as exc:
        session.rollback()
        flash_message("error", exc.message)
        return redirect(back)
    flash_message("ok", f"{len(linked)} insight(s) linked to {request.form.get('step')}")
    return redirect(back)


def triage_waiting(session, me) -> int:
    """For the evidence page's header: how many insights wait in `me`'s triage (one statement)."""
    return triage_count(session, me)


def duplicates_of(session, text: str, source: str):
    """For the record form: the insights a new one probably repeats (a suggestion)."""
    return likely_duplicates(session, text, source=source)
