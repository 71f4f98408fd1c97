"""The ritual scheduler: an APScheduler 3.11 BackgroundScheduler, leader-elected, with the ritual table as the truth.

APScheduler 3 cannot share a job store between processes, so it keeps no ritual jobs of its own. Each process runs
one *tick* job (every ``tick_seconds``); on each tick it tries to be (or stay) the leader, and only the leader:

1. records occurrence rows for every active ritual up to the horizon (``services.sync_occurrences``), so that edits
   to the rituals take effect on the next tick;
2. applies the missed-occurrence policy and fires what is due (``services.fire_due``): builds the agenda and queues
   its Slack post. Firing is a conditional UPDATE on the occurrence row in the agenda's own transaction, so even two
   leaders (say, a paused process waking up) would fire each occurrence once;
3. schedules a one-off APScheduler ``date`` job at the next agenda time, so that posts go out on time between ticks.

Leadership: on PostgreSQL a session-level advisory lock (``pg_try_advisory_lock``) held on a dedicated connection;
it is released by the database when the process dies (even by SIGKILL), and another process takes over on its next
tick. On SQLite a file lock (filelock) in the instance folder, released by the operating system the same way.

Time comes from a clock: the system clock, or a ``CompressedClock`` (tests run weeks of rituals in seconds; every
process given the same clock spec sees the same virtual time).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.pool import NullPool
from filelock import FileLock, Timeout

from govern.settings import default_instance_path
from govern import telemetry
from govern.db import Database, OutageWatch, database_unavailable
from govern.model import utcnow
from govern.policy import Actor
from govern.rituals import services
from govern.errors import GovernError
from govern.services import evidence as evidence_services
from govern.services import operations
from govern.rituals.cadence import UTC, as_utc

log = logging.getLogger(__name__)

LEADER_LOCK_ID = 0x72697475  # "ritu": the advisory lock key of the scheduler leader
DEFAULT_TICK_SECONDS = 30.0
SYNC_EVERY = dt.timedelta(minutes=10)  # how often (in clock time) the leader re-syncs occurrence rows


# --- clocks ----------------------------------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def seconds_until(self, at: dt.datetime) -> float: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)

    def seconds_until(self, at: dt.datetime) -> float:
        return (as_utc(at) - self.now()).total_seconds()

    def spec(self) -> str:
        return "system"


class CompressedClock:
    """Virtual time that starts at `origin` when the real (epoch) time is `epoch` and runs `factor` times faster.

    The epoch may be given as a file to read it from (`epoch_file`): until that file exists the clock stands still at
    its origin, so a test can start several processes and set them all going at once when they are ready.
    """

    def __init__(self, origin: dt.datetime, factor: float, epoch: float | None = None,
                 epoch_file: Path | None = None):
        self.origin = as_utc(origin)
        self.factor = float(factor)
        self.epoch_file = Path(epoch_file) if epoch_file else None
        self.epoch = epoch if epoch is not None or self.epoch_file else time.time()

    def _started_at(self) -> float | None:
        if self.epoch is None and self.epoch_file is not None:
            try:
                self.epoch = float(self.epoch_file.read_text().strip())
            except (OSError, ValueError):
                return None
        return self.epoch

    def now(self) -> dt.datetime:
        epoch = self._started_at()
        if epoch is None:
            return self.origin
        return self.origin + dt.timedelta(seconds=(time.time() - epoch) * self.factor)

    def seconds_until(self, at: dt.datetime) -> float:
        if self._started_at() is None:
            return float("inf")
        return (as_utc(at) - self.now()).total_seconds() / self.factor

    def real_time_of(self, at: dt.datetime) -> float:
        """The epoch second at which the virtual time `at` comes (the clock must have started)."""
        return self._started_at() + (as_utc(at) - self.origin).total_seconds() / self.factor

    def spec(self) -> str:
        start = f"@{self.epoch_file}" if self.epoch_file and self.epoch is None else f"{self.epoch:.6f}"
        return f"compressed:{self.origin.strftime('%Y-%m-%dT%H:%M:%SZ')}:{self.factor:g}:{start}"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, CompressedClock) and (self.origin, self.factor, self.epoch, self.epoch_file)
                == (other.origin, other.factor, other.epoch, other.epoch_file))


class ManualClock:
    """A clock that moves only when told (in-process tests: tick, advance, tick)."""

    def __init__(self, start: dt.datetime):
        self._now = as_utc(start)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self._now += delta
        return self._now

    def set(self, at: dt.datetime) -> None:
        self._now = as_utc(at)

    def seconds_until(self, at: dt.datetime) -> float:
        return float("inf")  # manual time never arrives by itself: no wake-up jobs

    def spec(self) -> str:
        return f"manual:{self._now.isoformat()}"


def clock_from_spec(spec: str | None) -> Clock:
    """`system` (default) or `compressed:<origin ISO, UTC>:<factor>:<epoch seconds | @file holding them>`."""
    if not spec or spec == "system":
        return SystemClock()
    kind, _, rest = spec.partition(":")
    if kind != "compressed":
        raise ValueError(f"unknown clock {spec!r} (system or compressed:ORIGIN:FACTOR:EPOCH)")
    origin_text, _, rest = rest.partition("Z:")
    factor_text, _, epoch_text = rest.partition(":")
    origin = dt.datetime.fromisoformat(origin_text + "+00:00")
    if epoch_text.startswith("@"):
        return CompressedClock(origin, float(factor_text), epoch_file=Path(epoch_text[1:]))
    return CompressedClock(origin, float(factor_text), float(epoch_text))


# --- leader locks ----------------------------------------------------------------------------------------------------


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresAdvisoryLock:
    """A session-level advisory lock on a connection of its own (never one from the pool that services use)."""

    def __init__(self, url: str, lock_id: int = LEADER_LOCK_ID, application_name: str = "govern-scheduler"):
        self.engine = sa.create_engine(url, poolclass=NullPool,
                                       connect_args={"application_name": application_name[:63]})
        self.lock_id = lock_id
        self.connection: sa.Connection | None = None

    def try_acquire(self) -> bool:
        try:
            if self.connection is None:
                self.connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            return bool(self.connection.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                                {"k": self.lock_id}).scalar())
        except sa.exc.DBAPIError:
            self._drop()
            return False

    def still_held(self) -> bool:
        """Ask the database: a connection that silently died no longer holds anything."""
        if self.connection is None:
            return False
        try:
            return bool(self.connection.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND objid = :k AND granted"), {"k": self.lock_id & 0xFFFFFFFF}).scalar())
        except sa.exc.DBAPIError:
            self._drop()
            return False

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.lock_id})
            except sa.exc.DBAPIError:
                pass
        self._drop()
        self.engine.dispose()

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # noqa: BLE001 - the connection is gone either way
                pass
        self.connection = None


class FileLeaderLock:
    """A file lock in the instance folder (SQLite installations run on one machine)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(path))

    def try_acquire(self) -> bool:
        if self.lock.is_locked:
            return True
        try:
            self.lock.acquire(timeout=0)
            return True
        except Timeout:
            return False

    def still_held(self) -> bool:
        return self.lock.is_locked

    def release(self) -> None:
        if self.lock.is_locked:
            self.lock.release(force=True)


def leader_lock_for(db: Database, instance_path: Path | None, name: str, *, role: str = "scheduler",
                    lock_id: int = LEADER_LOCK_ID) -> LeaderLock:
    """The leader lock of one role (the ritual scheduler; the Jira reconciler uses the same mechanism, its own key)."""
    if db.is_postgres:
        return PostgresAdvisoryLock(db.url, lock_id=lock_id, application_name=f"govern-{role} {name}")
    return FileLeaderLock(Path(instance_path or default_instance_path()) / f"{role}.lock")


# --- the scheduler ---------------------------------------------------------------------------------------------------


@dataclass
class TickReport:
    leader: bool
    synced: int = 0
    fired: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    next_due: dt.datetime | None = None
    # Insights erased by the daily evidence retention run in this round (empty on other rounds).
    retained: list[str] = field(default_factory=list)


class RitualScheduler:
    """Drives the rituals of one database from one process; any number may run, one leads."""

    def __init__(self, db: Database, *, clock: Clock | None = None, instance_path: Path | None = None,
                 tick_seconds: float = DEFAULT_TICK_SECONDS, name: str | None = None,
                 lock: LeaderLock | None = None, publish: bool = True, fire_delay: float = 0.0,
                 announce_dir: Path | None = None):
        self.db = db
        self.clock = clock or SystemClock()
        self.tick_seconds = tick_seconds
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lock = lock or leader_lock_for(db, instance_path, self.name)
        self.publish = publish
        self.actor = Actor.system_actor("scheduler")
        self.is_leader = False
        self._last_sync: dt.datetime | None = None
        # The day (on the scheduler's clock) retention last ran: once a day, by the leader. Kept in memory: a new
        # leader runs it again at once, which is harmless (erased insights are not erased twice).
        self._last_retention: dt.date | None = None
        self._tick_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        # Test hooks: hold each agenda build open this long (a leader killed mid-build must leave nothing behind),
        # after touching `announce_dir/firing-<pid>-<occurrence>` so that a test knows when.
        self.fire_delay = fire_delay
        self.announce_dir = announce_dir
        # The database unavailable: one warning per outage, the next tick sooner (backoff up to the tick).
        self._outage = OutageWatch(f"scheduler {self.name}", log, first=1.0, cap=tick_seconds)
        self._retry_in: float | None = None

    # one round -----------------------------------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Lead if possible; if leading, sync occurrences and fire what is due. Safe to call from any thread."""
        if not self._tick_lock.acquire(blocking=False):
            return TickReport(leader=self.is_leader)  # the previous round is still running
        try:
            return self._tick()
        finally:
            self._tick_lock.release()

    def _tick(self) -> TickReport:
        was_leader = self.is_leader
        self.is_leader = self.lock.still_held() if was_leader else self.lock.try_acquire()
        if self.is_leader != was_leader:
            log.info("scheduler %s %s", self.name, "is now the leader" if self.is_leader else "lost the leadership")
            self._last_sync = None
        report = TickReport(leader=self.is_leader)
        telemetry.scheduler_tick(self.is_leader)
        self._record_round()
        if not self.is_leader:
            return report
        now = self.clock.now()
        try:
            with self.db.session_scope() as session:
                if self._last_sync is None or now - self._last_sync >= SYNC_EVERY:
                    report.synced = services.sync_occurrences(session, self.actor, now=now)
                    if self.publish:
                        services.notify_ownership_gaps(session, self.actor, now=now)
                    self._last_sync = now
                if self.publish:
                    services.announce_due_evaluations(session, self.actor, now=now)
                fired = services.fire_due(session, self.actor, now=now, fired_by=self.name, publish=self.publish,
                                          before_commit=self._before_commit if self.fire_delay else None)
                report.fired, report.missed = fired.fired, fired.missed
                report.next_due = services.next_due_at(session, now=now)
            if self._last_retention != now.date():
                report.retained = self._apply_retention(now.date())
        except (sa.exc.DBAPIError, sa.exc.DisconnectionError, sa.exc.TimeoutError) as exc:
            if not database_unavailable(exc):
                raise
            self._database_unavailable(exc)  # the database went away: one warning, try again after a backoff
            return report
        self._outage.succeeded()
        if report.fired or report.missed:
            log.info("scheduler %s fired %s, marked missed %s", self.name, report.fired, report.missed)
        self._plan_wake_up(report.next_due)
        return report

    def _apply_retention(self, today: dt.date) -> list[str]:
        """The daily evidence retention run (`evidence.retention_days` in govern.yaml; nothing when unset)."""
        try:
            with self.db.session_scope() as session:
                erased = evidence_services.apply_retention(session, self.actor, today=today)
        except GovernError as exc:  # a refusal must not stop the rituals; it is retried tomorrow
            log.warning("scheduler %s: evidence retention refused: %s", self.name, exc.message)
            erased = []
        self._last_retention = today
        if erased:
            log.info("scheduler %s: evidence retention erased %s", self.name, ", ".join(erased))
        return erased

    def _record_round(self) -> None:
        """Tell the operations page this scheduler is alive and whether it leads (skipped while the database is down)."""
        try:
            with self.db.session_scope() as session:
                operations.record_scheduler_round(session, self.name, leader=self.is_leader, now=utcnow())
        except (sa.exc.DBAPIError, sa.exc.DisconnectionError, sa.exc.TimeoutError) as exc:
            if not database_unavailable(exc):
                raise
            self._database_unavailable(exc)
            return
        if not self.is_leader:
            self._outage.succeeded()

    def _database_unavailable(self, exc: Exception) -> None:
        """Note an outage: the first failure is logged (once), every one counted; the next tick comes after a backoff
        (doubling from 1 s up to the tick) instead of the full tick."""
        self._retry_in = self._outage.failed(exc)
        telemetry.database_unavailable("scheduler")

    def _before_commit(self, occurrence_id: int) -> None:
        if self.announce_dir is not None:
            Path(self.announce_dir, f"firing-{os.getpid()}-{occurrence_id}").touch()
        time.sleep(self.fire_delay)

    def _plan_wake_up(self, due: dt.datetime | None) -> None:
        """A one-off job at the next agenda time, if that comes before the next tick."""
        if self._scheduler is None or due is None:
            return
        wait = self.clock.seconds_until(due)
        if not 0 < wait < self.tick_seconds:  # past: the next tick handles it; far: a later tick plans it
            return
        run_at = dt.datetime.now(UTC) + dt.timedelta(seconds=wait + 0.001)
        try:
            self._scheduler.add_job(self.tick, "date", run_date=run_at, id="wake-up", replace_existing=True,
                                    misfire_grace_time=None)
        except Exception:  # noqa: BLE001 - the scheduler is shutting down
            pass

    # running in the background ---------------------------------------------------------------------------------------

    def start(self) -> "RitualScheduler":
        """Run in a background thread: a tick now, then one `tick_seconds` after each tick ends (never overlapping)."""
        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
        self._scheduler.start()
        self._schedule_tick(0.0)
        log.info("ritual scheduler %s started (tick %ss, clock %s)", self.name, self.tick_seconds,
                 getattr(self.clock, "spec", lambda: "custom")())
        return self

    def _schedule_tick(self, delay: float) -> None:
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            return
        try:
            scheduler.add_job(self._tick_and_reschedule, "date", id="tick", replace_existing=True,
                              run_date=dt.datetime.now(UTC) + dt.timedelta(seconds=delay), misfire_grace_time=None)
        except Exception:  # noqa: BLE001 - the scheduler is shutting down
            pass

    def _tick_and_reschedule(self) -> None:
        try:
            self.tick()
        except Exception:  # noqa: BLE001 - a bad round is logged; the next one comes regardless
            log.exception("scheduler %s: tick failed", self.name)
        finally:
            retry_in, self._retry_in = self._retry_in, None
            self._schedule_tick(self.tick_seconds if retry_in is None else min(retry_in, self.tick_seconds))

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        if self.is_leader:
            log.info("scheduler %s steps down", self.name)
        self.lock.release()
        self.is_leader = False
        telemetry.scheduler_stepped_down()
        try:
            with self.db.session_scope() as session:
                operations.scheduler_stopped(session, self.name)
        except sa.exc.SQLAlchemyError as exc:  # stopping must not fail for want of a database
            log.warning("scheduler %s: cannot record that it stopped (%s)", self.name, type(exc).__name__)

    shutdown = stop


def start_in_background(runtime: Any, *, tick_seconds: float = DEFAULT_TICK_SECONDS) -> RitualScheduler | None:
    """For `govern serve`: run the scheduler in this process (it only acts while it holds the leader lock)."""
    scheduler = RitualScheduler(runtime.db, instance_path=runtime.config.instance_path, tick_seconds=tick_seconds)
    return scheduler.start()
