"""The opportunity page and the forms of the practice: evidence, opportunities, links, scores and measurements."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import redirect, render_template, request, url_for

from govern import audit, scoring
from govern.errors import Conflict, GovernError, InvalidInput, NotFound, PreconditionFailed
from govern.kpis import evaluate_opportunity, record_measurement, verdict_words
from govern.kpis.scales import SCALE_LABELS
from govern.scoring.inputs import input_title
from govern.model import (
    SOLUTION_STATE_TITLES, SOLUTION_STATES, AuditEvent, Journey, Kpi, Opportunity, Person, utcnow,
)
from govern.queries.evidence import evidence_tallies
from govern.queries.freshness import freshness_of
from govern.queries.states import state_catalog
from govern.queries.opportunity import insight_choices, linkable_insights, opportunity_page_loads
from govern.queries.triage import likely_duplicates
from govern.services.common import get_insight, get_kpi, get_opportunity
from govern.services.evidence import evidence_kinds, link_evidence_to_steps, record_evidence
from govern.services.opportunities import (
    add_solution, create_opportunity, link_evidence, update_opportunity, update_solution, withdraw_opportunity,
    withdrawal_refusal,
)
from govern.workflows import checklist
from govern.web.display import describe_events
from govern.workflows import services as lifecycle_services
from govern.web import bp
from govern.web.readmodel import decision_rights, lifecycle_view, pending_requests_of, step_choices, transitions_for
from govern.web.support import actor, db_session, field_errors, flash_message, form_list, get_or_404, login_required


# --- the opportunity page ---------------------------------------------------------------------------------------------


def _score(session, opp: Opportunity) -> dict:
    """Score with its breakdown and the opportunity's rank in the whole portfolio."""
    score, rank, total = scoring.score_and_rank(session, opp)
    return {"score": score, "rank": rank, "total": total}


def _score_form(session, opp: Opportunity, values: dict | None = None) -> dict:
    """The inputs the opportunity's scoring model needs someone to record, with their current values and scales."""
    model = scoring.model_for_opportunity(session, opp)
    recorded = {si.name: si.value for si in opp.score_inputs}
    fields = []
    for name in model.recorded_inputs:
        spec = model.spec(name)
        current = recorded.get(name)
        shown = values.get(name, "") if values is not None else ("" if current is None else f"{current:g}")
        fields.append({"name": name, "label": spec.label if spec else name.replace("_", " ").capitalize(),
                       "value": shown,
                       "hint": spec.description if spec else "", "levels": spec.levels if spec else None,
                       "minimum": spec.minimum if spec else None, "maximum": spec.maximum if spec else None})
    titles = {name: (model.spec(name).label if model.spec(name) else input_title(name)) for name in model.inputs}
    return {"model": model.name, "kind": model.kind, "fields": fields, "titles": titles}


def _render_opportunity(opp: Opportunity, *, errors: dict | None = None, score_values: dict | None = None,
                        solution_values: dict | None = None, measure_values: dict | None = None, status: int = 200):
    session = db_session()
    me = actor()
    lifecycle = lifecycle_view(session)
    states = state_catalog(session, opp.lifecycle)  # what the state allows (its definition), never its name
    requests = pending_requests_of(session, opp)
    pending = [(r, decision_rights(session, me, r)) for r in requests]
    history = list(reversed(describe_events(session, audit.history(session, "opportunity", opp.key),
                                            lifecycle.title_of)))
    journey_ids = [j.id for j in opp.journeys]
    insights = sorted(opp.insights, key=lambda i: i.number)
    can_link = me.can("evidence.link")
    linkable = linkable_insights(session, opp.id) if can_link else []
    today = dt.date.today().isoformat()
    return render_template(
        "opportunity.html", opp=opp, lifecycle=lifecycle, score=_score(session, opp), pending=pending,
        transitions=transitions_for(session, me, opp, requests), history=history, insights=insights,
        linkable=linkable,
        evidence_journeys=sorted({s.journey.name for i in insights for s in i.steps}),
        evidence_tally=evidence_tallies(session, [opp.id])[opp.id],
        can_link=can_link, can_request=me.can("transition.request", journey_ids),
        can_edit=me.can("opportunity.edit", journey_ids),
        can_measure=me.can("kpi.measure", journey_ids) and states.allows(opp.state, "measurements"),
        can_evaluate=me.can("kpi.measure", journey_ids) and states.allows(opp.state, "evaluation"),
        can_score=me.can("opportunity.score", journey_ids),
        can_add_solution=me.can("solution.manage", journey_ids) and states.allows(opp.state, "solutions"),
        score_form=_score_form(session, opp, score_values), errors=errors or {},
        solution_values=solution_values or {"title": "", "due_on": ""}, score_values=score_values,
        measure_values=measure_values or {}, today=today, solution_states=SOLUTION_STATES,
        solution_state_titles=SOLUTION_STATE_TITLES,
        chosen_trigger=request.args.get("trigger"), checks=checklist.checklist(session, me, opp),
        can_withdraw=withdrawal_refusal(session, me, opp) is None), status


@bp.get("/opportunities/<ref>")
@login_required
def opportunity(ref: str):
    return _render_opportunity(get_or_404(get_opportunity, db_session(), ref, load=opportunity_page_loads(),
                                           with_journeys=True))


@bp.post("/opportunities/<ref>/score")
@login_required
def score_opportunity(ref: str):
    """Record scoring inputs; the score is computed by the scoring service, never typed in."""
    session = db_session()
    opp = get_or_404(get_opportunity, session, ref)
    names = [f["name"] for f in _score_form(session, opp)["fields"]]
    typed = {name: request.form.get(f"inputs.{name}", "").strip() for name in names}
    changes = {name: (value if value != "" else None) for name, value in typed.items()}
    recorded = {si.name for si in opp.score_inputs}
    changes = {n: v for n, v in changes.items() if v is not None or n in recorded}
    try:
        score = scoring.record_score_inputs(session, actor(), opp.key, changes)
    except InvalidInput as exc:
        session.rollback()
        return _render_opportunity(opp, errors=field_errors(exc), score_values=typed, status=422)
    flash_message("ok", f"scoring inputs recorded; {opp.key} now scores "
                        f"{'–' if score.value is None else format(score.value, ',.4g')}")
    return redirect(url_for("web.opportunity", ref=opp.key) + "#score")


@bp.post("/opportunities/<ref>/solutions")
@login_required
def add_opportunity_solution(ref: str):
    """Add a solution (concrete work); it becomes a backlog item when the opportunity enters implement."""
    session = db_session()
    opp = get_or_404(get_opportunity, session, ref)
    values = {"title": request.form.get("title", ""), "due_on": request.form.get("due_on", "").strip()}
    try:
        solution = add_solution(session, actor(), opp.key, title=values["title"], due_on=values["due_on"] or None)
    except InvalidInput as exc:
        session.rollback()
        errors = {f"solution.{k}": v for k, v in field_errors(exc, ("title", "due_on")).items()}
        return _render_opportunity(opp, errors=errors, solution_values=values, status=422)
    flash_message("ok", f"solution “{solution.title}” added to {opp.key}")
    return redirect(url_for("web.opportunity", ref=opp.key) + "#solutions")


@bp.post("/opportunities/<ref>/withdraw")
@login_required
def withdraw_own_opportunity(ref: str):
    """The author takes back an opportunity of their own while it is in its first state."""
    session = db_session()
    opp = get_or_404(get_opportunity, session, ref)
    try:
        key = withdraw_opportunity(session, actor(), opp.key, reason=request.form.get("reason"))
    except GovernError as exc:
        session.rollback()
        flash_message("error", exc.message)
        return redirect(url_for("web.opportunity", ref=opp.key))
    flash_message("ok", f"{key} withdrawn; its evidence is kept")
    return redirect(url_for("web.board"))


@bp.post("/opportunities/<ref>/checks/<check>")
@login_required
def tick_opportunity_check(ref: str, check: str):
    """Tick a lifecycle check (or take the tick back), as its tickers may; refusals are told on the page."""
    session = db_session()
    opp = get_or_404(get_opportunity, session, ref)
    try:
        if request.form.get("action") == "untick":
            checklist.untick_check(session, actor(), opp.key, check, reason=request.form.get("reason"))
            flash_message("ok", f"tick taken back on {opp.key}")
        else:
            checklist.tick_check(session, actor(), opp.key, check, link=request.form.get("link"),
                                 note=request.form.get("note"))
            flash_message("ok", f"ticked on {opp.key}")
    except GovernError as exc:
        session.rollback()
        flash_message("error", exc.message)
    return redirect(url_for("web.opportunity", ref=opp.key) + "#checks")


@bp.post("/opportunities/<ref>/evidence")
@login_required
def link_opportunity_evidence(ref: str):
    session = db_session()
    opp = get_or_404(get_opportunity, session, ref)
    chosen = form_list("insights")
    try:
        link_evidence(session, actor(), opp.key, chosen)
    except (InvalidInput, NotFound) as exc:
        session.rollback()
        flash_message("error", exc.message)
    else:
        flash_message("ok", f"linked {', '.join(chosen) or 'nothing'} to {opp.key}")
    return redirect(url_for("web.opportunity", ref=opp.key) + "#evidence")


# --- forms ------------------------------------------------------------------------------------------------------------


@bp.route("/opportunities/new", methods=["GET", "POST"])
@login_required
def new_opportunity():
    """Create a "How might we …" opportunity linked to its journeys, evidence and targeted KPIs."""
    session = db_session()
    me = actor()
    me.require("opportunity.create")
    values = {"title": "How might we ", "description": "", "journeys": [], "insights": [], "kpis": [],
              "owner": ""}
    errors: dict[str, str] = {}
    if request.method == "GET":
        values["journeys"] = form_list("journey") or request.args.getlist("journey")
        values["insights"] = request.args.getlist("insight")
    if request.method == "POST":
        values = {"title": request.form.get("title", ""), "description": request.form.get("description", ""),
                  "journeys": form_list("journeys"), "insights": form_list("insights"), "kpis": form_list("kpis"),
                  "owner": request.form.get("owner", "").strip()}
        try:
            opp = create_opportunity(session, me, title=values["title"], description=values["description"].strip(),
                                     journeys=values["journeys"], insights=values["insights"],
                                     owner=values["owner"] or None, kpis=values["kpis"])
        except (InvalidInput, NotFound) as exc:
            session.rollback()
            errors = field_errors(exc, ("title", "journeys", "insights", "owner", "kpis"))
            for key in ("journey", "insight", "person", "kpi"):  # NotFound names the reference
                if key in errors:
                    errors[{"person": "owner"}.get(key, key + "s")] = errors.pop(key)
        else:
            flash_message("ok", f"{opp.key} created in {opp.state}")
            return redirect(url_for("web.opportunity", ref=opp.key))
    return render_template(
        "opportunity_form.html", values=values, errors=errors,
        journeys=session.scalars(sa.select(Journey).order_by(Journey.name)).all(),
        choices=insight_choices(session, values["insights"]),
        kpis=session.scalars(sa.select(Kpi).order_by(Kpi.name)).all(),
        people=session.scalars(sa.select(Person).where(Person.active.is_(True)).order_by(Person.name)).all(),
    ), (422 if errors else 200)


@bp.route("/evidence/new", methods=["GET", "POST"])
@login_required
def new_evidence():
    """Record an insight (quote, survey, analytics finding, ticket cluster …) and attach it to steps."""
    session = db_session()
    me = actor()
    me.require("evidence.record")
    values = {"text": "", "source": "", "kind": "ticket", "observed_on": dt.date.today().isoformat(),
              "steps": request.args.getlist("step")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {"text": request.form.get("text", ""), "source": request.form.get("source", ""),
                  "kind": request.form.get("kind", ""), "observed_on": request.form.get("observed_on", "").strip(),
                  "steps": form_list("steps")}
        # A likely duplicate (the same text, near enough: a double-submitted form too) is shown before anything is
        # recorded; "Record anyway" sends duplicate_ok.
        duplicates = [] if request.form.get("duplicate_ok") else likely_duplicates(
            session, values["text"], source=values["source"])
        try:
            if duplicates:
                return render_template("evidence_form.html", values=values, errors={}, kinds=evidence_kinds(session),
                                       steps=step_choices(session), focus=None, duplicates=duplicates), 409
            insight = record_evidence(session, me, text=values["text"], source=values["source"], kind=values["kind"],
                                      observed_on=values["observed_on"] or None, steps=values["steps"])
        except (InvalidInput, NotFound) as exc:
            session.rollback()
            errors = field_errors(exc, ("text", "source", "kind", "observed_on", "steps"))
            if "step" in errors:
                errors["steps"] = errors.pop("step")
        else:
            flash_message("ok", f"{insight.key} recorded")
            target = request.form.get("then")
            if target == "opportunity" and me.can("opportunity.create"):
                return redirect(url_for("web.new_opportunity", insight=insight.key,
                                        journey=sorted({s.journey.key for s in insight.steps})))
            return redirect(url_for("web.evidence_list", q=insight.key) + f"#{insight.key}")
    focus = request.args.get("journey") or (values["steps"][0].split("/")[0] if values["steps"] else None)
    steps = step_choices(session)
    steps.sort(key=lambda group: group[0].key != focus)  # the journey you came from first (stable otherwise)
    return render_template("evidence_form.html", values=values, errors=errors, kinds=evidence_kinds(session),
                           steps=steps, focus=focus, can_create=me.can("opportunity.create")), (422 if errors else 200)


@bp.route("/evidence/<ref>/steps", methods=["GET", "POST"])
@login_required
def link_steps(ref: str):
    """Attach an insight to more steps, possibly in several journeys."""
    session = db_session()
    me = actor()
    insight = get_or_404(get_insight, session, ref)
    errors: dict[str, str] = {}
    chosen = [f"{s.journey.key}/{s.key}" for s in insight.steps]
    if request.method == "POST":
        chosen = form_list("steps")
        try:
            link_evidence_to_steps(session, me, insight.key, chosen)
        except (InvalidInput, NotFound) as exc:
            session.rollback()
            errors = field_errors(exc, ("steps",))
            if "step" in errors:
                errors["steps"] = errors.pop("step")
        else:
            flash_message("ok", f"{insight.key} is linked to {len(insight.steps)} step(s)")
            return redirect(url_for("web.evidence_list", q=insight.key) + f"#{insight.key}")
    else:
        me.require("evidence.link")
    return render_template("link_steps.html", insight=insight, chosen=chosen, errors=errors,
                           steps=step_choices(session)), (422 if errors else 200)


@bp.route("/kpis/<key>/measurements", methods=["GET", "POST"])
@login_required
def record_kpi_measurement(key: str):
    """Record a KPI measurement (value, when, source); the metrics service checks the scale and permission."""
    session = db_session()
    me = actor()
    kpi = get_or_404(get_kpi, session, key)
    values = {"value": "", "measured_at": dt.date.today().isoformat(), "source": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        try:
            record_measurement(session, me, kpi.key, values["value"], measured_at=values["measured_at"] or None,
                               source=values["source"] or None)
        except (InvalidInput, NotFound, Conflict) as exc:  # a bad value, or a second measurement at that moment
            session.rollback()
            errors = field_errors(exc, ("value", "measured_at", "source"))
        else:
            flash_message("ok", f"{kpi.name}: {values['value']} recorded for {values['measured_at'] or 'now'}")
            return redirect(url_for("web.record_kpi_measurement", key=kpi.key))
    recent = list(reversed(kpi.measurements[-12:]))
    journey_ids = [kpi.journey_id] if kpi.journey_id else ([kpi.step.journey_id] if kpi.step else [])
    session.refresh(kpi)
    freshness = freshness_of(session, [kpi], utcnow())[kpi.id]
    return render_template("measurement_form.html", kpi=kpi, values=values, errors=errors, recent=recent,
                           freshness=freshness, scale_label=SCALE_LABELS.get(kpi.scale, (kpi.scale or "").replace("_", " ")),
                           can_measure=me.can("kpi.measure", journey_ids)), \
        (422 if errors else 200)


# --- editing in place -------------------------------------------------------------------------------------------------

EDIT_FIELDS = ("title", "description", "owner", "journeys", "insights", "kpis")


def _edit_values(opp: Opportunity) -> dict:
    return {"title": opp.title, "description": opp.description or "", "owner": opp.owner.handle if opp.owner else "",
            "journeys": [j.key for j in opp.journeys], "insights": [i.key for i in opp.insights],
            "kpis": [link.kpi.key for link in opp.kpi_links]}


def _same(a, b) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return sorted(a or []) == sorted(b or [])
    return (a or "").strip() == (b or "").strip()


def _merge_meanwhile(typed: dict, events: list, current: dict) -> dict:
    """Keep every field the person changed; take the others' new value where the person left a field alone.

    What the form was loaded with is the `before` of the first edit since then; a field typed back unchanged from
    that, but changed by someone else, shows their value, so saving again does not undo their work."""
    loaded = next((e.before for e in events if e.action == "opportunity.updated" and e.before), None)
    if loaded is None:
        return typed
    merged = dict(typed)
    for name in EDIT_FIELDS:
        if name in loaded and _same(typed.get(name), loaded[name]) and not _same(current[name], loaded[name]):
            merged[name] = current[name]
    return merged


def _last_event_id(session, opp: Opportunity) -> int:
    return session.scalar(sa.select(sa.func.max(AuditEvent.id)).where(
        AuditEvent.entity_type == "opportunity", AuditEvent.entity_id == opp.key)) or 0


@bp.route("/opportunities/<ref>/edit", methods=["GET", "POST"])
@login_required
def edit_opportunity(ref: str):
    """Edit the statement, description, owner, journeys, evidence and KPIs; a stale form says who changed what.

    The form carries the version it was loaded at and the last history entry seen. When someone else saved in
    between, the service refuses (412) and the page shows their changes next to everything typed, which is kept.
    """
    session = db_session()
    me = actor()
    opp = get_or_404(get_opportunity, session, ref)
    me.require("opportunity.edit", [j.id for j in opp.journeys])
    values = _edit_values(opp)
    errors: dict[str, str] = {}
    meanwhile: list[dict] = []
    version, seen = opp.version, _last_event_id(session, opp)
    if request.method == "POST":
        values = {"title": request.form.get("title", ""), "description": request.form.get("description", ""),
                  "owner": request.form.get("owner", "").strip(), "journeys": form_list("journeys"),
                  "insights": form_list("insights"), "kpis": form_list("kpis")}
        sent_version = request.form.get("version", "")
        sent_seen = request.form.get("seen", "")
        try:
            update_opportunity(session, me, opp.key,
                               expected_version=int(sent_version) if sent_version.isdigit() else None,
                               title=values["title"], description=values["description"].strip(),
                               owner=values["owner"] or None, journeys=values["journeys"],
                               insights=values["insights"], kpis=values["kpis"])
        except PreconditionFailed:
            session.rollback()
            opp = get_opportunity(session, opp.key)
            since = int(sent_seen) if sent_seen.isdigit() else 0
            lifecycle = lifecycle_view(session)
            events = list(session.scalars(
                sa.select(AuditEvent).where(AuditEvent.entity_type == "opportunity",
                                            AuditEvent.entity_id == opp.key, AuditEvent.id > since)
                .order_by(AuditEvent.id)))
            meanwhile = describe_events(session, events, lifecycle.title_of)
            values = _merge_meanwhile(values, events, _edit_values(opp))
            errors["_form"] = ("Someone changed this opportunity while you were editing. Their changes are listed "
                               "below. What you typed is kept; fields you had not touched now show their new "
                               "value. Check and save again to apply yours.")
            version, seen = opp.version, _last_event_id(session, opp)
        except (InvalidInput, NotFound) as exc:
            session.rollback()
            errors = field_errors(exc, EDIT_FIELDS)
            for key in ("journey", "insight", "person", "kpi"):  # NotFound names the reference
                if key in errors:
                    errors[{"person": "owner"}.get(key, key + "s")] = errors.pop(key)
            version = int(sent_version) if sent_version.isdigit() else opp.version
            seen = int(sent_seen) if sent_seen.isdigit() else seen
        else:
            flash_message("ok", f"{opp.key} saved")
            return redirect(url_for("web.opportunity", ref=opp.key))
    return render_template(
        "opportunity_edit.html", opp=opp, values=values, errors=errors, meanwhile=meanwhile, version=version,
        seen=seen, journeys=session.scalars(sa.select(Journey).order_by(Journey.name)).all(),
        choices=insight_choices(session, values["insights"]),
        kpis=session.scalars(sa.select(Kpi).order_by(Kpi.name)).all(),
        people=session.scalars(sa.select(Person).where(Person.active.is_(True)).order_by(Person.name)).all(),
    ), (409 if meanwhile else 422 if errors else 200)


@bp.post("/opportunities/<ref>/solutions/<int:solution_id>")
@login_required
def edit_solution(ref: str, solution_id: int):
    """Change a solution's title, due date or progress (delivered work lets the opportunity move on)."""
    session = db_session()
    opp = get_or_404(get_opportunity, session, ref)
    if solution_id not in {s.id for s in opp.solutions}:
        return _render_opportunity(opp, errors={"solution._form": f"{opp.key} has no solution {solution_id}"},
                                   status=404)
    state = request.form.get("state") or None
    title = request.form.get("title")
    due_on = request.form.get("due_on")
    said = None
    try:
        if state is not None and title is None and due_on is None:
            # Progress alone: the lifecycle's automatic move follows when it was the last solution (as from Jira).
            solution, said = lifecycle_services.record_solution_progress(session, actor(), solution_id, state)
        else:
            solution = update_solution(session, actor(), solution_id, title=title, state=state,
                                       **({"due_on": due_on} if due_on is not None else {}))
    except InvalidInput as exc:
        session.rollback()
        errors = {f"solution-{solution_id}.{k}": v for k, v in field_errors(exc, ("title", "due_on", "state")).items()}
        errors["solution._form"] = exc.message
        return _render_opportunity(opp, errors=errors, status=422)
    flash_message("ok", f"solution “{solution.title}” is {solution.state.replace('_', ' ')}"
                        + (f"; {said}" if said else ""))
    return redirect(url_for("web.opportunity", ref=opp.key) + "#solutions")


@bp.post("/opportunities/<ref>/measurements")
@login_required
def measure_from_opportunity(ref: str):
    """Record a measurement of one of the KPIs this opportunity targets, without leaving its page."""
    session = db_session()
    opp = get_or_404(get_opportunity, session, ref)
    kpi_key = request.form.get("kpi", "")
    if kpi_key not in {link.kpi.key for link in opp.kpi_links}:
        return _render_opportunity(opp, errors={"measure._form": f"{opp.key} does not target the KPI '{kpi_key}'"},
                                   status=422)
    values = {k: request.form.get(k, "").strip() for k in ("value", "measured_at", "source")}
    try:
        record_measurement(session, actor(), kpi_key, values["value"], measured_at=values["measured_at"] or None,
                           source=values["source"] or None)
    except (InvalidInput, NotFound, Conflict) as exc:
        session.rollback()
        errors = {f"measure-{kpi_key}.{k}": v
                  for k, v in field_errors(exc, ("value", "measured_at", "source")).items()}
        return _render_opportunity(opp, errors=errors, measure_values={kpi_key: values}, status=422)
    kpi = get_kpi(session, kpi_key)
    flash_message("ok", f"{kpi.name}: {values['value']} recorded")
    return redirect(url_for("web.opportunity", ref=opp.key) + "#kpis")


@bp.post("/opportunities/<ref>/evaluate")
@login_required
def evaluate_from_opportunity(ref: str):
    """Evaluate now: compare every targeted KPI's latest measurement with its baseline and target."""
    session = db_session()
    opp = get_or_404(get_opportunity, session, ref)
    try:
        result = evaluate_opportunity(session, actor(), opp.key)
    except GovernError as exc:
        if exc.http_status == 403:
            raise
        session.rollback()
        flash_message("error", exc.message)
        return redirect(url_for("web.opportunity", ref=opp.key) + "#kpis")
    notes = [o.get("text") or f"{o['kpi']}: {o.get('note', '')}" for o in result["outcomes"]]
    flash_message("ok", f"Evaluated {opp.key}: overall {verdict_words(result['overall'])}. "
                        + " ".join(n for n in notes if n))
    return redirect(url_for("web.opportunity", ref=opp.key) + "#kpis")
