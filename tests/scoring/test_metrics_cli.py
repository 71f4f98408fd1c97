"""`govern kpi …`, `govern score`, `govern rank` and `govern maturity`: what people type, read, and the exit codes."""

import json

import pytest

from tests.conftest import cli_invoker


@pytest.fixture
def run(example_db, tmp_path):
    return cli_invoker(example_db, tmp_path)


def test_kpi_import_reports_lines_and_exit_codes(run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("kpi,value,measured_at\nporting-csat,3.9,2026-12-31\nporting-tickets,lots,2026-12-31\n")
    refused = run("kpi", "import", str(bad))
    assert refused.exit_code == 2
    assert "line 3: value: not a number: 'lots'" in refused.output and "nothing was imported" in refused.output
    good = tmp_path / "good.csv"
    good.write_text("kpi,value,measured_at,source\nporting-csat,3.9,2026-12-31,survey\n"
                    "porting-tickets,180,2026-12-31,zendesk\n")
    done = run("kpi", "import", str(good), "--as", "lotte")
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "imported 2 measurement(s): porting-csat 1, porting-tickets 1"
    trend = run("kpi", "trend", "porting-tickets")
    assert "latest 180, previous 415" in trend.output and "target met" in trend.output
    listed = json.loads(run("kpi", "list", "--json").output)
    assert {k["key"] for k in listed} >= {"porting-csat", "bill-csat"}
    assert run("kpi", "trend", "nope").exit_code == 3


def test_score_and_rank(run):
    shown = run("score", "OPP-1")
    assert shown.exit_code == 0 and "reach 18000 × impact 2 × confidence 80% ÷ effort 3 = 9600" in shown.output
    refused = run("score", "OPP-1", "impact=4", "--as", "lotte")
    assert refused.exit_code == 2 and "inputs.impact: must be one of 3, 2, 1, 0.5, 0.25" in refused.output
    assert run("score", "OPP-1", "reach=1", "--as", "priya").exit_code == 4
    assert run("score", "OPP-1", "reach=36000", "--as", "lotte").exit_code == 0
    ranked = run("rank", "--journey", "paying-my-bill", "--limit", "2")
    assert ranked.exit_code == 0 and "  1. OPP-" in ranked.output and "  3." not in ranked.output
    rows = json.loads(run("rank", "--state", "research", "--json").output)
    assert {r["state"] for r in rows} == {"research"} and rows[0]["rank"] == 1


def test_maturity_prints_stage_signals_and_rule(run):
    out = run("maturity")
    assert out.exit_code == 0, out.output
    assert out.output.startswith("Maturity: stage ")
    assert "journeys with an owner" in out.output and "The rule:" in out.output
    assert "stage 5 excellence:" in out.output
    assert json.loads(run("maturity", "--json").output)["stage"] in range(1, 6)
