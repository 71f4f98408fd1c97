"""The journey framework, evidence, the audit trail, the outbox and governance as code, over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from govern.model import OutboxMessage
from govern.policy import Actor
from govern.workflows.services import queue_missing_backlog_items

from .conftest import assert_error

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "telecom" / "govern.yaml"


def test_journeys_list_in_hierarchy_and_filter(api):
    journeys = api.get("/journeys", as_="iris").get_json()
    assert journeys[0]["key"] == "being-a-customer" and journeys[0]["parent"] is None
    assert json.loads(api.get("/journeys", as_="iris").headers["X-Pagination"])["total"] == 14
    children = [j["key"] for j in api.get("/journeys?parent=paying-my-bill", as_="iris").get_json()]
    assert children == ["understanding-my-bill", "flagging-wrong-charges", "setting-up-direct-debit"]
    assert [j["key"] for j in api.get("/journeys?owner=tom", as_="iris").get_json()] == ["setting-up-direct-debit"]
    assert [j["key"] for j in api.get("/journeys?q=roaming", as_="iris").get_json()] == ["managing-roaming"]
    assert api.get("/journeys?ownerless=true", as_="iris").get_json() == []
    journey = api.get("/journeys/switching-providers", as_="iris").get_json()
    assert [s["key"] for s in journey["stages"]] == ["before", "during", "after"]
    port = next(s for s in journey["steps"] if s["key"] == "port-number")
    assert port["moment_that_matters"] is True and port["emotion_score"] == -1.5 and port["stage"] == "during"
    assert [c["key"] for c in api.get("/journeys/switching-providers/children", as_="iris").get_json()] == [
        "activating-my-sim"]


def test_a_journey_is_built_stage_by_stage_and_step_by_step(api):
    created = api.post("/journeys", as_="marco", json={"key": "upgrading-my-router", "name": "Upgrading my router",
                                                       "level": "micro", "parent": "getting-connected",
                                                       "owner": "sam"})
    assert created.status_code == 201 and created.get_json()["owner"]["handle"] == "sam"
    assert api.post("/journeys/upgrading-my-router/stages", as_="sam", json={"key": "during", "name": "During"}
                    ).status_code == 201
    step = api.post("/journeys/upgrading-my-router/steps", as_="sam",
                    json={"key": "order-router", "name": "Order the new router", "stage": "during",
                          "channel": "app", "moment_that_matters": True, "emotion_score": -0.5})
    assert step.status_code == 201 and step.get_json()["ref"] == "upgrading-my-router/order-router"
    assert_error(api.post("/journeys/upgrading-my-router/steps", as_="sam",
                          json={"key": "x", "name": "X", "emotion_score": 5}), 422)
    assert api.patch("/journeys/upgrading-my-router/steps/order-router", as_="sam", json={"channel": "web"}
                     ).get_json()["channel"] == "web"
    assert_error(api.post("/journeys/upgrading-my-router/stages", as_="lotte", json={"key": "after", "name": "A"}),
                 403)  # lotte coordinates switching providers, not this journey
    assert_error(api.patch("/journeys/upgrading-my-router", as_="sam", json={"owner": "lotte"}), 403)
    assert api.patch("/journeys/upgrading-my-router", as_="sam", json={"description": "new routers"}
                     ).status_code == 200
    assert api.delete("/journeys/upgrading-my-router/steps/order-router", as_="sam").status_code == 204
    assert api.delete("/journeys/upgrading-my-router", as_="marco").status_code == 204
    assert_error(api.get("/journeys/upgrading-my-router", as_="marco"), 404)


def test_a_step_with_evidence_is_removed_only_by_moving_its_evidence(api):
    error = assert_error(api.delete("/journeys/moving-house/steps/tell-new-address", as_="sam"), 409, "refused")
    assert "move them to another step first" in error["message"]
    assert api.delete("/journeys/moving-house/steps/tell-new-address?move_evidence_to=moving-house/port-number",
                      as_="sam").status_code == 204
    moved = api.get("/journeys/moving-house/steps/port-number/insights", as_="sam").get_json()
    assert "INS-22" in [i["key"] for i in moved]


def test_evidence_is_recorded_linked_across_journeys_and_never_orphaned(api):
    recorded = api.post("/insights", as_="priya", json={
        "text": "Porting status page visits tripled", "source": "Web analytics", "kind": "analytics",
        "observed_on": "2026-10-02", "steps": ["switching-providers/port-number"]})
    assert recorded.status_code == 201
    key = recorded.get_json()["key"]
    linked = api.post(f"/insights/{key}/steps", as_="priya", json={"steps": ["moving-house/port-number"]})
    assert linked.get_json()["journeys"] == ["moving-house", "switching-providers"]
    assert api.delete(f"/insights/{key}/steps/moving-house/port-number", as_="priya").status_code == 200
    assert_error(api.delete(f"/insights/{key}/steps/switching-providers/port-number", as_="priya"), 409, "refused")
    assert_error(api.delete(f"/insights/{key}?reason=duplicate", as_="tom"), 403)  # not his, not his journey
    assert_error(api.delete(f"/insights/{key}", as_="marco"), 422)  # a reason is required
    assert api.delete(f"/insights/{key}?reason=duplicate", as_="marco").status_code == 204
    assert_error(api.delete("/insights/INS-22?reason=x", as_="marco"), 409, "refused")  # OPP's only evidence
    by_journey = [i["key"] for i in api.get("/insights?journey=reporting-an-outage&sort=-number",
                                            as_="iris").get_json()]
    assert by_journey == ["INS-17", "INS-16", "INS-15"]
    assert [i["key"] for i in api.get("/insights?opportunity=OPP-5", as_="iris").get_json()] == ["INS-13", "INS-14"]
    assert [i["key"] for i in api.get("/insights?kind=interview", as_="iris").get_json()] == ["INS-29"]


def test_personas_are_listed_and_created(api):
    created = api.post("/personas", as_="lotte", json={"key": "night-owl", "name": "The night owl",
                                                       "needs": ["help at 2 a.m."], "journeys": ["getting-help"]})
    assert created.status_code == 201 and created.get_json()["journeys"] == ["getting-help"]
    assert "night-owl" in [p["key"] for p in api.get("/personas", as_="iris").get_json()]
    assert api.get("/personas/switcher", as_="iris").get_json()["needs"][0] == "keep my number"


def test_the_audit_trail_filters_by_entity_and_verifies(api):
    api.patch("/opportunities/OPP-12", as_="noah", json={"description": "search synonyms"})
    events = api.get("/audit/events?entity_type=opportunity&entity_id=OPP-12", as_="iris").get_json()
    assert [e["action"] for e in events][-1] == "opportunity.updated" and events[-1]["actor"] == "noah"
    assert events[-1]["after"]["description"] == "search synonyms"
    latest = events[-1]["id"]
    assert api.get(f"/audit/events?entity_id=OPP-12&after_id={latest}", as_="iris").get_json() == []
    assert api.get(f"/audit/events?entity_id=OPP-12&after_id={latest - 1}", as_="iris").get_json()[0]["id"] == latest
    assert all(e["action"].startswith("opportunity.") for e in
               api.get("/audit/events?action=opportunity.&page_size=20", as_="iris").get_json())
    assert api.get("/audit/verify", as_="iris").get_json()["ok"] is True


def test_the_outbox_lists_by_status_and_topic_and_retries_dead_messages(api):
    with api.db.session_scope() as s:  # the reconciler's producer queues the solutions of OPP-3 (in implement)
        queued = queue_missing_backlog_items(s, Actor.system_actor("jira"))
    assert queued
    asked = api.post("/opportunities/OPP-1/transitions", as_="lotte", json={"to": "prioritise"})
    assert asked.status_code == 202  # the request notifies whoever must decide
    with api.db.session_scope() as s:  # Jira refuses the first item for good (a fault on the producer's own row)
        dead = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == "jira")
                         .order_by(OutboxMessage.id)).first()
        dead.status, dead.last_error = "dead", "HTTP 400: project OPS does not exist"
        s.commit()
        dead_id = dead.id
    assert [m["id"] for m in api.get("/outbox/messages?status=dead", as_="iris").get_json()] == [dead_id]
    notices = api.get("/outbox/messages?topic=notifications", as_="iris").get_json()
    assert notices and {m["topic"] for m in notices} == {"notifications"}
    counts = api.get("/outbox/summary", as_="iris").get_json()["counts"]
    assert counts == {"dead": 1, "pending": len(queued) - 1 + len(notices)}
    assert_error(api.post(f"/outbox/messages/{dead_id}/retry", as_="lotte"), 403)
    retried = api.post(f"/outbox/messages/{dead_id}/retry", as_="marco")
    assert retried.status_code == 200 and retried.get_json()["status"] == "pending"
    assert_error(api.post(f"/outbox/messages/{dead_id}/retry", as_="marco"), 409)


def test_governance_as_code_is_checked_and_applied_by_an_admin(api):
    text = EXAMPLE.read_text(encoding="utf-8")
    plan = api.post("/config/apply", as_="ana", json={"yaml": text, "dry_run": True}).get_json()
    assert plan == {"applied": False, "empty": True, "changes": [], "refusals": []}
    changed = text.replace("name: Paying my bill\n", "name: Paying my bills\n", 1)
    plan = api.post("/config/apply", as_="ana", json={"yaml": changed}).get_json()
    assert plan["applied"] is True and len(plan["changes"]) == 1
    assert api.get("/journeys/paying-my-bill", as_="ana").get_json()["name"] == "Paying my bills"
    error = assert_error(api.post("/config/apply", as_="ana", json={"yaml": "journeys: [{key: x}]"}), 422)
    assert any(path.startswith("journeys[0]") for path in error["details"])
    assert_error(api.post("/config/apply", as_="priya", json={"yaml": text, "dry_run": True}), 403)
