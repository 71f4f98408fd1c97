"""Triage fed by the real producer: rows of the help desk export that match no step rule, imported through
`govern evidence import`, wait in the triage of the source's journeys' people (its rules point at switching-providers,
activating-my-sim, understanding-my-bill and paying-my-bill), with suggested steps."""

from __future__ import annotations

from govern.queries.triage import triage_count, triage_page

from tests.conftest import actor, cli_invoker

EXPORT = ("\ufeffTicket ID;Subject;Group;Created at;Ticket URL;Tags;Count;Segment;Score\n"
          "ZD-1;Number port failed twice;Porting;02.11.2026;https://t.example/1;porting;3;Switcher;-2\n"
          "ZD-2;The porting code letter never came, my number transfer is stuck;Retention;03.11.2026;"
          "https://t.example/2;;5;Switcher;-1\n")


def test_imported_rows_matching_no_step_wait_for_the_sources_journeys(example_db, tmp_path):
    export = tmp_path / "tickets.csv"
    export.write_text(EXPORT, encoding="utf-8")
    result = cli_invoker(example_db, tmp_path)("evidence", "import", str(export), "--source", "zendesk")
    assert result.exit_code == 0, result.output
    with example_db.session_scope() as s:
        lotte_sees = triage_page(s, actor(s, "lotte"))  # coordinator of switching-providers
        (row,) = [r for r in lotte_sees.rows if r.insight.external_id == "ZD-2"]
        # "number transfer" is also in the search-help step's evidence (INS-18), so that step may rank first
        assert "switching-providers/port-number" in [sug.step for sug in row.suggestions]
        assert triage_count(s, actor(s, "sam")) == 0  # changing-my-plan: not one of the source's journeys
        assert triage_count(s, actor(s, "marco")) == 1  # the council sees every triage item
        assert triage_count(s, actor(s, "priya")) == 0  # a supporter sees only what they recorded


def test_the_playbook_explains_the_triage_flow(example_db, tmp_path):
    result = cli_invoker(example_db, tmp_path)("playbook", "build", "--out", str(tmp_path / "pb"), "--format", "md")
    assert result.exit_code == 0, result.output
    tools = (tmp_path / "pb" / "tools.md").read_text(encoding="utf-8")
    assert "Evidence triage" in tools and "Link to" in tools and "only evidence of" in tools
    assert "Save as evidence" in tools and "author is not stored" in tools
    coordinator = next((tmp_path / "pb").rglob("*lotte*.md")).read_text(encoding="utf-8")
    assert "triage list" in coordinator
