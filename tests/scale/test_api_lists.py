"""The API lists read a page in one statement (issue 16); what they answer stays what the single resources answer:
every listed item equals the item read on its own, in every order, and the paging metadata counts the whole list."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import ApiClient


@pytest.fixture
def api(example_app, example_db) -> ApiClient:
    return ApiClient(example_app, example_db)


def _listed(api, path: str, **params) -> tuple[list[dict], dict]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = api.get(f"{path}?{query}", as_="ana")
    assert response.status_code == 200, response.get_json()
    return response.get_json(), json.loads(response.headers["X-Pagination"])


def test_a_listed_opportunity_reads_exactly_like_the_opportunity_itself(api):
    # Give two opportunities everything a listed one embeds: solutions, KPIs, more journeys and evidence.
    for key in ("OPP-1", "OPP-3"):
        for title in ("Second thing to try", "First thing to try"):
            assert api.post(f"/opportunities/{key}/solutions", as_="ana", json={"title": title}).status_code == 201
    kpis = [k["key"] for k in api.get("/kpis", as_="ana").get_json()][:3]
    insights = [i["key"] for i in _listed(api, "/insights", page_size=6)[0]]
    journeys = [j["key"] for j in _listed(api, "/journeys", page_size=4)[0]]
    response = api.patch("/opportunities/OPP-3", as_="ana",
                         json={"kpis": list(reversed(kpis)), "insights": insights, "journeys": journeys})
    assert response.status_code == 200, response.get_json()
    for sort in ("number", "-title", "state", "-updated_at"):
        items, paging = _listed(api, "/opportunities", sort=sort, page_size=500)
        assert paging["total"] == len(items) > 10
        for item in items:
            assert item == api.get(f"/opportunities/{item['key']}", as_="ana").get_json(), (sort, item["key"])
    assert any(item["solutions"] and item["kpis"] for item in items)


def test_pages_of_a_list_carry_the_total_of_the_whole_list_also_past_its_end(api):
    everything, paging = _listed(api, "/opportunities", page_size=500)
    total = paging["total"]
    second, paging = _listed(api, "/opportunities", page=2, page_size=5)
    assert [o["key"] for o in second] == [o["key"] for o in everything[5:10]]
    assert paging == {"total": total, "total_pages": -(-total // 5), "first_page": 1, "last_page": -(-total // 5),
                      "page": 2, "previous_page": 1, "next_page": 3}
    past, paging = _listed(api, "/opportunities", page=99, page_size=5)
    assert past == [] and paging["total"] == total
    nothing, paging = _listed(api, "/opportunities", q="no such words anywhere")
    assert nothing == [] and paging == {"total": 0, "total_pages": 0}


def test_listed_evidence_and_journeys_read_exactly_like_each_read_on_its_own(api):
    insight = api.post("/insights", as_="ana", json={
        "text": "Porting took 9 days", "source": "tickets", "kind": "ticket", "observed_on": "2026-03-01",
        "steps": ["moving-house/port-number", "switching-providers/port-number"]}).get_json()
    assert len(insight["steps"]) == 2
    for sort in ("number", "-observed_on", "source"):
        items, paging = _listed(api, "/insights", sort=sort, page_size=500)
        assert paging["total"] == len(items) > 10
        for item in items:
            assert item == api.get(f"/insights/{item['key']}", as_="ana").get_json(), (sort, item["key"])
    on_the_step = _listed(api, "/insights", step="moving-house/port-number", page_size=500)[0]
    assert insight["key"] in [i["key"] for i in on_the_step]
    assert all("moving-house/port-number" in i["steps"] for i in on_the_step)
    for sort in (None, "key", "-name"):
        items, paging = _listed(api, "/journeys", page_size=500, **({"sort": sort} if sort else {}))
        assert paging["total"] == len(items) > 3
        for item in items:
            whole = api.get(f"/journeys/{item['key']}", as_="ana").get_json()
            assert item == {name: whole[name] for name in item}, (sort, item["key"])
    assert any(item["children"] for item in items) and any(item["personas"] for item in items)


def test_a_listed_request_reads_exactly_like_the_request_itself(api):
    first = api.post("/opportunities/OPP-1/transitions", as_="lotte", json={"to": "prioritise", "reason": "asked"})
    assert first.status_code == 202, first.get_json()
    others = [o["key"] for o in _listed(api, "/opportunities", state="research")[0] if o["key"] != "OPP-1"]
    asked = [api.post(f"/opportunities/{key}/transitions", as_="lotte", json={"to": "prioritise", "reason": "too"})
             for key in others]
    assert 202 in [response.status_code for response in asked]
    assert api.post(f"/approvals/{first.get_json()['request']['id']}/reject", as_="ana",
                    json={"reason": "not yet"}).status_code == 200
    for params in ({}, {"sort": "created_at"}, {"status": "pending"}, {"opportunity": "OPP-1"}):
        items, paging = _listed(api, "/approvals", page_size=500, **params)
        assert paging["total"] == len(items) >= 1, params
        for item in items:
            assert item == api.get(f"/approvals/{item['id']}", as_="ana").get_json(), (params, item["id"])
    assert [r["status"] for r in _listed(api, "/approvals", opportunity="OPP-1")[0]] == ["rejected"]
    assert all(r["status"] == "pending" for r in _listed(api, "/approvals", status="pending")[0])


def test_a_token_request_reads_the_token_its_person_and_seats_in_one_statement(api, example_db):
    from govern.db import StatementCounter

    assert api.get("/journeys?page_size=1", as_="sam").status_code == 200  # the token's first use records it
    with StatementCounter(example_db.engine) as counter:
        assert api.get("/opportunities", as_="sam").status_code == 200
    signing_in = [s for s in counter.statements if "api_token" in s]
    assert len(signing_in) == 1 and "JOIN person" in signing_in[0] and "LEFT OUTER JOIN council_seat" in signing_in[0]
    assert not any("council_seat" in s for s in counter.statements if s not in signing_in)
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in counter.statements)
    assert counter.count <= 6
