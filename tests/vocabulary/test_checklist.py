"""Checklist guards: a check the lifecycle declares, ticked by the people it names, through services, API and web."""

from __future__ import annotations

import pytest

from govern.errors import GuardsUnmet, InvalidInput, PermissionDenied
from govern.model import AuditEvent
from govern.services.common import load_actor
from govern.workflows import checklist, services
from govern.cli.support import DEMO_PASSWORD
from govern.policy import Actor
from govern.services.people import set_password
from tests.api.conftest import ApiClient
from tests.web.conftest import WebClient
from tests.vocabulary.test_decision_rights import apply, organisation

SAFETY_CASE = {"title": "Clinical safety case attached",
               "description": "The safety officer confirms a clinical safety case exists for the change.",
               "tickers": ["cmo"], "link": "required"}
LINK = "https://docs.example/safety/OPP-1"


def with_safety_check(db) -> None:
    doc = organisation()
    doc["lifecycle"]["checks"] = {"safety_case": SAFETY_CASE}
    prioritise = doc["lifecycle"]["transitions"][0]
    prioritise["guards"] = [*prioritise["guards"], "safety_case"]
    apply(db, doc)


def test_an_unticked_check_holds_the_transition_and_says_what_it_needs(example_db):
    with_safety_check(example_db)
    with example_db.session_scope() as s:
        with pytest.raises(GuardsUnmet) as refused:
            services.request_transition(s, load_actor(s, "lotte"), "OPP-1", "prioritise")
        assert refused.value.details["unmet"] == ["needs “Clinical safety case attached” ticked"]


def test_only_a_ticker_ticks_and_the_tick_records_who_when_and_the_link(example_db):
    with_safety_check(example_db)
    with example_db.session_scope() as s:
        with pytest.raises(PermissionDenied, match="lotte may not tick “Clinical safety case attached”: that is for cmo"):
            checklist.tick_check(s, load_actor(s, "lotte"), "OPP-1", "safety_case", link=LINK)
        with pytest.raises(InvalidInput, match="needs a link to its evidence"):
            checklist.tick_check(s, load_actor(s, "okafor"), "OPP-1", "safety_case")
        with pytest.raises(InvalidInput, match="http"):
            checklist.tick_check(s, load_actor(s, "okafor"), "OPP-1", "safety_case", link="javascript:alert(1)")
        checklist.tick_check(s, load_actor(s, "okafor"), "OPP-1", "safety_case", link=LINK, note="DCB0129 done")
        item, = checklist.checklist(s, load_actor(s, "lotte"), "OPP-1")
        assert (item["ticked"], item["ticked_by"], item["link"], item["may_tick"]) == (True, "okafor", LINK, False)
        assert item["ticked_at"] is not None
        event = s.query(AuditEvent).filter_by(action="check.ticked").one()
        assert (event.actor, event.after["link"]) == ("okafor", LINK)
        result = services.request_transition(s, load_actor(s, "lotte"), "OPP-1", "prioritise")
        assert "“Clinical safety case attached” is ticked" in [g.message for g in result.check.guard_results]


def test_checks_through_the_api_and_the_web_page(example_app, example_db):
    with_safety_check(example_db)
    api = ApiClient(example_app, example_db)
    listed = api.get("/opportunities/OPP-1/checks", as_="okafor")
    assert listed.status_code == 200 and listed.json[0]["may_tick"] is True
    refused = api.post("/opportunities/OPP-1/checks/safety_case", as_="lotte", json={"link": LINK})
    assert refused.status_code == 403 and "that is for cmo" in refused.json["error"]["message"]
    missing = api.post("/opportunities/OPP-1/checks/nothing", as_="okafor", json={})
    assert missing.status_code == 404 and "has no check 'nothing'" in missing.json["error"]["message"]
    ticked = api.post("/opportunities/OPP-1/checks/safety_case", as_="okafor", json={"link": LINK})
    assert ticked.status_code == 201 and ticked.json["ticked_by"] == "okafor"
    options = api.get("/opportunities/OPP-1/transitions", as_="lotte").json
    prioritise = next(o for o in options if o["trigger"] == "prioritise")
    assert {"guard": "checklist", "ok": True} == {k: v for k, v in prioritise["guards"][-1].items()
                                                   if k in ("guard", "ok")}
    assert api.delete("/opportunities/OPP-1/checks/safety_case?reason=wrong%20file", as_="okafor").status_code == 204

    with example_db.session_scope() as s:
        set_password(s, Actor.system_actor("test"), "okafor", DEMO_PASSWORD)
    web = WebClient(example_app.test_client()).sign_in("okafor")
    page = web.get("/opportunities/OPP-1").get_data(as_text=True)
    assert "Clinical safety case attached" in page and "Tick “Clinical safety case attached”" in page
    assert "needs “Clinical safety case attached” ticked" in page
    done = web.post("/opportunities/OPP-1/checks/safety_case", {"link": LINK, "note": "signed"})
    assert done.status_code == 302
    page = web.get("/opportunities/OPP-1").get_data(as_text=True)
    assert "ticked by" in page and "Take the tick back" in page and "“signed”" in page
