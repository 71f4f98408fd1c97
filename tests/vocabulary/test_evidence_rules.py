"""Evidence as the organisation defines it: its own kinds, journey breadth that counts a nested journey once, and an
evaluation that only uses measurements taken after the change went live."""

from __future__ import annotations

import pytest

from govern.errors import GuardsUnmet, InvalidInput
from govern.services.common import load_actor
from govern.services.evidence import record_evidence
from govern.services.opportunities import create_opportunity
from govern.workflows import services
from tests.vocabulary.test_decision_rights import apply, organisation


def _opportunity(s, steps: list[str]) -> str:
    lotte = load_actor(s, "lotte")
    keys = [record_evidence(s, lotte, text=f"Evidence {n} about activation", source=f"source {n}", kind="other",
                            steps=[step]).key for n, step in enumerate(steps)]
    return create_opportunity(s, lotte, title="How might we activate SIMs without a call?",
                              journeys=["switching-providers"], insights=keys).key


def test_a_child_journey_and_its_parent_count_as_one(example_db):
    with example_db.session_scope() as s:
        key = _opportunity(s, ["switching-providers/port-number", "activating-my-sim/scan-qr"])
        with pytest.raises(GuardsUnmet) as refused:
            services.request_transition(s, load_actor(s, "lotte"), key, "prioritise")
        assert "needs evidence from 2 journeys, has evidence from 1" in refused.value.details["unmet"]
        other = _opportunity(s, ["switching-providers/port-number", "moving-house/port-number"])
        assert services.request_transition(s, load_actor(s, "lotte"), other, "prioritise").request is not None


def test_counting_every_distinct_journey_is_a_documented_choice(example_db):
    doc = organisation()
    doc["evidence"] = {"journey_breadth": "distinct"}
    apply(example_db, doc)
    with example_db.session_scope() as s:
        key = _opportunity(s, ["switching-providers/port-number", "activating-my-sim/scan-qr"])
        assert services.request_transition(s, load_actor(s, "lotte"), key, "prioritise").request is not None


def test_the_organisation_names_its_own_kinds_of_evidence(example_db):
    doc = organisation()
    doc.pop("sources", None)  # the example's help desk source records tickets, a kind this organisation does not have
    doc["evidence"] = {"kinds": ["complaint", "incident_report", "prem", "other"]}
    apply(example_db, doc)
    with example_db.session_scope() as s:
        lotte = load_actor(s, "lotte")
        assert record_evidence(s, lotte, text="Waited 9 hours", source="PALS", kind="complaint").kind == "complaint"
        with pytest.raises(InvalidInput, match="unknown kind 'survey' \\(one of complaint, incident_report, prem"):
            record_evidence(s, lotte, text="Rated 3/5", source="survey", kind="survey")
    bad = organisation()
    bad.pop("sources", None)
    bad["evidence"] = {"kinds": ["complaint", "Bad Kind"], "retention_days": 0}
    with pytest.raises(InvalidInput) as refused:
        apply(example_db, bad)
    assert set(refused.value.details) >= {"evidence.kinds[1]", "evidence.kinds", "evidence.retention_days"}
