"""Measurements (one by one and from CSV, all or nothing), trends, baselines and the evaluate outcome."""

import datetime as dt
import io

import pytest
import sqlalchemy as sa

from govern.errors import Conflict, InvalidInput, PermissionDenied
from govern.kpis import (
    evaluate_opportunity, import_measurements_csv, kpi_trend, list_kpis, record_baselines, record_measurement,
    record_outcomes,
)
from govern.model import AuditEvent, KpiMeasurement, OpportunityKpi
from govern.services.common import get_kpi, get_opportunity
from tests.conftest import actor


@pytest.fixture
def s(example_db):
    with example_db.session_scope() as session:
        yield session


def count(s) -> int:
    return s.scalar(sa.select(sa.func.count(KpiMeasurement.id)))


def test_record_measurement_checks_scale_permission_and_duplicates(s):
    lotte = actor(s, "lotte")
    m = record_measurement(s, lotte, "porting-csat", 3.9, "2026-12-31", "monthly survey")
    assert (m.value, m.measured_at, m.recorded_by_id) == (3.9, dt.datetime(2026, 12, 31), lotte.person_id)
    assert s.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id.desc())).first() == "kpi.measured"
    with pytest.raises(InvalidInput) as exc:
        record_measurement(s, lotte, "porting-csat", 6, "2027-01-31")
    assert exc.value.details == {"value": "must be at most 5 on a CSAT (1-5)"}
    with pytest.raises(InvalidInput) as exc:
        record_measurement(s, lotte, "porting-csat", 4, "31/01/2027")
    assert "measured_at" in exc.value.details
    with pytest.raises(Conflict):
        record_measurement(s, lotte, "porting-csat", 4.0, "2026-12-31T00:00:00Z")
    with pytest.raises(PermissionDenied):  # lotte's seat covers switching providers, not billing
        record_measurement(s, lotte, "bill-csat", 4.0, "2026-12-31")


def test_csv_import_reports_every_bad_row_by_line_and_imports_nothing(s):
    before = count(s)
    text = ("kpi,value,measured_at,source\n"
            "porting-csat,3.9,2026-12-31,survey\n"         # line 2 fine
            "porting-csat,three,2027-01-31,survey\n"       # line 3 not a number
            "no-such-kpi,1,2026-12-31,\n"                  # line 4 unknown KPI
            "\n"                                           # line 5 blank: ignored
            "switching-nps,140,2026-12-31,\n"              # line 6 off the scale
            "porting-tickets,180,2026-13-01,\n"            # line 7 bad date
            "porting-tickets,180,2026-12-31\n"             # line 8 too few fields
            "porting-csat,3.8,2026-12-31,again\n"          # line 9 repeats line 2
            "porting-csat,3.8,2026-10-31,already\n")       # line 10 already stored
    with pytest.raises(InvalidInput) as exc:
        import_measurements_csv(s, actor(s, "marco"), io.StringIO(text))
    d = exc.value.details
    assert list(d) == ["line 3", "line 4", "line 6", "line 7", "line 8", "line 9"]
    assert d["line 3"] == "value: not a number: 'three'"
    assert d["line 4"] == "kpi: unknown KPI 'no-such-kpi'"
    assert d["line 6"] == "value: must be at most 100 on a NPS (-100..100)"
    assert d["line 7"].startswith("measured_at:")
    assert d["line 8"] == "expected 4 fields, found 3"
    assert d["line 9"] == "repeats line 2 (porting-csat at 2026-12-31T00:00:00)"
    assert "nothing was imported" in exc.value.message
    s.rollback()
    assert count(s) == before
    # the stored duplicate is reported once the rest is clean
    with pytest.raises(InvalidInput) as exc:
        import_measurements_csv(s, actor(s, "marco"), io.StringIO(
            "kpi,value,measured_at\nporting-csat,3.9,2026-12-31\nporting-csat,3.8,2026-10-31T12:00\n"))
    assert exc.value.details == {"line 3": "porting-csat already has a measurement at 2026-10-31T12:00:00"}
    s.rollback()
    assert count(s) == before


def test_csv_import_header_permissions_and_success(s, tmp_path):
    marco = actor(s, "marco")
    with pytest.raises(InvalidInput) as exc:
        import_measurements_csv(s, marco, io.StringIO("kpi,amount,when\nx,1,2026-01-01\n"))
    assert exc.value.details["line 1"].startswith("missing column(s) value, measured_at; unknown column(s) amount")
    with pytest.raises(InvalidInput):
        import_measurements_csv(s, marco, io.StringIO(""))
    with pytest.raises(InvalidInput) as exc:
        import_measurements_csv(s, actor(s, "lotte"), io.StringIO("kpi,value,measured_at\nbill-csat,4,2026-12-31\n"))
    assert exc.value.details == {"line 2": "kpi: lotte may not record measurements of 'bill-csat'"}
    s.rollback()
    path = tmp_path / "december.csv"
    path.write_bytes("\ufeffKPI,Value,Measured_at,Source\n"
                     "porting-csat,3.9,2026-12-31,survey\n"
                     "porting-tickets,180,2026-12-31T12:00:00+01:00,zendesk\n".encode())
    before = count(s)
    summary = import_measurements_csv(s, marco, path)
    assert summary == {"imported": 2, "kpis": {"porting-csat": 1, "porting-tickets": 1}}
    assert count(s) == before + 2
    stored = s.scalar(sa.select(KpiMeasurement).join(KpiMeasurement.kpi).where(
        KpiMeasurement.value == 180, KpiMeasurement.source == "zendesk"))
    assert stored.measured_at == dt.datetime(2026, 12, 31, 11, 0)  # the offset is converted to UTC
    assert s.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id.desc())).first() == \
        "kpi.measurements_imported"


def test_trend_and_list(s):
    trend = kpi_trend(s, "porting-tickets")
    assert [m["value"] for m in trend["measurements"]] == [390, 410, 450, 420, 415]
    assert trend["trend"]["latest"] == 415 and trend["trend"]["previous"] == 420
    assert trend["trend"]["direction"] == "flat"  # 5 fewer tickets is within 2 % of the 0-1000 scale
    assert trend["trend"]["target_met"] is False
    assert trend["measurements"][0]["normalised"] == pytest.approx(61.0)
    assert len(kpi_trend(s, "porting-tickets", since="2026-09-01")["measurements"]) == 2
    listed = {k["key"]: k for k in list_kpis(s)}
    assert listed["direct-debit-share"]["trend"]["target_met"] is True
    assert listed["install-stars"]["trend"]["direction"] == "unknown"


def test_baseline_then_evaluate_scenario_one(s):
    """Scenario 1: baseline on entering implement, CSAT 3.9 (target 4) and tickets 180 (target 200) later: CSAT
    improved but short of its target, tickets met theirs; overall short of target, with the numbers and the window."""
    lotte, marco = actor(s, "lotte"), actor(s, "marco")
    opp = get_opportunity(s, "OPP-1")
    baselines = record_baselines(s, lotte, opp)
    assert {b["kpi"]: b["baseline"] for b in baselines} == {"porting-csat": 3.2, "porting-tickets": 415}
    s.commit()
    with pytest.raises(InvalidInput) as exc:
        record_outcomes(s, lotte, opp)
    assert exc.value.details["porting-csat"] == (
        "Porting CSAT: no measurement taken at least 28 days after the baseline of 2026-10-31 (it is not live yet); "
        "the earliest date that counts is 2026-11-28 (measurements since the baseline: none)")
    record_measurement(s, marco, "porting-csat", 3.9, "2026-12-31")
    record_measurement(s, marco, "porting-tickets", 180, "2026-12-31")
    result = evaluate_opportunity(s, marco, "OPP-1")
    assert (result["overall"], result["overall_words"]) == ("short_of_target", "improved, target not met")
    csat, tickets = result["outcomes"]
    assert (csat["verdict"], csat["baseline"], csat["value"], csat["target_met"]) == (
        "short_of_target", 3.2, 3.9, False)
    assert csat["verdict_words"] == "improved, target not met"
    assert csat["change"] == pytest.approx(0.7)
    assert (csat["baseline_at"], csat["measured_at"], csat["window"]) == (
        "2026-10-31T12:00:00", "2026-12-31T00:00:00",
        {"went_live_at": None, "measure_after_days": 28, "counts_from": "2026-11-28"})
    assert (tickets["verdict"], tickets["change"], tickets["target_met"]) == ("target_met", -235, True)
    links = s.scalars(sa.select(OpportunityKpi).where(OpportunityKpi.opportunity_id == opp.id)).all()
    assert {(link.verdict, link.outcome_value) for link in links} == {("short_of_target", 3.9), ("target_met", 180)}
    event = s.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "opportunity.outcome_recorded" and event.after["overall"] == "short_of_target"


def test_a_measurement_inside_the_window_is_not_used_and_evaluate_says_which_exist(s):
    marco = actor(s, "marco")
    opp = get_opportunity(s, "OPP-1")
    record_baselines(s, marco, opp)
    s.commit()
    record_measurement(s, marco, "porting-csat", 4.2, "2026-11-10")  # 10 days after the baseline: too early
    record_measurement(s, marco, "porting-tickets", 150, "2026-11-10")
    s.commit()
    with pytest.raises(InvalidInput) as exc:
        evaluate_opportunity(s, marco, "OPP-1")
    assert "earliest date that counts is 2026-11-28" in str(exc.value)
    assert exc.value.details["porting-csat"].endswith("(measurements since the baseline: 4.2 on 2026-11-10)")
    s.rollback()
    links = s.scalars(sa.select(OpportunityKpi).where(OpportunityKpi.opportunity_id == opp.id)).all()
    assert {link.verdict for link in links} == {None}  # nothing written
    record_measurement(s, marco, "porting-csat", 3.9, "2026-12-01")
    record_measurement(s, marco, "porting-tickets", 180, "2026-12-01")
    result = evaluate_opportunity(s, marco, "OPP-1")
    assert [o["value"] for o in result["outcomes"]] == [3.9, 180]
    # A shorter window in the lifecycle's effect counts the early measurement (the latest in the window is used).
    out = record_outcomes(s, marco, opp, measure_after_days=5)
    assert [o["window"]["counts_from"] for o in out] == ["2026-11-05"] * 2


def test_record_baselines_does_not_commit(example_db):
    with example_db.session_scope() as s:
        record_baselines(s, actor(s, "lotte"), get_opportunity(s, "OPP-1"))
        s.rollback()
        link = s.scalar(sa.select(OpportunityKpi).where(
            OpportunityKpi.kpi_id == get_kpi(s, "porting-csat").id,
            OpportunityKpi.opportunity_id == get_opportunity(s, "OPP-1").id))
        assert link.baseline_value is None


def test_worse_and_no_change_verdicts(s):
    marco = actor(s, "marco")
    opp = get_opportunity(s, "OPP-1")
    record_baselines(s, marco, opp)
    s.commit()
    record_measurement(s, marco, "porting-csat", 3.22, "2026-12-31")  # within 0.08 of 3.2
    record_measurement(s, marco, "porting-tickets", 520, "2026-12-31")
    result = evaluate_opportunity(s, marco, "OPP-1")
    assert [o["verdict"] for o in result["outcomes"]] == ["no_change", "worse"]  # CSAT 3.22 is short of 4
    assert result["overall"] == "worse"
