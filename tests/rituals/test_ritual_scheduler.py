"""The scheduler in one process: leader election, firing on a manual clock, take-over, the background runner."""

import datetime as dt
from pathlib import Path
import time

import pytest
import sqlalchemy as sa

from govern import notifications
from govern.settings import Config
from govern.model import OutboxMessage, Ritual, RitualOccurrence
from govern.runtime import Runtime
from govern.rituals.scheduler import CompressedClock, ManualClock, RitualScheduler, clock_from_spec, start_in_background

UTC = dt.timezone.utc
# Sunday 28 March 2027: Amsterdam springs forward at 01:00 UTC.
START = dt.datetime(2027, 3, 28, 0, 10, tzinfo=UTC)


@pytest.fixture
def hourly(session):
    ritual = Ritual(key="hourly-sync", name="Hourly sync", cadence_kind="cron", cadence="0 * * * *",
                    timezone="Europe/Amsterdam", duration_minutes=30, agenda_lead_minutes=0,
                    slack_channel="cx-ops", agenda_sections=["approvals", "follow_ups"])
    session.add(ritual)
    session.commit()
    return ritual


def fired(session):
    return list(session.scalars(sa.select(RitualOccurrence).where(RitualOccurrence.fired_by.is_not(None))
                                .order_by(RitualOccurrence.scheduled_at)))


def test_one_leader_fires_each_occurrence_once_and_a_follower_takes_over(db, session, hourly, tmp_path):
    clock = ManualClock(START)
    a = RitualScheduler(db, clock=clock, instance_path=tmp_path, name="a")
    b = RitualScheduler(db, clock=clock, instance_path=tmp_path, name="b")
    try:
        for _ in range(8):  # until 02:30, both ticking
            assert a.tick().leader is True
            assert b.tick().leader is False
            clock.advance(dt.timedelta(minutes=20))
        a.stop()  # the leader goes away
        for _ in range(6):
            assert b.tick().leader is True
            clock.advance(dt.timedelta(minutes=20))
    finally:
        a.stop()
        b.stop()
    done = fired(session)
    assert [(o.scheduled_at.strftime("%H:%M"), o.fired_by) for o in done] == [
        ("01:00", "a"), ("02:00", "a"), ("03:00", "b"), ("04:00", "b")]
    posts = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == notifications.RITUAL_AGENDA)).all()
    assert sorted(p.payload["about"]["occurrence_id"] for p in posts) == [o.id for o in done]
    assert session.scalar(sa.select(sa.func.count()).select_from(RitualOccurrence)
                          .where(RitualOccurrence.status == "missed")) == 0


def test_a_leader_back_after_downtime_marks_missed_and_fires_only_the_latest(db, session, hourly, tmp_path):
    clock = ManualClock(START)
    leader = RitualScheduler(db, clock=clock, instance_path=tmp_path, name="solo")
    try:
        leader.tick()
        clock.set(dt.datetime(2027, 3, 28, 5, 10, tzinfo=UTC))  # five hours dark
        report = leader.tick()
    finally:
        leader.stop()
    assert len(report.missed) == 4 and len(report.fired) == 1
    assert [o.scheduled_at.strftime("%H:%M") for o in fired(session)] == ["05:00"]


def test_a_stopped_scheduler_releases_the_lock_for_the_next_one(db, hourly, tmp_path):
    clock = ManualClock(START)
    first = RitualScheduler(db, clock=clock, instance_path=tmp_path, name="first")
    assert first.tick().leader
    first.stop()
    second = RitualScheduler(db, clock=clock, instance_path=tmp_path, name="second")
    try:
        assert second.tick().leader
    finally:
        second.stop()


def test_background_runner_for_govern_serve_ticks_and_stops(db, session, hourly, tmp_path):
    config = Config(database_url=db.url, instance_path=tmp_path, testing=True)
    runner = start_in_background(Runtime(config=config, db=db), tick_seconds=0.2)
    try:
        deadline = dt.datetime.now(UTC) + dt.timedelta(seconds=20)
        while dt.datetime.now(UTC) < deadline:
            recorded = session.scalar(sa.select(sa.func.count()).select_from(RitualOccurrence))
            session.rollback()  # never hold SQLite's write lock while the scheduler works
            if recorded:
                break
            time.sleep(0.05)
        assert runner.is_leader
        assert session.scalar(sa.select(sa.func.count()).select_from(RitualOccurrence)) > 0
    finally:
        runner.stop()
    assert not runner.is_leader


def test_clock_specs_round_trip_so_every_process_shares_one_virtual_time():
    clock = CompressedClock(START, 3600.0, epoch=1_800_000_000.0)
    again = clock_from_spec(clock.spec())
    assert again == clock
    assert clock.real_time_of(START + dt.timedelta(hours=2)) == 1_800_000_002.0
    assert type(clock_from_spec(None)).__name__ == "SystemClock"
    waiting = CompressedClock(START, 60.0, epoch_file=Path("/nonexistent/start"))
    assert clock_from_spec(waiting.spec()) == waiting
    assert waiting.now() == START  # stands still until its start file exists
    with pytest.raises(ValueError, match="unknown clock"):
        clock_from_spec("sundial:noon")
