"""Defining a KPI over the API: validated like govern.yaml, refused for those who may not, duplicates a conflict."""

from tests.api.conftest import assert_error

KPI = {"key": "repeat-calls", "name": "Repeat calls within 7 days", "kind": "behavioural", "scale": "percent",
       "direction": "lower", "target": 12, "journey": "getting-help"}


def test_the_manager_defines_a_kpi_and_can_record_a_measurement(api):
    created = api.post("/kpis", as_="marco", json=KPI)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["key"], body["journey"], body["direction"], body["target"]) == ("repeat-calls", "getting-help",
                                                                               "lower", 12)
    measured = api.post("/kpis/repeat-calls/measurements", as_="marco",
                        json={"value": 18, "measured_at": "2026-11-01"})
    assert measured.status_code == 201


def test_bad_definitions_name_every_field(api):
    error = assert_error(api.post("/kpis", as_="marco", json={**KPI, "scale": "likert", "kind": "vibes"}), 422)
    assert set(error["details"]) >= {"scale", "kind"}
    error = assert_error(api.post("/kpis", as_="marco", json={**KPI, "key": "x", "scale": "custom"}), 422)
    assert "min and max" in error["message"]


def test_duplicates_conflict_and_supporters_are_refused(api):
    assert api.post("/kpis", as_="marco", json=KPI).status_code == 201
    assert_error(api.post("/kpis", as_="marco", json=KPI), 409)
    assert_error(api.post("/kpis", as_="priya", json={**KPI, "key": "other"}), 403)
