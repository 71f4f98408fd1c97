"""`govern opp …` and `govern workflows …`: messages and exit codes for moves, approvals and refusals."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from govern.cli.root import cli


@pytest.fixture
def run(db, tmp_path):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), env={"GOVERN_DATABASE_URL": db.url,
                                                   "GOVERN_INSTANCE_PATH": str(tmp_path / "instance")})
    return invoke


def test_move_request_approve_and_history(org, run):
    org.opportunity()
    moved = run("opp", "move", "OPP-1", "prioritise", "--as", "lotte")
    assert moved.exit_code == 0, moved.output
    assert "waiting for approval by the lead (Lea)" in moved.output
    awaiting = run("opp", "awaiting", "--as", "lea")
    assert "OPP-1" in awaiting.output and "as role:lead" in awaiting.output
    refused = run("opp", "approve", "OPP-1", "--as", "lotte")
    assert refused.exit_code == 4
    assert "separation of duties" in refused.output
    approved = run("opp", "approve", "1", "--as", "lea", "--reason", "weekly council review")
    assert approved.exit_code == 0 and "moved from Research to Prioritise" in approved.output
    again = run("opp", "approve", "1", "--as", "lea")
    assert again.exit_code == 5 and "already approved" in again.output
    history = run("opp", "history", "OPP-1")
    assert "requested prioritise" in history.output and "weekly council review" in history.output
    shown = run("opp", "show", "OPP-1")
    assert "state: prioritise" in shown.output and "needs" not in shown.output.split("implement")[0]


def test_unmet_guards_are_listed_with_exit_code_5(org, run):
    org.opportunity(insights=1)
    result = run("opp", "move", "OPP-1", "prioritise", "--as", "lotte")
    assert result.exit_code == 5
    assert "needs 2 pieces of evidence, has 1" in result.output
    assert "unmet: needs evidence from 2 journeys, has evidence from 1" in result.output


def test_missing_reason_and_reject_and_withdraw(org, run):
    org.opportunity()
    assert run("opp", "move", "OPP-1", "park", "--as", "lotte").exit_code == 2
    run("opp", "request", "OPP-1", "prioritise", "--as", "lotte")
    assert run("opp", "withdraw", "OPP-1", "--as", "ana").exit_code == 4
    assert run("opp", "withdraw", "OPP-1", "--as", "lotte").exit_code == 0
    run("opp", "request", "OPP-1", "prioritise", "--as", "lotte")
    rejected = run("opp", "reject", "OPP-1", "--as", "lea", "--reason", "needs more evidence")
    assert rejected.exit_code == 0 and "needs more evidence" in rejected.output
    listed = run("opp", "list", "--json")
    assert '"state": "research"' in listed.output


def test_stale_version_is_refused(org, run):
    opp = org.opportunity()
    result = run("opp", "move", "OPP-1", "park", "--reason", "later", "--version", str(opp.version + 3),
                 "--as", "lotte")
    assert result.exit_code == 5 and "has changed since you loaded it" in result.output


def test_workflows_show_in_every_format(run, tmp_path):
    assert "stateDiagram-v2" in run("workflows", "show", "default", "--format", "mermaid").output
    svg = run("workflows", "show", "triple_diamond", "--format", "svg").output
    assert svg.startswith("<svg") and "Problem discovery" in svg  # the state's title
    text = run("workflows", "show", "default").output
    assert "implement: prioritise → implement" in text and "approved by all owners" in text
    out = tmp_path / "d.svg"
    assert run("workflows", "show", "default", "--format", "svg", "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("<svg")
    assert "triple_diamond" in run("workflows", "list").output


def test_workflows_check_reports_every_problem(run, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text((__import__("importlib").resources.files("workflows") / "definitions" / "default.yaml")
                    .read_text())
    ok = run("workflows", "check", str(good))
    assert ok.exit_code == 0 and "ok: lifecycle 'default' with 7 states" in ok.output
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(good.read_text())
    data["transitions"][0]["dest"] = "prioritze"
    data["transitions"][1]["guards"].append("has_magic")
    bad.write_text(yaml.safe_dump(data))
    result = run("workflows", "check", str(bad))
    assert result.exit_code == 2
    assert "transitions[0].dest: unknown state 'prioritze' (did you mean 'prioritise'?)" in result.output
    assert "transitions[1].guards[3]: unknown guard 'has_magic'" in result.output
