"""List views: opportunities and evidence as tables with search, filters, sort and paging; the URL is the saved view."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template, request, url_for
from werkzeug.datastructures import MultiDict

from govern.errors import InvalidInput, NotFound
from govern.model import Kpi
from govern.queries.reference import reference
from govern.queries.triage import triage_count
from govern.services.evidence import evidence_kinds
from govern.queries.lists import (
    EVIDENCE_SORTS, OPPORTUNITY_SORTS, PAGE_SIZES, EvidenceList, OpportunityList, Page, evidence_page,
    insight_kinds_in_use, opportunity_page,
)
from govern.web import bp
from govern.web.readmodel import lifecycle_view, step_choices
from govern.web.support import actor, db_session, login_required


def view_url(endpoint: str, **changes) -> str:
    """This view's URL with some arguments changed (None removes one); other filters are kept."""
    args = MultiDict(request.args)
    for key, value in changes.items():
        args.poplist(key)
        if value is None or value == "":
            continue
        if isinstance(value, (list, tuple)):
            for v in value:
                args.add(key, v)
        else:
            args.add(key, value)
    if "page" not in changes:
        args.poplist("page")  # a new filter or sort starts at the first page
    return url_for(endpoint, **args.to_dict(flat=False))


def _options(session, *lists: str) -> dict:
    """The filters' choices a list view offers (all four unless named): journeys, people and personas from the
    transaction's reference snapshot, KPIs read when asked for."""
    ref = reference(session)
    wanted = lists or ("journeys", "owners", "personas", "kpis")
    options: dict = {}
    if "journeys" in wanted:
        options["journeys"] = [(j.key, j.name) for j in ref.journeys_by_name()]
    if "owners" in wanted:
        options["owners"] = [(p.handle, p.name) for p in ref.active_people()]
    if "personas" in wanted:
        options["personas"] = [(p.key, p.name) for p in ref.personas]
    if "kpis" in wanted:
        options["kpis"] = session.execute(sa.select(Kpi.key, Kpi.name).order_by(Kpi.name)).all()
    return options


@bp.get("/opportunities")
@login_required
def opportunity_list():
    """Every opportunity as a table: search, filter (journey subtree, state, owner, persona, KPI), sort, page."""
    session = db_session()
    me = actor()
    me.require("read")
    problem = None
    try:
        query = OpportunityList.from_args(request.args)
        page = opportunity_page(session, query)
    except (InvalidInput, NotFound) as exc:
        problem, query, page = exc.message, OpportunityList(), Page([], 0, 1, PAGE_SIZES[0])
    return render_template("opportunity_list.html", query=query, page=page, problem=problem,
                           options=_options(session), lifecycle=lifecycle_view(session), sorts=OPPORTUNITY_SORTS,
                           page_sizes=PAGE_SIZES, view_url=view_url, endpoint="web.opportunity_list",
                           can_create=me.can("opportunity.create")), (400 if problem else 200)


@bp.get("/evidence")
@login_required
def evidence_list():
    """Every insight as a table: search, filter (journey subtree, step, persona, kind, source, dates), sort, page."""
    session = db_session()
    me = actor()
    me.require("read")
    problem = None
    try:
        query = EvidenceList.from_args(request.args)
        page = evidence_page(session, query)
    except (InvalidInput, NotFound) as exc:
        problem, query, page = exc.message, EvidenceList(), Page([], 0, 1, PAGE_SIZES[0])
    kinds = list(dict.fromkeys([*evidence_kinds(session), *insight_kinds_in_use(session)]))
    return render_template("evidence.html", query=query, page=page, problem=problem,
                           options=_options(session, "journeys", "personas"),
                           kinds=kinds, steps=step_choices(session), sorts=EVIDENCE_SORTS, page_sizes=PAGE_SIZES,
                           view_url=view_url, endpoint="web.evidence_list",
                           can_record=me.can("evidence.record"), can_link=me.can("evidence.link"),
                           triage_waiting=triage_count(session, me)), \
        (400 if problem else 200)
