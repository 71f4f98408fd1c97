"""Three `govern scheduler` processes on PostgreSQL over a compressed clock: every occurrence fires exactly once, and
when the leader is killed (SIGKILL) in the middle of building an agenda, another process takes over and posts it once.

The clock runs 1,800 times faster than real time (a virtual hour in two seconds) across Amsterdam's spring-forward
night. The clock stands still at its origin until every process is up (a start file), so a slow machine makes the
test wait, not fail.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from govern import audit, notifications
from govern.model import AuditEvent, OutboxMessage, Ritual, RitualOccurrence
from govern.policy import Actor
from govern.rituals import services
from govern.rituals.scheduler import CompressedClock

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

UTC = dt.timezone.utc
ORIGIN = dt.datetime(2027, 3, 27, 20, 5, tzinfo=UTC)  # Saturday 21:05 in Amsterdam; clocks spring forward at 01:00 UTC
FACTOR = 1800.0
RUN_FOR = dt.timedelta(hours=6, minutes=30)  # virtual: 13 real seconds
STARTUP_TIMEOUT = 45.0  # real seconds the processes may take to start on a busy machine
FIRE_DELAY = 0.6  # real seconds each agenda build is held open (the window in which the leader is killed)


def wait_for(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


@pytest.fixture
def pulses(db):
    with db.session_scope() as s:
        for key, cron in (("pulse-even", "0 */2 * * *"), ("pulse-odd", "30 1-23/2 * * *")):
            s.add(Ritual(key=key, name=key.replace("-", " ").title(), cadence_kind="cron", cadence=cron,
                         timezone="Europe/Amsterdam", duration_minutes=30, agenda_lead_minutes=0,
                         slack_channel="cx-ops", agenda_sections=["approvals", "follow_ups"],
                         settings={"grace_minutes": 240}))
        s.commit()
        # Recorded from the start of the window, so that a slow process start cannot skip the first ones unseen.
        services.sync_occurrences(s, Actor.system_actor("test"), now=ORIGIN)


def test_three_schedulers_fire_every_occurrence_once_and_survive_the_leader_being_killed(db, pulses, tmp_path):
    clock = CompressedClock(ORIGIN, FACTOR, epoch_file=tmp_path / "clock-start")
    announce = tmp_path / "announce"
    announce.mkdir()
    env = {**os.environ, "GOVERN_DATABASE_URL": db.url, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance"),
           "GOVERN_SECRET_KEY": "test", "PYTHONUNBUFFERED": "1"}
    names = [f"proc-{i}" for i in range(3)]
    procs = {name: subprocess.Popen(
        [sys.executable, "-c", "from govern.cli import main; main()", "scheduler", "--tick", "0.1",
         "--clock", clock.spec(), "--name", name, "--fire-delay", str(FIRE_DELAY), "--announce-dir", str(announce)],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / f"{name}.log").open("w")) for name in names}
    engine = sa.create_engine(db.url)

    def fired_by():
        with engine.connect() as conn:
            return dict(conn.execute(sa.select(RitualOccurrence.id, RitualOccurrence.fired_by)
                                     .where(RitualOccurrence.fired_by.is_not(None))).all())

    try:
        started = wait_for(lambda: all("running (tick" in (tmp_path / f"{n}.log").read_text() for n in names),
                           timeout=STARTUP_TIMEOUT, interval=0.1)
        assert started, "the processes did not start:\n" + _logs(tmp_path, names)
        (tmp_path / "clock-start.tmp").write_text(f"{time.time():.6f}")
        (tmp_path / "clock-start.tmp").rename(tmp_path / "clock-start")  # atomically: every process sees it whole
        # 1. A leader emerges and fires.
        first_two = wait_for(lambda: len(fired_by()) >= 2 and fired_by(), timeout=25)
        assert first_two, "no scheduler fired anything: " + _logs(tmp_path, names)
        leader = set(first_two.values())
        assert len(leader) == 1, f"more than one process fired: {first_two}"
        leader = leader.pop()
        leader_pid = procs[leader].pid

        # 2. Kill the leader while it holds an agenda build open (claimed, not committed).
        def leader_mid_build():
            for marker in announce.glob(f"firing-{leader_pid}-*"):
                occurrence_id = int(marker.name.rsplit("-", 1)[1])
                if occurrence_id not in fired_by():
                    return occurrence_id
            return None

        interrupted = wait_for(leader_mid_build, timeout=10, interval=0.01)
        assert interrupted, "the leader never started another agenda build"
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(timeout=10)

        # 3. Another process takes over and posts the interrupted agenda, once.
        taken_over = wait_for(lambda: fired_by().get(interrupted), timeout=15)
        assert taken_over and taken_over != leader, f"{interrupted} {taken_over} {leader}\n" + _logs(tmp_path, names)

        # 4. Run to the end of the virtual window; every due occurrence gets fired.
        end = ORIGIN + RUN_FOR
        wait_for(lambda: time.time() >= clock.real_time_of(end), timeout=40, interval=0.2)
        with engine.connect() as conn:
            due = conn.execute(sa.select(RitualOccurrence.id).where(
                RitualOccurrence.scheduled_at <= (end - dt.timedelta(minutes=30)).replace(tzinfo=None))).scalars().all()
        if not wait_for(lambda: set(due) <= set(fired_by()), timeout=15):
            with engine.connect() as conn:
                left = conn.execute(sa.select(RitualOccurrence.id, RitualOccurrence.ritual_id,
                                              RitualOccurrence.scheduled_at, RitualOccurrence.status)
                                    .where(RitualOccurrence.id.in_(set(due) - set(fired_by())))).all()
            pytest.fail(f"never fired: {left}; now {clock.now()}\n" + _logs(tmp_path, names))
        assert not [p for p in procs.values() if p.poll() is not None and p.pid != leader_pid], _logs(tmp_path, names)
    finally:
        for name, proc in procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()

    with db.session_scope() as s:
        occurrences = s.scalars(sa.select(RitualOccurrence).where(RitualOccurrence.id.in_(due))
                                .order_by(RitualOccurrence.scheduled_at)).all()
        assert len(occurrences) >= 6
        assert {o.status for o in occurrences} == {"planned"}, "an occurrence was missed"
        # Across the spring-forward night: the even pulse keeps its local times (22:00, 00:00, 03:00 = 02:00 CET…).
        even = [o.scheduled_at.strftime("%d %H:%M") for o in occurrences if o.ritual.key == "pulse-even"][:4]
        assert even == ["27 21:00", "27 23:00", "28 01:00", "28 02:00"]
        fired_ids = [o.id for o in occurrences]
        posts = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == notifications.RITUAL_AGENDA)).all()
        posted = [p.payload["about"]["occurrence_id"] for p in posts if p.payload["about"]["occurrence_id"] in fired_ids]
        assert sorted(posted) == sorted(fired_ids), "an agenda was posted twice or not at all"
        built = s.scalars(sa.select(AuditEvent.entity_id).where(AuditEvent.action == "ritual.agenda_built")).all()
        assert sorted(int(i) for i in built if int(i) in fired_ids) == sorted(fired_ids)
        assert len(built) == len(set(built)), "an agenda was built twice"
        by = {o.fired_by for o in occurrences}
        assert leader in by and len(by - {leader}) >= 1
        assert s.get(RitualOccurrence, interrupted).fired_by == taken_over
        assert audit.verify(s).ok


def _logs(tmp_path: Path, names) -> str:
    return "\n".join(f"--- {n}\n" + (tmp_path / f"{n}.log").read_text()[-2000:] for n in names)
