"""Diagrams: Mermaid and SVG carry every state (by its title), transition (by their titles), guard and approver."""

import xml.etree.ElementTree as ET

import pytest

from govern.workflows.diagrams import to_mermaid, to_svg
from govern.workflows.engine import get_lifecycle


@pytest.mark.parametrize("name", ["default", "triple_diamond"])
def test_mermaid_lists_states_and_edges_with_guards_and_approvers(name):
    lc = get_lifecycle(name)
    text = to_mermaid(lc)
    assert text.startswith("stateDiagram-v2")
    assert f"[*] --> {lc.initial}" in text
    for t in lc.definition.transitions:
        for src in t.sources:
            assert f"{src} --> {t.dest} : <b>{t.display_title}</b>" in text
    if name == "default":
        assert "at least 2 pieces of evidence" in text and "has_evidence" not in text and "approved by all owners" in text and "approved by lead" in text


@pytest.mark.parametrize("name", ["default", "triple_diamond"])
def test_svg_is_well_formed_and_carries_every_state_and_trigger(name):
    lc = get_lifecycle(name)
    svg = to_svg(lc)
    root = ET.fromstring(svg)
    width, height = float(root.get("width")), float(root.get("height"))
    texts = []
    for el in root.iter("{http://www.w3.org/2000/svg}text"):
        texts.append(el.text or "")
        x, y = float(el.get("x")), float(el.get("y"))
        assert 0 <= x <= width and 0 <= y <= height, (el.text, x, y)
    joined = "\n".join(texts)
    for state in lc.definition.states.values():
        assert state.title in texts  # what people call it
    for t in lc.definition.transitions:
        assert t.display_title in joined
    assert "approved by" in joined
