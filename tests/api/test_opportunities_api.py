"""Opportunities over HTTP: lists with filters, sorting and pages; ETag / If-Match; the lifecycle and approvals."""

from __future__ import annotations

import json

import sqlalchemy as sa

from .conftest import assert_error


def keys(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["key"] for item in response.get_json()]


def test_the_portfolio_filters_by_journey_state_owner_and_text(api):
    assert keys(api.get("/opportunities?journey=moving-house", as_="priya")) == ["OPP-1", "OPP-7", "OPP-8"]
    # A journey means that journey and every journey below it (one meaning, everywhere).
    assert keys(api.get("/opportunities?journey=changing-my-plan", as_="priya")) == [
        "OPP-1", "OPP-2", "OPP-7", "OPP-8", "OPP-9", "OPP-10"]
    assert keys(api.get("/opportunities?state=research&owner=lotte", as_="priya")) == ["OPP-1", "OPP-6", "OPP-10"]
    assert keys(api.get("/opportunities?q=ROAM", as_="priya")) == ["OPP-2", "OPP-10"]
    assert keys(api.get("/opportunities?q=100%25", as_="priya")) == []  # LIKE wildcards are taken literally
    assert_error(api.get("/opportunities?journey=no-such-journey", as_="priya"), 404)
    assert_error(api.get("/opportunities?owner=nobody", as_="priya"), 404)
    assert keys(api.get("/opportunities?persona=switcher", as_="priya")) == ["OPP-1", "OPP-6", "OPP-11", "OPP-12"]


def test_the_portfolio_sorts_and_pages_with_a_total(api):
    assert keys(api.get("/opportunities?sort=-number&page_size=3", as_="priya")) == ["OPP-12", "OPP-11", "OPP-10"]
    response = api.get("/opportunities?sort=-number&page_size=3&page=2", as_="priya")
    assert keys(response) == ["OPP-9", "OPP-8", "OPP-7"]
    pages = json.loads(response.headers["X-Pagination"])
    assert pages["total"] == 12 and pages["total_pages"] == 4 and pages["page"] == 2 and pages["next_page"] == 3
    assert keys(api.get("/opportunities?page=99", as_="priya")) == []
    titles = [o["title"] for o in api.get("/opportunities?sort=title", as_="priya").get_json()]
    assert titles == sorted(titles)


def test_an_opportunity_carries_its_version_as_etag_and_a_stale_if_match_is_412(api):
    response = api.get("/opportunities/OPP-6", as_="lotte")
    etag = response.headers["ETag"]
    assert etag == f'"{response.get_json()["version"]}"'
    changed = api.patch("/opportunities/OPP-6", as_="lotte", json={"description": "SIMs activate themselves"},
                        headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["description"] == "SIMs activate themselves"
    assert changed.headers["ETag"] != etag
    stale = api.patch("/opportunities/OPP-6", as_="lotte", json={"title": "How might we lose this edit?"},
                      headers={"If-Match": etag})
    error = assert_error(stale, 412, "precondition_failed")
    assert error["details"]["version"] == changed.get_json()["version"]
    assert api.get("/opportunities/OPP-6", as_="lotte").get_json()["title"].startswith("How might we activate")
    assert_error(api.patch("/opportunities/OPP-6", as_="lotte", json={"title": "x"}, headers={"If-Match": "nonsense"}),
                 412)


def test_a_scoped_coordinator_edits_only_opportunities_in_their_journeys(api):
    assert api.patch("/opportunities/OPP-1", as_="lotte", json={"description": "porting"}).status_code == 200
    error = assert_error(api.patch("/opportunities/OPP-3", as_="lotte", json={"description": "billing"}), 403)
    assert "lotte" in error["message"]


def test_creating_an_opportunity_links_journeys_evidence_and_kpis(api):
    response = api.post("/opportunities", as_="femke",
                        json={"title": "How might we explain pro-rata bills?", "journeys": ["paying-my-bill"],
                              "insights": ["INS-8"], "kpis": ["bill-csat"]})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["key"] == "OPP-13" and body["state"] == "research" and body["owner"]["handle"] == "femke"
    assert body["insights"] == ["INS-8"] and body["kpis"] == ["bill-csat"]
    assert response.headers["ETag"] == '"1"'
    linked = api.post("/opportunities/OPP-13/insights", as_="priya", json={"insights": ["INS-10"]})
    assert linked.get_json()["insights"] == ["INS-8", "INS-10"]
    assert_error(api.post("/opportunities", as_="femke", json={"title": "x", "journeys": ["nowhere"]}), 404)


def test_solutions_are_added_and_progressed(api):
    added = api.post("/opportunities/OPP-6/solutions", as_="lotte", json={"title": "eSIM QR fallback code",
                                                                           "due_on": "2027-02-01"})
    assert added.status_code == 201
    solution = added.get_json()
    assert solution["state"] == "todo" and solution["due_on"] == "2027-02-01"
    moved = api.patch(f"/opportunities/OPP-6/solutions/{solution['id']}", as_="lotte", json={"state": "in_progress"})
    assert moved.get_json()["state"] == "in_progress"
    assert [s["title"] for s in api.get("/opportunities/OPP-6/solutions", as_="iris").get_json()] == [
        "eSIM QR fallback code"]
    assert_error(api.patch(f"/opportunities/OPP-1/solutions/{solution['id']}", as_="lotte", json={"state": "done"}),
                 404)
    assert_error(api.patch(f"/opportunities/OPP-6/solutions/{solution['id']}", as_="lotte", json={"state": "shipped"}),
                 422)


def test_available_transitions_explain_guards_and_approvers(api):
    options = {t["trigger"]: t for t in api.get("/opportunities/OPP-8/transitions", as_="sam").get_json()}
    prioritise = options["prioritise"]
    assert prioritise["ok"] is False and prioritise["approval_text"] == "the lead"
    assert "needs 2 pieces of evidence, has 1" in " ".join(prioritise["unmet"])
    assert prioritise["may_request"] is True
    assert api.get("/opportunities/OPP-8/transitions", as_="priya").get_json()[0]["may_request"] is False


def test_unmet_guards_are_a_409_listing_every_one(api):
    error = assert_error(api.post("/opportunities/OPP-8/transitions", as_="sam", json={"to": "prioritise"}), 409,
                         "guards_unmet")
    assert len(error["details"]["unmet"]) == 2
    error = assert_error(api.post("/opportunities/OPP-8/transitions", as_="sam", json={"to": "prioritise",
                                                                                       "trigger": "prioritise"}), 422)
    assert "to" in error["details"]
    assert_error(api.post("/opportunities/OPP-8/transitions", as_="sam", json={"to": "parked"}), 422)  # no reason


def test_a_transition_without_approval_moves_at_once(api):
    response = api.post("/opportunities/OPP-8/transitions", as_="sam",
                        json={"trigger": "park", "reason": "the new address service ships in Q3"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["moved"] is True and body["state"] == "parked"
    assert response.headers["ETag"] == f'"{body["version"]}"'
    history = api.get("/opportunities/OPP-8/history", as_="priya").get_json()
    assert history[-1]["action"] == "opportunity.transitioned" and history[-1]["to"] == "parked"
    assert history[-1]["from"] == "research" and history[-1]["reason"] == "the new address service ships in Q3"


def test_a_request_awaits_the_lead_who_approves_it_from_the_inbox(api):
    requested = api.post("/opportunities/OPP-1/transitions", as_="lotte",
                         json={"to": "prioritise", "reason": "three journeys report it"})
    assert requested.status_code == 202, requested.get_data(as_text=True)
    request_id = requested.get_json()["request"]["id"]
    assert requested.get_json()["moved"] is False
    assert requested.get_json()["request"]["requested_by"] == "lotte"

    inbox = api.get("/approvals/awaiting", as_="ana").get_json()
    assert [r["id"] for r in inbox] == [request_id] and inbox[0]["capacities"] == ["role:lead"]
    assert api.get("/approvals/awaiting", as_="marco").get_json() == []
    pending = api.get("/opportunities/OPP-1/approvals?status=pending", as_="priya").get_json()
    assert [r["id"] for r in pending] == [request_id]

    error = assert_error(api.post(f"/approvals/{request_id}/approve", as_="lotte", json={}), 403, "forbidden")
    assert "separation of duties" in error["message"]
    error = assert_error(api.post(f"/approvals/{request_id}/approve", as_="priya", json={}), 403, "forbidden")
    assert "the lead (Ana Silva)" in error["message"]
    assert_error(api.post("/opportunities/OPP-1/transitions", as_="lotte", json={"to": "prioritise"}), 409)

    approved = api.post(f"/approvals/{request_id}/approve", as_="ana", json={"reason": "agreed in the council"})
    assert approved.status_code == 200, approved.get_data(as_text=True)
    assert approved.get_json()["moved"] is True and approved.get_json()["state"] == "prioritise"
    again = assert_error(api.post(f"/approvals/{request_id}/approve", as_="ana", json={}), 409, "conflict")
    assert "already approved" in again["message"]
    assert api.get(f"/approvals/{request_id}", as_="priya").get_json()["status"] == "approved"
    actions = [h["action"] for h in api.get("/opportunities/OPP-1/history", as_="priya").get_json()]
    assert actions[-3:] == ["transition.requested", "approval.approved", "opportunity.transitioned"]


def test_a_request_is_rejected_with_a_reason_or_withdrawn_by_its_requester(api):
    first = api.post("/opportunities/OPP-6/transitions", as_="lotte", json={"trigger": "reject",
                                                                            "reason": "out of scope"})
    request_id = first.get_json()["request"]["id"]
    assert_error(api.post(f"/approvals/{request_id}/reject", as_="ana", json={}), 422, "invalid_input")
    rejected = api.post(f"/approvals/{request_id}/reject", as_="ana", json={"reason": "we still want this"})
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"

    second = api.post("/opportunities/OPP-6/transitions", as_="lotte", json={"trigger": "reject",
                                                                             "reason": "really out of scope"})
    request_id = second.get_json()["request"]["id"]
    assert_error(api.post(f"/approvals/{request_id}/withdraw", as_="priya", json={}), 403)
    withdrawn = api.post(f"/approvals/{request_id}/withdraw", as_="lotte", json={"reason": "changed my mind"})
    assert withdrawn.get_json()["status"] == "withdrawn"
    listed = api.get("/approvals?opportunity=OPP-6", as_="priya").get_json()
    assert [r["status"] for r in listed] == ["withdrawn", "rejected"]
    assert [r["status"] for r in api.get("/approvals?status=rejected", as_="priya").get_json()] == ["rejected"]


def test_marking_every_solution_done_moves_the_opportunity_on_as_jira_would(api, example_db):
    from govern.model import Opportunity

    solutions = api.get("/opportunities/OPP-3/solutions", as_="iris").get_json()
    assert solutions and {s["state"] for s in solutions} != {"done"}
    for solution in solutions[:-1]:
        api.patch(f"/opportunities/OPP-3/solutions/{solution['id']}", as_="femke", json={"state": "done"})
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(Opportunity.state).where(Opportunity.number == 3)) == "implement"
    last = api.patch(f"/opportunities/OPP-3/solutions/{solutions[-1]['id']}", as_="femke", json={"state": "done"})
    assert last.status_code == 200 and last.get_json()["state"] == "done"
    with example_db.session_scope() as s:  # the lifecycle's auto rule: implement → evaluate once all are delivered
        assert s.scalar(sa.select(Opportunity.state).where(Opportunity.number == 3)) == "evaluate"
