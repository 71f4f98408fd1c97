"""The evidence summary per opportunity is kept current by every service that changes what backs an opportunity."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import EvidenceSummary, Opportunity
from govern.services.evidence import link_evidence_to_steps, record_evidence, unlink_evidence_from_step
from govern.services.journeys import delete_step
from govern.services.opportunities import create_opportunity, link_evidence, update_opportunity
from govern.services.summary import summary_query


def _summary(session, key: str) -> tuple:
    number = int(key.split("-")[1])
    row = session.scalar(sa.select(EvidenceSummary).join(Opportunity, Opportunity.id == EvidenceSummary.opportunity_id)
                         .where(Opportunity.number == number))
    return (row.insight_count, row.journey_count, row.source_count, row.unlinked_count, row.newest_observed_on)


def _recomputed(session) -> dict:
    return {row[0]: tuple(row[1:]) for row in session.execute(summary_query(None))}


def _stored(session) -> dict:
    return {row.opportunity_id: (row.insight_count, row.weighted_count, row.journey_count, row.source_count,
                                 row.unlinked_count, row.newest_observed_on)
            for row in session.scalars(sa.select(EvidenceSummary))}


def _same(session) -> None:
    recomputed = {k: (*counts, str(newest) if newest is not None else None)
                  for k, (*counts, newest) in _recomputed(session).items()}
    stored = {k: (*counts, str(newest) if newest is not None else None)
              for k, (*counts, newest) in _stored(session).items()}
    assert stored == recomputed


def test_every_example_opportunity_has_a_summary_matching_its_links(example_db):
    with example_db.session_scope() as s:
        assert len(_stored(s)) == s.scalar(sa.select(sa.func.count()).select_from(Opportunity))
        _same(s)


def test_linking_and_unlinking_evidence_updates_the_summary_in_the_same_transaction(example_db, operator):
    with example_db.session_scope() as s:
        opp = create_opportunity(s, operator, title="How might we keep movers informed?", journeys=["moving-house"])
        assert _summary(s, opp.key) == (0, 0, 0, 0, None)
        first = record_evidence(s, operator, text="Nobody told me", source="Tickets", kind="ticket",
                                observed_on="2026-10-01", steps=["moving-house/port-number"])
        second = record_evidence(s, operator, text="Where is my SIM?", source=" tickets ", kind="quote",
                                 observed_on="2026-10-20", steps=["switching-providers/port-number"])
        link_evidence(s, operator, opp.key, [first.key, second.key], commit=False)
        # Read inside the same transaction, before any commit: the summary moved with the links.
        assert _summary(s, opp.key)[:3] == (2, 2, 1)
        assert str(_summary(s, opp.key)[4]) == "2026-10-20"
        s.commit()
        unlink_evidence_from_step(s, operator, second.key, "switching-providers/port-number")
        assert _summary(s, opp.key)[:4] == (2, 1, 1, 1)
        link_evidence_to_steps(s, operator, second.key, ["paying-my-bill/dispute-charge"])
        assert _summary(s, opp.key)[:4] == (2, 2, 1, 0)
        update_opportunity(s, operator, opp.key, insights=[first.key])
        assert _summary(s, opp.key)[:3] == (1, 1, 1)
        _same(s)


def test_moving_evidence_off_a_removed_step_updates_the_summary(example_db, operator):
    with example_db.session_scope() as s:
        insight = record_evidence(s, operator, text="Bill shock", source="survey", kind="survey",
                                  steps=["moving-house/port-number"])
        opp = create_opportunity(s, operator, title="How might we explain the bill?", journeys=["moving-house"],
                                 insights=[insight.key])
        assert _summary(s, opp.key)[1] == 1
        delete_step(s, operator, "moving-house/port-number", move_evidence_to="paying-my-bill/dispute-charge")
        _same(s)
