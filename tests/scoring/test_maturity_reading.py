"""The maturity reading computed from crafted databases: stage 1 (a bare start), 3 (the example), 5 (everything)."""

import datetime as dt

import sqlalchemy as sa

from govern.maturity import maturity_reading
from govern.model import (
    Insight, Journey, Kpi, KpiMeasurement, Opportunity, Person, Ritual, RitualOccurrence, Solution,
)

NOW = dt.datetime(2026, 11, 23, 9, 0)


def test_stage_1_a_bare_start(session):
    ana = Person(handle="ana", name="Ana")
    session.add(ana)
    session.add_all([Journey(key=f"j{i}", name=f"Journey {i}", level="macro", owner=ana if i == 0 else None)
                     for i in range(5)])
    session.add(Opportunity(number=1, title="How might we …?", state="research"))
    session.commit()
    reading = maturity_reading(session, now=NOW)
    assert (reading.stage, reading.name) == (1, "intuition-driven")
    assert reading.signals["ownership"] == 0.2 and reading.signals["evidence"] == 0.0
    assert [s.signal for s in reading.held_back] == ["ownership", "evidence"]
    assert reading.counts["journeys"] == {"total": 5, "with_owner": 1}


def test_stage_3_the_example_organisation(example_db):
    with example_db.session_scope() as s:
        reading = maturity_reading(s, now=NOW)
    assert (reading.stage, reading.name) == (3, "coordinated")
    assert reading.signals["ownership"] == 1.0
    assert {s.signal for s in reading.held_back} >= {"backlog_linkage", "rituals_on_time"}


def test_stage_5_when_every_signal_is_strong(example_db):
    with example_db.session_scope() as s:
        for n, solution in enumerate(s.scalars(sa.select(Solution)), start=1):
            solution.external_key = f"OPS-{n}"
        ritual = s.scalars(sa.select(Ritual)).first()
        for week in range(1, 13):
            slot = NOW - dt.timedelta(weeks=week)
            s.add(RitualOccurrence(ritual_id=ritual.id, scheduled_at=slot, status="held",
                                   held_at=slot + dt.timedelta(hours=1)))
        s.add(RitualOccurrence(ritual_id=ritual.id, scheduled_at=NOW - dt.timedelta(days=3), status="cancelled"))
        for kpi in s.scalars(sa.select(Kpi)):
            s.add(KpiMeasurement(kpi_id=kpi.id, value=kpi.target, measured_at=NOW - dt.timedelta(days=2)))
        s.commit()
        reading = maturity_reading(s, now=NOW)
        assert (reading.stage, reading.name, reading.held_back) == (5, "excellence", [])
        assert reading.counts["ritual_occurrences"] == {"due": 12, "held_on_time": 12}
        # one held late and one skipped: 11 of 13 on time (85 %) is below the 90 % stage 5 needs
        late = s.scalars(sa.select(RitualOccurrence).where(RitualOccurrence.status == "held")).first()
        late.held_at = late.scheduled_at + dt.timedelta(days=3)
        s.add(RitualOccurrence(ritual_id=ritual.id, scheduled_at=NOW - dt.timedelta(days=1), status="skipped"))
        s.commit()
        reading = maturity_reading(s, now=NOW)
        assert reading.stage == 4
        assert [x.signal for x in reading.held_back] == ["rituals_on_time"]
        assert s.scalar(sa.select(sa.func.count(Insight.id))) == reading.counts["insights"]
