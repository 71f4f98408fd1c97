"""Curation through the real services on the example organisation: merge, delete, edit and who may — checked through
the consumers (the opportunity's guard facts and available transitions, the evidence list)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from govern import audit
from govern.errors import InvalidInput, NotFound, PermissionDenied, RefusedChange
from govern.model import EvidenceSummary, Insight, Opportunity
from govern.queries.lists import EvidenceList, evidence_page
from govern.services.evidence import delete_evidence, edit_evidence, merge_evidence, record_evidence
from govern.services.opportunities import link_evidence
from govern.workflows.services import available_transitions, facts_for

from tests.conftest import actor

MOVERS = "How might we let movers change their address in one go?"


def _opp(session, title=MOVERS) -> Opportunity:
    return session.scalar(sa.select(Opportunity).where(Opportunity.title == title))


def _has_evidence_guard_met(session, who, opp) -> bool:
    """The `has_evidence: {min: 2}` guard of research → prioritise, as the transition offer shows it."""
    move = next(t for t in available_transitions(session, who, opp.key) if t["trigger"] == "prioritise")
    return next(g for g in move["guards"] if g["guard"] == "has_evidence")["ok"]


def test_a_merge_keeps_the_opportunitys_evidence_count_and_moves_links_and_volume(example_db):
    with example_db.session_scope() as s:
        marco = actor(s, "marco")
        opp = _opp(s)
        (only,) = opp.insights  # INS-22, "Telling you my new address took three forms"
        before = facts_for(s, opp).evidence_count
        twin = record_evidence(s, actor(s, "sam"), text=only.text + " ", source="Moving survey Q4", kind="survey",
                               steps=["moving-house/tell-new-address", "changing-my-plan/pick-new-plan"])
        edit_evidence(s, marco, twin.key, {"volume": 40})
        survivor = merge_evidence(s, marco, only.key, twin.key)
        assert survivor.key == twin.key
        s.expire_all()
        opp = _opp(s)
        assert [i.key for i in opp.insights] == [twin.key]
        assert facts_for(s, opp).evidence_count == before == 1
        assert s.get(EvidenceSummary, opp.id).weighted_count == 2  # volume 41 weighs as 2
        merged = s.scalar(sa.select(Insight).where(Insight.number == only.number))
        assert merged.merged_into_id == survivor.id and merged.steps == []
        assert survivor.volume == 41
        assert {f"{st.journey.key}/{st.key}" for st in survivor.steps} == {
            "moving-house/tell-new-address", "changing-my-plan/pick-new-plan"}
        listed = [r.insight.key for r in evidence_page(s, EvidenceList(text="three forms")).rows]
        assert listed == [twin.key]  # the merged one is hidden from lists
        actions = [e.action for e in audit.history(s, "insight", only.key)]
        assert "evidence.merged" in actions
        assert "evidence.merged_in" in [e.action for e in audit.history(s, "insight", twin.key)]


def test_deleting_an_insight_an_opportunity_relies_on_only_is_refused_naming_it(example_db):
    with example_db.session_scope() as s:
        opp = _opp(s)
        (only,) = opp.insights
        with pytest.raises(RefusedChange) as refused:
            delete_evidence(s, actor(s, "marco"), only.key, reason="duplicate")
        assert opp.key in refused.value.message and MOVERS in refused.value.message
        assert s.get(Insight, only.id) is not None


def test_a_deleted_insights_opportunity_passes_or_fails_its_guard_as_it_should(example_db):
    with example_db.session_scope() as s:
        sam, marco = actor(s, "sam"), actor(s, "marco")
        opp = _opp(s)
        assert not _has_evidence_guard_met(s, marco, opp)  # one insight
        extra = record_evidence(s, sam, text="I moved and my plan change got lost", source="Moving survey Q4",
                                kind="survey", steps=["changing-my-plan/pick-new-plan"])
        link_evidence(s, sam, opp.key, [extra.key])
        assert _has_evidence_guard_met(s, marco, _opp(s))  # two insights
        delete_evidence(s, marco, extra.key, reason="recorded on the wrong opportunity")
        s.expire_all()
        opp = _opp(s)
        assert facts_for(s, opp).evidence_count == 1
        assert not _has_evidence_guard_met(s, marco, opp)
        assert "opportunity.evidence_unlinked" in [e.action for e in audit.history(s, "opportunity", opp.key)]


def test_a_supporter_may_delete_their_own_insight_but_not_someone_elses(example_db):
    with example_db.session_scope() as s:
        tom = actor(s, "tom")  # supporter of paying-my-bill
        own = record_evidence(s, tom, text="The bill PDF is unreadable on a phone", source="Bill survey 2026",
                              kind="survey", steps=["paying-my-bill/pay-bill"])
        other = record_evidence(s, actor(s, "femke"), text="The pay button is hidden below the fold",
                                source="Usability test", kind="observation", steps=["paying-my-bill/pay-bill"])
        with pytest.raises(PermissionDenied):
            delete_evidence(s, tom, other.key, reason="not mine")
        with pytest.raises(PermissionDenied):
            edit_evidence(s, tom, other.key, {"volume": 3})
        delete_evidence(s, tom, own.key, reason="typed by mistake")
        assert s.scalar(sa.select(Insight).where(Insight.number == own.number)) is None


def test_a_coordinator_curates_within_their_journeys_only(example_db):
    with example_db.session_scope() as s:
        femke, lotte = actor(s, "femke"), actor(s, "lotte")  # coordinators of paying-my-bill / switching-providers
        insight = record_evidence(s, actor(s, "ana"), text="Pay by bank app fails on iOS", source="App reviews",
                                  kind="quote", steps=["paying-my-bill/pay-bill"])
        edit_evidence(s, femke, insight.key, {"tags": ["ios", "payments"], "sentiment": -1.5})
        with pytest.raises(PermissionDenied):
            edit_evidence(s, lotte, insight.key, {"volume": 2})
        twin = record_evidence(s, actor(s, "ana"), text="Pay by bank app fails on iOS!", source="App reviews",
                               kind="quote", steps=["switching-providers/port-number"])
        with pytest.raises(PermissionDenied):  # femke may not change the survivor on switching-providers
            merge_evidence(s, femke, insight.key, twin.key)


def test_editing_sets_sentiment_as_a_persons_value_and_names_bad_fields(example_db):
    with example_db.session_scope() as s:
        marco = actor(s, "marco")
        insight = s.scalar(sa.select(Insight).where(Insight.number == 22))
        insight.sentiment, insight.sentiment_suggested = -0.4, True
        s.commit()
        edited = edit_evidence(s, marco, "INS-22", {"sentiment": "-1", "personas": ["busy-family"],
                                                    "url": "https://survey.example/r/22", "tags": "forms, moving"})
        assert (edited.sentiment, edited.sentiment_suggested) == (-1.0, False)
        assert [p.key for p in edited.personas] == ["busy-family"] and edited.tags == ["forms", "moving"]
        with pytest.raises(InvalidInput) as bad:
            edit_evidence(s, marco, "INS-22", {"sentiment": 3, "volume": 0, "text": " ", "colour": "red"})
        assert set(bad.value.details) == {"sentiment", "volume", "text", "colour"}
        s.rollback()
        assert s.scalar(sa.select(Insight).where(Insight.number == 22)).volume == 1


def test_merge_refuses_itself_an_unknown_key_and_a_merged_survivor(example_db):
    with example_db.session_scope() as s:
        marco = actor(s, "marco")
        with pytest.raises(InvalidInput):
            merge_evidence(s, marco, "INS-22", "INS-22")
        with pytest.raises(NotFound):
            merge_evidence(s, marco, "INS-22", "INS-9999")
        merge_evidence(s, marco, "INS-21", "INS-20")
        with pytest.raises(InvalidInput) as chained:
            merge_evidence(s, marco, "INS-22", "INS-21")
        assert "INS-20" in chained.value.message
        with pytest.raises(RefusedChange):
            merge_evidence(s, marco, "INS-21", "INS-19")
