"""The SVG charts: correct tick labels, labelled axes, legends, and shapes as well as colours."""

from __future__ import annotations

import datetime as dt

from govern.web import svg


def test_tick_labels_keep_the_decimals_their_spacing_needs():
    assert svg._tick_labels([3.75, 4.0, 4.25, 4.5]) == ["3.75", "4.00", "4.25", "4.50"]
    assert svg._tick_labels([0, 20, 40]) == ["0", "20", "40"]
    assert svg._fmt(4.25) == "4.25" and svg._fmt(4.2) == "4.2" and svg._fmt(12500) == "12.5k"


def test_a_kpi_tick_label_is_the_exact_tick_value():
    import re

    day = dt.datetime(2026, 9, 1)
    chart = str(svg.kpi_trend("Porting CSAT", [(day, 3.1), (day + dt.timedelta(days=30), 4.6)], 4.2, "/ 5",
                              "higher", (1, 5)))
    labels = re.findall(r"text-anchor='end' font-size='16'>([0-9.,]+)<", chart)
    assert labels
    assert len({len(label.split(".")[-1]) for label in labels if "." in label}) <= 1  # same decimals on every tick
    assert "target (higher is better)" in chart and ">measured<" in chart and "/ 5" in chart


def test_the_value_effort_chart_has_axis_titles_a_legend_and_a_shape_per_state():
    points = [{"key": "OPP-1", "title": "A", "value": 10, "effort": 2, "state": "research", "quadrant": "quick wins"},
              {"key": "OPP-2", "title": "B", "value": 4, "effort": 5, "state": "prioritise", "quadrant": "money pits"}]
    chart = str(svg.value_effort(points, 7, 3.5, ["research", "prioritise"], {"research": "Research",
                                                                             "prioritise": "Prioritise"},
                                 {"value": "value (benefit)", "effort": "effort (person-months)"}))
    assert ">Effort →<" in chart and ">Value →<" in chart and "effort (person-months)" in chart
    assert ">Research<" in chart and ">Prioritise<" in chart
    assert "<circle" in chart and "<rect x=" in chart  # research a circle, prioritise a square


def test_the_flow_chart_hatches_states_and_names_them_by_title():
    days = [dt.date(2026, 9, 1), dt.date(2026, 10, 1)]
    chart = str(svg.cumulative_flow(days, {"research": [2, 1], "done": [0, 1]}, ["research", "done"],
                                    {"research": "Research", "done": "Done"}))
    assert "<pattern id='cfd-p1'" in chart and "Done (1)" in chart and "number in each state" in chart
