"""Curation and triage through the REST API: PATCH and merge of insights, delete refusals, the triage list with its
suggested steps and one-call linking, and bad input answered in the one error shape."""

from __future__ import annotations

# ruff: noqa: F811 - the tests take the API tests' `api` fixture, imported here, over this folder's own
from tests.api.conftest import ApiClient, api, assert_error  # noqa: F401 - the `api` fixture

PORTING = "Porting has been stuck for a week and nobody tells me the date"


def _record(api, who="lotte", **overrides):
    body = {"text": PORTING, "source": "Zendesk ticket 5512", "kind": "ticket", "observed_on": "2026-10-01",
            "steps": []}
    body.update(overrides)
    response = api.post("/insights", as_=who, json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_patch_edits_an_insight_and_setting_the_sentiment_clears_the_suggestion(api):
    recorded = _record(api, steps=["switching-providers/port-number"])
    assert recorded["sentiment_suggested"] is True and recorded["sentiment"] < 0  # VADER's suggestion
    key = recorded["key"]
    edited = api.patch(f"/insights/{key}", as_="lotte", json={
        "volume": 420, "sentiment": -1.5, "tags": ["porting", "delay"], "personas": ["switcher"],
        "url": "https://help.example/tickets/5512"})
    assert edited.status_code == 200, edited.get_data(as_text=True)
    body = edited.get_json()
    assert (body["volume"], body["sentiment"], body["sentiment_suggested"]) == (420, -1.5, False)
    assert body["personas"] == ["switcher"] and body["tags"] == ["porting", "delay"]
    error = assert_error(api.patch(f"/insights/{key}", as_="lotte", json={"sentiment": 2.5, "volume": 0}), 422)
    assert set(error["details"]) == {"sentiment", "volume"}
    assert_error(api.patch(f"/insights/{key}", as_="lotte", json={"colour": "red"}), 422)
    assert_error(api.patch("/insights/INS-9999", as_="lotte", json={"volume": 2}), 404)
    assert_error(api.patch(f"/insights/{key}", as_="tom", json={"volume": 2}), 403)  # someone else's, not his journey


def test_creating_a_near_identical_insight_names_the_likely_duplicate(api):
    first = _record(api)
    second = _record(api, text=PORTING + "!")
    assert first["likely_duplicates"] == []
    assert [d["key"] for d in second["likely_duplicates"]] == [first["key"]]
    assert second["likely_duplicates"][0]["label"] == "suggestion"


def test_merge_moves_the_evidence_and_refuses_itself_and_unknown_keys(api):
    a = _record(api, steps=["switching-providers/port-number"])["key"]
    b = _record(api, text=PORTING + ".")["key"]
    assert_error(api.post(f"/insights/{a}/merge", as_="marco", json={"into": a}), 422)
    assert_error(api.post(f"/insights/{a}/merge", as_="marco", json={"into": "INS-9999"}), 404)
    assert_error(api.post("/insights/INS-9999/merge", as_="marco", json={"into": a}), 404)
    assert_error(api.post(f"/insights/{a}/merge", as_="marco", json={}), 422)
    assert_error(api.post(f"/insights/{a}/merge", as_="marco", json={"into": "OPP-1"}), 422)
    merged = api.post(f"/insights/{a}/merge", as_="marco", json={"into": b})
    assert merged.status_code == 200, merged.get_data(as_text=True)
    assert merged.get_json()["key"] == b and merged.get_json()["steps"] == ["switching-providers/port-number"]
    assert api.get(f"/insights/{a}", as_="iris").get_json()["merged_into"] == b
    listed = [i["key"] for i in api.get("/insights?q=stuck for a week", as_="iris").get_json()]
    assert a not in listed and b in listed
    assert_error(api.post(f"/insights/{a}/merge", as_="marco", json={"into": b}), 409)


def test_deleting_the_only_evidence_of_an_opportunity_is_refused_naming_it(api):
    error = assert_error(api.delete("/insights/INS-22?reason=duplicate", as_="marco"), 409, "refused")
    assert error["details"]["opportunities"] and error["details"]["opportunities"][0] in error["message"]
    assert api.get("/insights/INS-22", as_="marco").status_code == 200


def test_triage_lists_what_matches_no_step_with_suggestions_and_links_in_one_call(api):
    key = _record(api)["key"]  # no step: waits in triage
    page = api.get("/evidence/triage", as_="lotte")
    assert page.status_code == 200, page.get_data(as_text=True)
    body = page.get_json()
    item = next(i for i in body["items"] if i["insight"]["key"] == key)
    suggested = [s["step"] for s in item["suggested_steps"]]
    assert suggested and suggested[0].endswith("/port-number")
    assert all(s["label"] == "suggestion" for s in item["suggested_steps"])
    linked = api.post(f"/insights/{key}/steps", as_="lotte", json={"steps": [suggested[0]]})
    assert linked.status_code == 200
    after = api.get("/evidence/triage", as_="lotte").get_json()
    assert key not in [i["insight"]["key"] for i in after["items"]] and after["total"] == body["total"] - 1
    assert_error(api.get("/evidence/triage?page_size=0", as_="lotte"), 422)


def test_a_supporter_sees_only_their_own_evidence_in_triage(api):
    mine = _record(api, who="tom")["key"]
    theirs = _record(api, who="lotte", text="The SIM never arrived")["key"]
    keys = [i["insight"]["key"] for i in api.get("/evidence/triage", as_="tom").get_json()["items"]]
    assert mine in keys and theirs not in keys
    keys = [i["insight"]["key"] for i in api.get("/evidence/triage", as_="femke").get_json()["items"]]
    assert {mine, theirs} <= set(keys)  # a coordinator sees what waits for no journey


def test_suggestions_and_themes_are_labelled_and_computed_locally(api):
    key = _record(api)["key"]
    body = api.get(f"/insights/{key}/suggestions", as_="iris").get_json()
    assert body["label"] == "suggestion" and body["steps"][0]["step"].endswith("/port-number")
    assert body["sentiment"] is not None and -2 <= body["sentiment"] <= 2
    themes = api.get("/evidence/themes?scope=all", as_="iris").get_json()
    assert themes["considered"] == themes["total"] > 0 and themes["themes"]
    assert sum(t["size"] for t in themes["themes"]) == themes["considered"]
    assert_error(api.get("/evidence/themes?scope=everything", as_="iris"), 422)
