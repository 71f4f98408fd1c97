"""Finding 2: approval bypass by editing the scope. Who must approve is fixed when the request is made."""

from __future__ import annotations

from govern.policy import Actor
from govern.services.people import seat_member

from .conftest import assert_error, new_opportunity

THREE_JOURNEYS = ("switching-providers", "paying-my-bill", "getting-help")  # owners lotte, femke, noah


def _request(api, key, as_="lotte"):
    answer = api.post(f"/opportunities/{key}/transitions", as_=as_, json={"trigger": "prioritise"})
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["request"]["id"]


def test_dropping_a_journey_does_not_drop_its_owner_from_a_pending_request(api, owners_all):
    key = new_opportunity(api.db, THREE_JOURNEYS)
    request_id = _request(api, key)
    # The attack: drop noah's journey, have femke approve, put the journey back.
    dropped = api.patch(f"/opportunities/{key}", as_="lotte", json={"journeys": ["switching-providers",
                                                                              "paying-my-bill"]})
    assert dropped.status_code == 200, dropped.get_json()
    approved = api.post(f"/approvals/{request_id}/approve", as_="femke", json={})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["moved"] is False
    assert any("Getting help" in w for w in approved.get_json()["approval"]["waiting_for"])
    api.patch(f"/opportunities/{key}", as_="lotte", json={"journeys": list(THREE_JOURNEYS)})
    assert api.get(f"/opportunities/{key}", as_="lotte").get_json()["state"] == "research"
    assert api.get(f"/approvals/{request_id}", as_="lotte").get_json()["status"] == "pending"
    finished = api.post(f"/approvals/{request_id}/approve", as_="noah", json={})
    assert finished.get_json()["moved"] is True


def test_adding_a_journey_after_the_request_does_not_let_its_owner_decide(api, owners_all):
    key = new_opportunity(api.db, ("switching-providers", "paying-my-bill"))
    request_id = _request(api, key)
    api.patch(f"/opportunities/{key}", as_="lotte", json={"journeys": list(THREE_JOURNEYS)})
    assert_error(api.post(f"/approvals/{request_id}/approve", as_="noah", json={}), 403)
    assert api.post(f"/approvals/{request_id}/approve", as_="femke", json={}).get_json()["moved"] is True


def test_a_lead_seated_after_the_request_is_not_an_approver(api):
    key = new_opportunity(api.db, ("switching-providers", "paying-my-bill"))
    # The default lifecycle's reject needs the lead; marco (manager) is not one when lotte asks.
    answer = api.post(f"/opportunities/{key}/transitions", as_="lotte", json={"trigger": "reject",
                                                                            "reason": "not now"})
    assert answer.status_code == 202, answer.get_json()
    request_id = answer.get_json()["request"]["id"]
    with api.db.session_scope() as s:
        seat_member(s, Actor.system_actor("attack-setup"), person="marco", role="lead")
    assert_error(api.post(f"/approvals/{request_id}/approve", as_="marco", json={}), 403)
    assert api.post(f"/approvals/{request_id}/approve", as_="ana", json={}).get_json()["moved"] is True
