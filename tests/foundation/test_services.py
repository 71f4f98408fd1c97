"""Core services: evidence is never orphaned, permissions apply, every change is audited."""

import pytest
import sqlalchemy as sa

from govern.errors import InvalidInput, NotFound, PermissionDenied, PreconditionFailed, RefusedChange
from govern.model import AuditEvent, Insight, insight_step
from govern.services import evidence, journeys, opportunities
from govern.services.common import get_insight, get_opportunity, get_step
from tests.conftest import actor


def test_coordinator_records_evidence_on_steps_in_two_journeys(example_db):
    with example_db.session_scope() as session:
        lotte = actor(session, "lotte")
        insight = evidence.record_evidence(
            session, lotte, text="Porting took 9 days, nobody told me why", source="tickets", kind="ticket",
            steps=["switching-providers/port-number", "moving-house/port-number"])
        assert insight.key == "INS-31"
        assert {s.journey.key for s in insight.steps} == {"switching-providers", "moving-house"}
        event = session.scalar(sa.select(AuditEvent).where(AuditEvent.entity_id == "INS-31"))
        assert event.actor == "lotte" and event.action == "evidence.recorded"


def test_evidence_with_a_bad_kind_and_no_text_names_both_fields(example_db):
    with example_db.session_scope() as session:
        with pytest.raises(InvalidInput) as bad:
            evidence.record_evidence(session, actor(session, "lotte"), text=" ", source="x", kind="rumour")
        assert set(bad.value.details) == {"text", "kind"}


def test_deleting_a_journey_with_evidence_is_refused(example_db, operator):
    with example_db.session_scope() as session:
        with pytest.raises(RefusedChange) as refused:
            journeys.delete_journey(session, operator, "reporting-an-outage")
        assert "INS-15" in refused.value.message and "OPP-4" in refused.value.message


def test_deleting_a_step_moves_its_evidence_when_asked(example_db, operator):
    with example_db.session_scope() as session:
        with pytest.raises(RefusedChange):
            journeys.delete_step(session, operator, "leaving-us/return-equipment")
        journeys.delete_step(session, operator, "leaving-us/return-equipment",
                             move_evidence_to="leaving-us/cancel-contract")
        insight = get_insight(session, "INS-27")
        assert "leaving-us/cancel-contract" in {f"{s.journey.key}/{s.key}" for s in insight.steps}
        with pytest.raises(NotFound):
            get_step(session, "leaving-us/return-equipment")


def test_unlinking_the_last_step_of_unused_evidence_is_refused(example_db):
    with example_db.session_scope() as session:
        marco = actor(session, "marco")
        insight = evidence.record_evidence(session, marco, text="x", source="y", kind="quote",
                                           steps=["leaving-us/cancel-contract"])
        with pytest.raises(RefusedChange):
            evidence.unlink_evidence_from_step(session, marco, insight.key, "leaving-us/cancel-contract")


def test_supporter_cannot_create_a_journey(example_db):
    with example_db.session_scope() as session:
        with pytest.raises(PermissionDenied) as denied:
            journeys.create_journey(session, actor(session, "priya"), key="x", name="X", level="micro")
        assert "priya (supporter)" in denied.value.message


def test_coordinator_edits_only_journeys_in_their_subtree(example_db):
    with example_db.session_scope() as session:
        femke = actor(session, "femke")
        journeys.update_step(session, femke, "understanding-my-bill/open-pdf", emotion_score=-0.5)
        with pytest.raises(PermissionDenied):
            journeys.update_step(session, femke, "getting-help/search-help", emotion_score=1)


def test_opportunity_links_journeys_and_evidence_and_starts_in_research(example_db):
    with example_db.session_scope() as session:
        lotte = actor(session, "lotte")
        opp = opportunities.create_opportunity(
            session, lotte, title="How might we keep switchers informed while their number ports?",
            journeys=["switching-providers", "moving-house"], insights=["INS-1", "INS-2", "INS-3"])
        assert opp.key == "OPP-13" and opp.state == "research" and opp.owner.handle == "lotte"
        assert [j.key for j in opp.journeys] == ["switching-providers", "moving-house"]


def test_stale_version_is_refused(example_db):
    with example_db.session_scope() as session:
        femke = actor(session, "femke")
        opp = get_opportunity(session, "OPP-2")
        version = opp.version
        opportunities.update_opportunity(session, femke, "OPP-2", expected_version=version, description="v2")
        with pytest.raises(PreconditionFailed):
            opportunities.update_opportunity(session, femke, "OPP-2", expected_version=version, description="v3")
        assert get_opportunity(session, "OPP-2").description == "v2"


def test_insights_survive_every_refused_change(example_db, operator):
    with example_db.session_scope() as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(Insight))
        links = session.scalar(sa.select(sa.func.count()).select_from(insight_step))
        for attempt in (lambda: journeys.delete_journey(session, operator, "switching-providers"),
                        lambda: journeys.delete_step(session, operator, "switching-providers/port-number")):
            with pytest.raises(RefusedChange):
                attempt()
            session.rollback()
        assert session.scalar(sa.select(sa.func.count()).select_from(Insight)) == count
        assert session.scalar(sa.select(sa.func.count()).select_from(insight_step)) == links
