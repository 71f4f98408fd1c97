"""govern apply: idempotent upserts, a precise dry run, and refusals that protect runtime data."""

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from govern.orgfile.load import apply_text
from govern.errors import RefusedChange
from govern.model import AuditEvent, CouncilSeat, Journey, Person, Step
from govern.services.common import get_journey

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "telecom" / "govern.yaml"


def example_doc() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def apply(session, operator, doc, **kw):
    return apply_text(session, operator, yaml.safe_dump(doc, sort_keys=False), **kw)


def test_first_apply_creates_the_organisation_and_second_changes_nothing(session, operator):
    first = apply(session, operator, example_doc())
    assert any(line == "+ journey switching-providers" for line in first.lines())
    assert session.scalar(sa.select(sa.func.count()).select_from(Journey)) == 14
    events = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    second = apply(session, operator, example_doc())
    assert second.empty
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events


def test_hierarchy_owner_and_detailed_step_are_stored(session, operator):
    apply(session, operator, example_doc())
    moving = get_journey(session, "moving-house")
    assert moving.parent.key == "changing-my-plan"
    assert moving.parent_step.key == "confirm-change"
    assert moving.owner.handle == "sam"
    assert [s.key for s in moving.steps] == ["tell-new-address", "port-number", "install-new-home"]
    assert moving.steps[1].moment_that_matters and moving.steps[1].emotion_score == -1


def test_dry_run_shows_exactly_the_one_new_seat_and_writes_nothing(example_db, operator):
    doc = example_doc()
    doc["council"].append({"person": "iris", "role": "supporter", "journey": "paying-my-bill"})
    with example_db.session_scope() as session:
        before = session.scalar(sa.select(sa.func.count()).select_from(CouncilSeat))
        result = apply(session, operator, doc, dry_run=True)
        assert result.lines() == ["+ seat iris supporter paying-my-bill"]
        assert session.scalar(sa.select(sa.func.count()).select_from(CouncilSeat)) == before
        apply(session, operator, doc)
        assert session.scalar(sa.select(sa.func.count()).select_from(CouncilSeat)) == before + 1


def test_a_changed_owner_is_shown_as_a_change(example_db, operator):
    doc = example_doc()
    doc["journeys"][1]["owner"] = "priya"
    with example_db.session_scope() as session:
        result = apply(session, operator, doc, dry_run=True)
    assert result.lines() == ["~ journey switching-providers: owner: lotte -> priya"]


def test_removing_a_journey_with_evidence_is_refused_naming_the_insights(example_db, operator):
    doc = example_doc()
    doc["journeys"] = [j for j in doc["journeys"] if j["key"] != "managing-roaming"]
    with example_db.session_scope() as session:
        with pytest.raises(RefusedChange) as refused:
            apply(session, operator, doc)
        message = refused.value.message
        assert "journey 'managing-roaming' cannot be removed: evidence on its steps would be orphaned: " \
               "INS-5, INS-9, INS-25" in message
        assert "OPP-2" in message and "OPP-10" in message
        assert get_journey(session, "managing-roaming") is not None


def test_removing_a_step_with_evidence_is_refused(example_db, operator):
    doc = example_doc()
    leaving = next(j for j in doc["journeys"] if j["key"] == "leaving-us")
    leaving["stages"][0]["steps"] = [s for s in leaving["stages"][0]["steps"] if s["key"] != "return-equipment"]
    with example_db.session_scope() as session:
        with pytest.raises(RefusedChange) as refused:
            apply(session, operator, doc)
        assert "step 'leaving-us/return-equipment' cannot be removed: evidence linked to it would be orphaned: " \
               "INS-27" in refused.value.message
        assert session.scalar(sa.select(Step).where(Step.key == "return-equipment")) is not None


def test_removing_an_unreferenced_step_and_a_person_works(session, operator):
    doc = example_doc()
    apply(session, operator, doc)
    leaving = next(j for j in doc["journeys"] if j["key"] == "leaving-us")
    leaving["stages"][0]["steps"].pop()  # return-equipment: nothing refers to it yet
    doc["council"] = [s for s in doc["council"] if s["person"] != "iris"]
    doc["people"] = [p for p in doc["people"] if p["handle"] != "iris"]
    result = apply(session, operator, doc)
    assert "- step leaving-us/return-equipment" in result.lines()
    assert "- person iris (deactivated; history is kept)" in result.lines()
    assert session.scalar(sa.select(Person).where(Person.handle == "iris")).active is False
    assert apply(session, operator, doc).empty


def test_apply_is_audited(session, operator):
    apply(session, operator, example_doc())
    actions = set(session.scalars(sa.select(AuditEvent.action)))
    assert {"config.add"} <= actions
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.entity_type == "journey",
                                                       AuditEvent.entity_id == "paying-my-bill"))
    assert event.after["owner"] == "femke" and event.reason == "govern apply"


def test_people_who_may_not_apply_are_refused(example_db):
    from govern.errors import PermissionDenied
    from tests.conftest import actor

    with example_db.session_scope() as session:
        with pytest.raises(PermissionDenied) as denied:
            apply(session, actor(session, "priya"), example_doc())
        assert "priya (supporter) may not apply govern.yaml" in denied.value.message
        assert "admin, lead, manager" in denied.value.message
