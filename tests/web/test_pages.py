"""The web app through Flask's test client: every page renders, CSRF and permissions are enforced, forms keep input."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import ApprovalRequest, Insight, Opportunity
from tests.conftest import actor


def test_signed_out_visitor_is_sent_to_sign_in(example_client):
    response = example_client.get("/board")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_is_refused_and_keeps_the_handle(example_app):
    from tests.web.conftest import WebClient

    web = WebClient(example_app.test_client())
    web.get("/login")
    response = web.post("/login", {"handle": "lotte", "password": "nope-nope"})
    assert response.status_code == 401
    assert 'value="lotte"' in response.get_data(as_text=True)


MAIN_PAGES = ["/board", "/journeys", "/journeys/switching-providers", "/opportunities/OPP-1", "/approvals", "/council",
              "/charts", "/evidence", "/evidence/new", "/opportunities/new", "/evidence/INS-1/steps",
              "/kpis/porting-csat/measurements"]


def test_main_pages_render_for_a_coordinator(web):
    lotte = web("lotte")
    for path in MAIN_PAGES:
        response = lotte.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:2000])
        html = response.get_data(as_text=True)
        assert "Lotte de Vries" in html and "coordinator" in html, path


def test_header_shows_who_i_am_and_my_roles(web):
    html = web("lotte").get("/board").get_data(as_text=True)
    assert "Lotte de Vries" in html
    assert "coordinator" in html and "owner" in html and "Switching providers" in html


def test_the_playbook_is_one_click_from_every_page(web):
    lotte = web("lotte")
    assert 'href="/playbook"' in lotte.get("/board").get_data(as_text=True)
    page = lotte.get("/playbook/people/lotte.html")
    assert page.status_code == 200 and "Lotte de Vries" in page.get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(web, example_db):
    lotte = web("lotte")
    with example_db.session_scope() as s:
        before = s.scalar(sa.select(sa.func.count(Insight.id)))
    response = lotte.post("/evidence/new", {"text": "Forged", "source": "elsewhere", "kind": "quote",
                                            "steps": "switching-providers/port-number"}, with_token=False)
    assert response.status_code == 400
    response = lotte.post("/evidence/new", {"text": "Forged", "source": "elsewhere", "kind": "quote",
                                            "csrf_token": "not-the-token"}, with_token=False)
    assert response.status_code == 400
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count(Insight.id))) == before


def _pending_prioritise_request(example_db) -> int:
    """lotte asks to move OPP-1 (research) to prioritise; the council lead (ana) must approve."""
    from govern.workflows.services import request_transition

    with example_db.session_scope() as s:
        result = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready for the council")
        assert not result.moved
        return result.request.id


def test_a_supporter_sees_no_approve_button_and_a_forged_approval_is_refused(web, example_db):
    request_id = _pending_prioritise_request(example_db)
    priya = web("priya")
    html = priya.get("/opportunities/OPP-1").get_data(as_text=True)
    assert f'data-request="{request_id}"' in html
    assert f"approve-{request_id}" not in html
    response = priya.post(f"/approvals/{request_id}/approve", {})
    assert response.status_code == 403
    assert "may not approve or reject transition requests" in response.get_data(as_text=True)
    with example_db.session_scope() as s:
        assert s.get(ApprovalRequest, request_id).status == "pending"


def test_a_supporter_cannot_create_an_opportunity(web):
    priya = web("priya")
    assert priya.get("/opportunities/new").status_code == 403
    response = priya.post("/opportunities/new", {"title": "How might we x?", "journeys": "switching-providers"})
    assert response.status_code == 403


def test_the_lead_approves_from_the_inbox_and_the_board_moves(web, example_db):
    request_id = _pending_prioritise_request(example_db)
    ana = web("ana")
    inbox = ana.get("/approvals").get_data(as_text=True)
    assert f"approve-{request_id}" in inbox
    response = ana.post(f"/approvals/{request_id}/approve", {"next": "/approvals"})
    assert response.status_code == 302
    with example_db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 1))
        assert opp.state == "prioritise"


def test_an_evidence_form_error_keeps_what_was_typed(web):
    response = web("lotte").post("/evidence/new", {"text": "Porting status is invisible in the app",
                                                   "source": "", "kind": "quote",
                                                   "steps": "switching-providers/port-number"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Porting status is invisible in the app" in html
    assert 'class="field-error" id="source-error"' in html
    assert 'value="switching-providers/port-number" checked' in html


def test_an_opportunity_form_error_keeps_the_statement(web):
    response = web("lotte").post("/opportunities/new", {"title": "How might we make porting visible?",
                                                        "insights": "INS-1"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "How might we make porting visible?" in html and 'id="journeys-error"' in html
    assert 'value="INS-1" checked' in html


def test_a_coordinator_records_evidence_and_creates_an_opportunity(web, example_db):
    lotte = web("lotte")
    response = lotte.post("/evidence/new", {"text": "My number was gone for a day", "source": "Porting survey",
                                            "kind": "survey", "observed_on": "2026-10-01", "then": "list",
                                            "steps": ["switching-providers/port-number", "moving-house/port-number"]})
    assert response.status_code == 302
    with example_db.session_scope() as s:
        insight = s.scalar(sa.select(Insight).order_by(Insight.number.desc()).limit(1))
        key = insight.key
        assert len(insight.steps) == 2
    response = lotte.post("/opportunities/new", {"title": "How might we never lose a number while porting?",
                                                 "journeys": ["switching-providers", "moving-house"],
                                                 "insights": [key, "INS-1"]})
    assert response.status_code == 302
    page = lotte.get(response.headers["Location"]).get_data(as_text=True)
    assert "never lose a number" in page and key in page


def test_unknown_opportunity_is_a_404_page(web):
    response = web("lotte").get("/opportunities/OPP-999")
    assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)


def test_an_owner_records_a_kpi_measurement_and_a_bad_value_is_shown_beside_the_field(web, example_db):
    femke = web("femke")
    response = femke.post("/kpis/bill-csat/measurements", {"value": "9", "measured_at": "2026-11-20",
                                                           "source": "Bill survey November"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="value-error"' in html and "Bill survey November" in html and 'value="9"' in html
    response = femke.post("/kpis/bill-csat/measurements", {"value": "3,9", "measured_at": "2026-11-20",
                                                           "source": "Bill survey November"})
    assert response.status_code == 302
    assert "3.9" in femke.get("/kpis/bill-csat/measurements").get_data(as_text=True)


def test_a_supporter_outside_the_journey_cannot_record_its_measurement(web):
    tom = web("tom")  # supporter of paying-my-bill, not of switching-providers
    assert "Record measurement" not in tom.get("/kpis/porting-csat/measurements").get_data(as_text=True)
    assert tom.post("/kpis/porting-csat/measurements", {"value": "4.1"}).status_code == 403


def test_evidence_is_linked_to_more_steps(web, example_db):
    from govern.services.common import get_insight

    response = web("priya").post("/evidence/INS-6/steps", {"steps": ["activating-my-sim/scan-qr",
                                                                     "switching-providers/activate-sim"]})
    assert response.status_code == 302
    with example_db.session_scope() as s:
        assert {f"{st.journey.key}/{st.key}" for st in get_insight(s, "INS-6").steps} == {
            "activating-my-sim/scan-qr", "switching-providers/activate-sim"}


def test_board_filters_by_journey_subtree_owner_persona_and_text(web):
    lotte = web("lotte")
    html = lotte.get("/board?journey=paying-my-bill").get_data(as_text=True)
    assert 'data-key="OPP-3"' in html and 'data-key="OPP-2"' in html and 'data-key="OPP-1"' not in html
    html = lotte.get("/board?owner=noah").get_data(as_text=True)
    assert 'data-key="OPP-4"' in html and 'data-key="OPP-3"' not in html
    html = lotte.get("/board?persona=switcher").get_data(as_text=True)
    assert 'data-key="OPP-1"' in html and 'data-key="OPP-4"' not in html
    html = lotte.get("/board?q=roaming").get_data(as_text=True)
    assert 'data-key="OPP-2"' in html and 'data-key="OPP-1"' not in html


def test_a_journey_without_an_owner_is_flagged_as_an_ownership_gap(web, example_db):
    from govern.services.journeys import assign_owner

    with example_db.session_scope() as s:  # as if its owner had left: the framework must show the gap
        assign_owner(s, actor(s, "ana"), "leaving-us", None)
    html = web("ana").get("/journeys").get_data(as_text=True)
    assert "Ownership gaps (1)" in html and "ownership gap: no owner" in html


def test_a_coordinator_moves_an_opportunity_from_the_board(web, example_db):
    response = web("lotte").post("/opportunities/OPP-1/transition",
                                 {"trigger": "park", "reason": "waiting for the porting vendor", "next": "/board"})
    assert response.status_code == 302
    with example_db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 1))
        assert opp.state == "parked" and opp.state_reason == "waiting for the porting vendor"


def test_a_supporter_cannot_move_an_opportunity(web, example_db):
    response = web("priya").post("/opportunities/OPP-1/transition", {"trigger": "park", "reason": "x"})
    assert response.status_code == 403


def test_the_session_cookie_is_http_only_and_same_site_and_sign_out_ends_it(example_app):
    from tests.web.conftest import WebClient

    web = WebClient(example_app.test_client())
    web.get("/login")
    response = web.post("/login", {"handle": "lotte", "password": "govern-demo"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    web.get("/evidence")
    assert web.post("/logout").status_code == 302
    assert "/login" in web.get("/board").headers["Location"]


def test_after_sign_in_only_a_same_site_next_is_followed(example_app):
    from tests.web.conftest import WebClient

    web = WebClient(example_app.test_client())
    web.get("/login")
    response = web.post("/login", {"handle": "lotte", "password": "govern-demo", "next": "//evil.example/x"})
    assert response.headers["Location"].endswith("/board")


def test_an_owner_records_scoring_inputs_and_a_bad_one_is_shown_beside_its_field(web, example_db):
    lotte = web("lotte")
    response = lotte.post("/opportunities/OPP-1/score", {"inputs.reach": "20000", "inputs.impact": "7",
                                                         "inputs.confidence": "80", "inputs.effort": "3"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="inputs-impact-error"' in html and 'value="20000"' in html
    response = lotte.post("/opportunities/OPP-1/score", {"inputs.reach": "20000", "inputs.impact": "2",
                                                         "inputs.confidence": "80", "inputs.effort": "3"})
    assert response.status_code == 302
    with example_db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 1))
        assert {si.name: si.value for si in opp.score_inputs}["reach"] == 20000


def test_an_owner_adds_a_solution_and_an_empty_title_is_refused(web, example_db):
    lotte = web("lotte")
    response = lotte.post("/opportunities/OPP-1/solutions", {"title": "", "due_on": "2027-01-31"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="solution-title-error"' in html and 'value="2027-01-31"' in html
    response = lotte.post("/opportunities/OPP-1/solutions", {"title": "Porting date SMS", "due_on": "2027-01-31"})
    assert response.status_code == 302
    assert "Porting date SMS" in lotte.get("/opportunities/OPP-1").get_data(as_text=True)
    assert web("priya").post("/opportunities/OPP-1/solutions", {"title": "x"}).status_code == 403


def test_the_live_playbook_links_back_into_the_app_and_to_my_own_page(web):
    html = web("lotte").get("/playbook/index.html").get_data(as_text=True)
    assert "Back to the app" in html and 'href="/board"' in html
    assert 'href="/playbook/people/lotte.html">Your page: Lotte de Vries' in html
    lifecycle = web("lotte").get("/playbook/lifecycle.html").get_data(as_text=True)
    person = web("lotte").get("/playbook/people/lotte.html").get_data(as_text=True)
    assert '<a href="/opportunities/OPP-1">OPP-1</a>' in person + lifecycle
