"""The second organisation loads through the services and ends with one opportunity in each kind of state."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import Opportunity
from govern.queries.states import state_catalog
from tests.fixtures.riverside import HOSPITAL_OPPORTUNITIES


def test_hospital_opportunities_end_in_their_story_states(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        states = dict(s.execute(sa.select(Opportunity.number, Opportunity.state)).all())
        for role, key in hospital_keys.items():
            assert states[int(key.split("-")[1])] == HOSPITAL_OPPORTUNITIES[role][0], role


def test_hospital_lifecycle_states_say_what_they_are(hospital_db):
    with hospital_db.session_scope() as s:
        catalog = state_catalog(s)
    assert catalog.lifecycle == "patient_care"
    assert catalog.open_states == ["intake", "safety_review", "design", "pilot", "outcome_review"]
    assert catalog.evaluation_states == ["outcome_review"]
    assert catalog.of_kind("parked") == ["on_hold"]
    assert catalog.final_states == ["closed", "declined"]
    assert catalog.title_of("safety_review") == "Clinical safety review"
