"""The maturity rule on crafted signal sets."""

from govern.maturity import read_maturity, rule_lines


def test_stage_1_when_little_is_owned_or_evidenced():
    reading = read_maturity({"ownership": 0.1, "evidence": 0.5, "cross_journey": 0.0, "kpis_measured": None})
    assert (reading.stage, reading.name) == (1, "intuition-driven")
    assert [s.signal for s in reading.held_back] == ["ownership"]
    assert reading.held_back[0].sentence() == "journeys with an owner: 10%, stage 2 needs 25%"


def test_stage_3_coordinated_held_back_by_rituals_and_backlog():
    reading = read_maturity({"ownership": 0.8, "evidence": 0.9, "cross_journey": 0.35, "kpis_measured": 0.8,
                             "rituals_on_time": None, "backlog_linkage": 0.2})
    assert (reading.stage, reading.name) == (3, "coordinated")
    assert {s.signal for s in reading.held_back} == {"ownership", "rituals_on_time", "backlog_linkage"}
    assert any("no data" in s.sentence() for s in reading.held_back)


def test_stage_5_excellence_needs_everything():
    full = {"ownership": 29 / 29, "evidence": 1.0, "cross_journey": 0.5, "kpis_measured": 0.95,
            "rituals_on_time": 0.92, "backlog_linkage": 1.0}
    reading = read_maturity(full)
    assert (reading.stage, reading.name, reading.held_back) == (5, "excellence", [])
    assert read_maturity({**full, "rituals_on_time": 0.8}).stage == 4


def test_a_stage_needs_the_stages_below():
    # stage-5 numbers everywhere except one stage-2 requirement: stage 1
    reading = read_maturity({"ownership": 0.2, "evidence": 1.0, "cross_journey": 1.0, "kpis_measured": 1.0,
                             "rituals_on_time": 1.0, "backlog_linkage": 1.0})
    assert reading.stage == 1


def test_rule_is_printable():
    lines = rule_lines()
    assert lines[0].startswith("stage 1 intuition-driven") and len(lines) == 6
