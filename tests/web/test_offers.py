"""Offer only what will be allowed and makes sense in the state (issue 28, part 4): buttons follow the permission
table and what the lifecycle state allows; the services refuse the same writes; an empty question is refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from govern.errors import InvalidInput
from govern.kpis import evaluate_opportunity
from govern.model import Opportunity, Solution
from govern.queries.states import state_catalog
from govern.services.opportunities import add_solution, create_opportunity, update_opportunity, update_solution
from tests.api.conftest import ApiClient
from tests.conftest import actor
from tests.web.conftest import WebClient


def _final_opportunity(s) -> Opportunity:
    final = state_catalog(s).final_states
    return s.scalar(sa.select(Opportunity).where(Opportunity.state.in_(final), Opportunity.solutions.any())
                    .order_by(Opportunity.number).limit(1))


def test_a_supporter_is_offered_record_but_not_record_and_create(example_app):
    priya = WebClient(example_app.test_client()).sign_in("priya").get("/evidence/new").get_data(as_text=True)
    assert "Record and create" not in priya and '>Record</button>' in priya
    lotte = WebClient(example_app.test_client()).sign_in("lotte").get("/evidence/new").get_data(as_text=True)
    assert "Record and create an opportunity from it" in lotte


def test_a_final_opportunity_offers_no_evaluation_measurement_or_solution_work(example_app, example_db):
    with example_db.session_scope() as s:
        opp = _final_opportunity(s)
        assert opp is not None and opp.kpi_links
        key = opp.key
    page = WebClient(example_app.test_client()).sign_in("marco").get(f"/opportunities/{key}").get_data(as_text=True)
    assert 'data-testid="evaluate"' not in page and "Evaluate now" not in page
    assert "Record a measurement" not in page
    assert "solution-form" not in page and "Add solution" not in page
    assert "web.edit_solution" not in page and "/solutions/" not in page.split('id="solutions"')[1].split("</section>")[0]


def test_the_services_refuse_solution_and_evaluation_work_on_a_final_opportunity(example_db, example_app):
    with example_db.session_scope() as s:
        opp = _final_opportunity(s)
        key, solution_id = opp.key, opp.solutions[0].id
        marco = actor(s, "marco")
        with pytest.raises(InvalidInput, match="does not allow it"):
            add_solution(s, marco, key, title="One more thing")
        s.rollback()
        with pytest.raises(InvalidInput, match="does not allow it"):
            update_solution(s, marco, solution_id, state="in_progress")
        s.rollback()
        with pytest.raises(InvalidInput, match="cannot be evaluated"):
            evaluate_opportunity(s, marco, key)
        s.rollback()
        count = s.scalar(sa.select(sa.func.count()).select_from(Solution))
    api = ApiClient(example_app, example_db)
    refused = api.post(f"/opportunities/{key}/solutions", as_="marco", json={"title": "One more thing"})
    assert refused.status_code == 422 and "does not allow it" in refused.json["error"]["message"]
    progress = api.patch(f"/opportunities/{key}/solutions/{solution_id}", as_="marco", json={"state": "in_progress"})
    assert progress.status_code == 422 and "does not allow it" in progress.json["error"]["message"]
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Solution)) == count


def test_a_final_state_may_allow_work_when_its_definition_says_so():
    from govern.queries.states import StateCatalog

    catalog = StateCatalog.from_definition({"name": "x", "initial": "a", "final": ["done"], "states": {
        "a": {"description": "a"}, "done": {"description": "d", "allows": ["measurements"]}}})
    assert catalog.allows("done", "measurements") and not catalog.allows("done", "solutions")
    assert catalog.allows("a", "solutions")


@pytest.mark.parametrize("title", ["", "   ", "How might we ", "how might we …", "How might we?"])
def test_an_empty_how_might_we_is_refused_with_a_message(example_db, title):
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        with pytest.raises(InvalidInput, match="finish the question") as refused:
            create_opportunity(s, lotte, title=title, journeys=["switching-providers"])
        assert "title" in refused.value.details
        s.rollback()
        with pytest.raises(InvalidInput, match="finish the question"):
            update_opportunity(s, lotte, "OPP-1", title=title)


def test_every_entry_point_refuses_an_empty_question(example_app, example_db):
    api = ApiClient(example_app, example_db)
    answer = api.post("/opportunities", as_="lotte", json={"title": "How might we ", "journeys": ["switching-providers"]})
    assert answer.status_code == 422 and "finish the question" in answer.json["error"]["message"]
    web = WebClient(example_app.test_client()).sign_in("lotte")
    web.get("/opportunities/new")
    page = web.post("/opportunities/new", {"title": "How might we ", "journeys": "switching-providers"})
    assert page.status_code == 422 and "How might we" in page.get_data(as_text=True)
    assert "finish the" in page.get_data(as_text=True)


def test_a_supporter_records_evidence_in_chromium_without_a_refused_follow_up(page_as):
    page = page_as("priya")
    page.goto("/evidence/new")
    assert page.get_by_role("button", name="Record and create").count() == 0
    assert page.get_by_role("button", name="Record", exact=True).is_visible()


def _own_new_idea(s, handle: str = "lotte") -> str:
    opp = create_opportunity(s, actor(s, handle), title="How might we send the welcome pack sooner?",
                             journeys=["switching-providers"], insights=["INS-1", "INS-2"])
    return opp.key


def test_an_author_withdraws_an_opportunity_of_their_own_in_its_first_state(example_app, example_db):
    from govern.model import AuditEvent, Insight

    with example_db.session_scope() as s:
        key = _own_new_idea(s)
    marco = WebClient(example_app.test_client()).sign_in("marco")
    assert 'data-testid="withdraw-opportunity"' not in marco.get(f"/opportunities/{key}").get_data(as_text=True)
    lotte = WebClient(example_app.test_client()).sign_in("lotte")
    page = lotte.get(f"/opportunities/{key}").get_data(as_text=True)
    assert 'data-testid="withdraw-opportunity"' in page
    answer = lotte.post(f"/opportunities/{key}/withdraw", {"reason": "a duplicate of OPP-1"})
    assert answer.status_code == 302
    with example_db.session_scope() as s:
        number = int(key.split("-")[1])
        assert s.scalar(sa.select(Opportunity).where(Opportunity.number == number)) is None
        assert s.scalar(sa.select(Insight).where(Insight.number == 1)) is not None  # the evidence stays
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "opportunity.withdrawn"))
        assert event.entity_id == key and event.reason == "a duplicate of OPP-1"
    assert lotte.get(f"/opportunities/{key}").status_code == 404


def test_withdrawal_is_refused_to_others_and_after_the_first_state_at_every_entry_point(example_app, example_db,
                                                                                        tmp_path):
    from govern.workflows.services import request_transition
    from tests.conftest import cli_invoker

    with example_db.session_scope() as s:
        key = _own_new_idea(s)
        moved = _own_new_idea(s)
        s.commit()
    api = ApiClient(example_app, example_db)
    other = api.post(f"/opportunities/{key}/withdraw", as_="marco", json={})
    assert other.status_code == 403 and "only the person who created" in other.json["error"]["message"]
    with example_db.session_scope() as s:
        request_transition(s, actor(s, "lotte"), moved, "prioritise", reason="ready")
    late = api.post(f"/opportunities/{moved}/withdraw", as_="lotte", json={})
    assert late.status_code == 409, late.json
    govern = cli_invoker(example_db, tmp_path)
    refused = govern("opp", "withdraw-opportunity", key, "--as", "marco")
    assert refused.exit_code != 0 and "only the person who created" in refused.output
    done = govern("opp", "withdraw-opportunity", key, "--as", "lotte", "--reason", "not needed")
    assert done.exit_code == 0 and f"withdrew {key}" in done.output
    gone = api.get(f"/opportunities/{key}", as_="lotte")
    assert gone.status_code == 404
    again = api.post(f"/opportunities/{key}/withdraw", as_="lotte", json={})
    assert again.status_code == 404
