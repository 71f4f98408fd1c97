"""HTTP round trips: KPIs and measurements, CSV import, scores and inputs, ranking, the matrix, evaluation, maturity."""

import pytest

from govern.services.people import create_token
from tests.conftest import actor


@pytest.fixture
def api(example_app, example_db):
    client = example_app.test_client()
    tokens = {}

    def call(method, path, as_="marco", **kwargs):
        if as_ not in tokens:
            with example_db.session_scope() as s:
                tokens[as_] = create_token(s, actor(s, as_), "tests").secret
        headers = {"Authorization": f"Bearer {tokens[as_]}", **kwargs.pop("headers", {})}
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


def test_kpis_and_measurements_round_trip(api):
    listed = api("GET", "/kpis", as_="priya")
    assert listed.status_code == 200
    assert {k["key"] for k in listed.get_json()} >= {"porting-csat", "porting-tickets"}
    created = api("POST", "/kpis/porting-csat/measurements", as_="lotte",
                  json={"value": 3.9, "measured_at": "2026-12-31", "source": "monthly survey"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["normalised"] == pytest.approx(72.5)
    trend = api("GET", "/kpis/porting-csat").get_json()
    assert trend["trend"]["latest"] == 3.9 and trend["measurements"][-1]["value"] == 3.9
    assert api("GET", "/kpis/porting-csat/measurements?since=2026-12-01").get_json()[0]["value"] == 3.9
    off_scale = api("POST", "/kpis/porting-csat/measurements", as_="lotte", json={"value": 7})
    assert off_scale.status_code == 422
    assert off_scale.get_json()["error"]["details"] == {"value": "must be at most 5 on a CSAT (1-5)"}
    again = api("POST", "/kpis/porting-csat/measurements", as_="lotte",
                json={"value": 3.8, "measured_at": "2026-12-31"})
    assert again.status_code == 409
    assert api("POST", "/kpis/bill-csat/measurements", as_="lotte", json={"value": 4}).status_code == 403
    assert api("GET", "/kpis/nope").status_code == 404
    assert api("POST", "/kpis/porting-csat/measurements", as_="lotte", json={"value": "x"}).status_code == 422


def test_csv_import_over_http(api):
    bad = api("POST", "/kpis/measurements/import", data="kpi,value,measured_at\nporting-csat,x,2026-12-31\n",
              headers={"Content-Type": "text/csv"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"] == {"line 2": "value: not a number: 'x'"}
    good = api("POST", "/kpis/measurements/import", data="kpi,value,measured_at\nporting-csat,3.9,2026-12-31\n",
               headers={"Content-Type": "text/csv"})
    assert good.status_code == 200 and good.get_json() == {"imported": 1, "kpis": {"porting-csat": 1}}
    assert api("POST", "/kpis/measurements/import").status_code == 422


def test_score_inputs_round_trip(api):
    score = api("GET", "/opportunities/OPP-1/score", as_="priya").get_json()
    assert score["model"] == "rice" and score["value"] > 0
    assert {r["name"] for r in score["recorded"]} >= {"reach", "impact", "confidence", "effort"}
    changed = api("POST", "/opportunities/OPP-1/score/inputs", as_="lotte", json={"inputs": {"reach": 36000}})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["value"] == pytest.approx(2 * score["value"])
    assert next(r for r in body["recorded"] if r["name"] == "reach")["recorded_by"] == "lotte"
    refused = api("POST", "/opportunities/OPP-1/score/inputs", as_="lotte", json={"inputs": {"impact": 4}})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"] == {"inputs.impact": "must be one of 3, 2, 1, 0.5, 0.25"}
    assert api("POST", "/opportunities/OPP-1/score/inputs", as_="priya",
               json={"inputs": {"reach": 1}}).status_code == 403
    stale = api("POST", "/opportunities/OPP-1/score/inputs", as_="lotte", json={"inputs": {"reach": 1000}},
                headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert api("GET", "/opportunities/OPP-999/score").status_code == 404
    assert api("GET", "/scoring").get_json()["default"] == "rice"


def test_ranking_matrix_evaluation_and_maturity(api):
    ranking = api("GET", "/ranking?journey=paying-my-bill&limit=2").get_json()
    assert [r["rank"] for r in ranking] == [1, 2] and ranking[0]["explanation"]
    states = api("GET", "/ranking?state=research&state=prioritise&explain=false").get_json()
    assert {r["state"] for r in states} == {"research", "prioritise"} and "explanation" not in states[0]
    assert api("GET", "/ranking?journey=nowhere").status_code == 404
    assert api("GET", "/ranking?limit=0").status_code == 422
    matrix = api("GET", "/value-effort?owner=lotte").get_json()
    assert {p["key"] for p in matrix["points"]} == {"OPP-1", "OPP-6", "OPP-10"}
    kpis = api("GET", "/opportunities/OPP-3/kpis").get_json()
    assert {k["kpi"] for k in kpis} == {"billing-tickets", "monthly-churn"}
    evaluation = api("POST", "/opportunities/OPP-3/evaluation", as_="femke")
    assert evaluation.status_code == 200 and evaluation.get_json()["opportunity"] == "OPP-3"
    maturity = api("GET", "/maturity", as_="priya").get_json()
    assert maturity["stage"] in (1, 2, 3, 4, 5) and maturity["rule"][0].startswith("stage 1")
    assert set(maturity["signals"]) == {"ownership", "evidence", "cross_journey", "kpis_measured",
                                        "rituals_on_time", "backlog_linkage"}


def test_openapi_documents_the_routes(example_app):
    spec = example_app.test_client().get("/api/openapi.json").get_json()
    for path in ("/api/v1/kpis", "/api/v1/ranking", "/api/v1/maturity", "/api/v1/value-effort",
                 "/api/v1/opportunities/{key}/score/inputs", "/api/v1/kpis/measurements/import"):
        assert path in spec["paths"], path
