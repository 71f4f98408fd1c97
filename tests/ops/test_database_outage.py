"""Issue 30, part 6: while the database is unavailable every web page and API call answers 503 with Retry-After and
says so (an HTML page, or `{"error": {"code": "database_unavailable"}}`); when it is back, service resumes by itself
(pool pre-ping), nothing is written twice, a delivery worker that waited it out delivers, and /metrics counted it.

On PostgreSQL the test's own database is made unreachable from an admin connection (no new connections, every
existing one terminated); on SQLite the database file is moved away and a folder put in its place.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from govern.app import create_app
from govern.bootstrap import bootstrap
from govern.db import Database, database_unavailable
from govern.integrations.delivery import Outcome
from govern.integrations.worker import OutboxWorker, wait_until
from govern import notifications
from govern.model import OutboxMessage, Opportunity
from govern.policy import Actor
from govern.rituals.scheduler import RitualScheduler
from govern.services.portability import import_data
from tests.api.conftest import ApiClient
from tests.conftest import PG_ADMIN_URL, make_config
from tests.security.conftest import web_sign_in

TITLE = "How might we answer during an outage?"


class Recorder:
    """The notifications topic's deliverer (in place of Slack's): records what it was given."""

    topic = notifications.TOPIC
    batch_size = 10

    def __init__(self):
        self.delivered: list[int] = []

    def deliver(self, messages):
        self.delivered.extend(m.id for m in messages)
        return [Outcome.delivered(m.id) for m in messages]


class PostgresOutage:
    """The test database refuses connections (superusers too) and loses the ones it had; then comes back."""

    def __init__(self, db: Database):
        self.name = db.engine.url.database
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def begin(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" CONNECTION LIMIT 0'))
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))  # CONNECTION LIMIT
            # alone does not stop a superuser, and the tests connect as one
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": self.name})

    def end(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" CONNECTION LIMIT -1'))
        self.admin.dispose()


class SqliteOutage:
    """The database file is moved away and a folder takes its place: SQLite cannot open it."""

    def __init__(self, db: Database):
        self.db = db
        self.path = Path(db.engine.url.database)
        self.away = self.path.with_name(self.path.name + ".away")

    def begin(self) -> None:
        self.db.engine.dispose()  # the pool's open connections would keep reading the moved file
        for suffix in ("", "-wal", "-shm"):
            moved = Path(f"{self.path}{suffix}")
            if moved.exists():
                os.rename(moved, f"{self.away}{suffix}")
        self.path.mkdir()

    def end(self) -> None:
        self.path.rmdir()
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{self.away}{suffix}").exists():
                os.rename(f"{self.away}{suffix}", f"{self.path}{suffix}")


@pytest.fixture
def outage_db(migrated_db, example_snapshot, tmp_path):
    """A database of the example organisation that a test may take away: on PostgreSQL the test session's own
    database, on SQLite a file of this test's own."""
    if migrated_db.is_postgres:
        from tests.conftest import clear_tables

        clear_tables(migrated_db)
        db = bootstrap(Database(migrated_db.url))
    else:
        db = bootstrap(Database(f"sqlite:///{tmp_path / 'outage.db'}"))
        db.upgrade()
    with db.session_scope() as s:
        import_data(s, Actor.system_actor("test"), example_snapshot)
    yield db
    db.dispose()


def test_pages_and_api_calls_answer_503_while_the_database_is_away_and_recover_by_themselves(
        outage_db, tmp_path, caplog):
    db = outage_db
    app = create_app(make_config(db, tmp_path), db=db)
    api = ApiClient(app, db)
    api.token("lotte")
    web, signed_in = web_sign_in(app, "lotte", "govern-demo")
    assert signed_in.status_code in (302, 303)
    assert web.get("/board").status_code == 200
    outage = PostgresOutage(db) if db.is_postgres else SqliteOutage(db)
    recorder = Recorder()
    worker = OutboxWorker(db, [recorder], poll_seconds=0.05, outage_wait_cap=0.5)
    scheduler = RitualScheduler(db, instance_path=tmp_path / "instance", publish=False, name="outage-test")
    caplog.set_level(logging.INFO, logger="govern")
    outage.begin()
    try:
        worker.start()
        page = web.get("/board")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert page.mimetype == "text/html" and "database is unavailable" in page.get_data(as_text=True)
        for answer in (api.get("/opportunities", as_="lotte"),
                       api.post("/opportunities", as_="lotte",
                                json={"title": TITLE, "journeys": ["switching-providers"]})):
            assert answer.status_code == 503, answer.get_data(as_text=True)[:500]
            assert answer.headers["Retry-After"] == "5"
            error = answer.get_json()["error"]
            assert error["code"] == "database_unavailable" and "retry" in error["message"]
        assert "Traceback" not in caplog.text
        for _ in range(3):
            scheduler.tick()  # no exception: the round is skipped, the next one planned sooner
        threading.Event().wait(1.0)  # the worker meets the outage a few times meanwhile (backoff, no restart)
    finally:
        outage.end()
    try:
        assert api.get("/opportunities", as_="lotte").status_code == 200
        assert web.get("/board").status_code == 200
        created = api.post("/opportunities", as_="lotte", json={"title": TITLE, "journeys": ["switching-providers"]})
        assert created.status_code == 201, created.get_json()
        with db.session_scope() as s:
            assert s.scalar(sa.select(sa.func.count()).where(Opportunity.title == TITLE)) == 1
            before = s.scalar(sa.select(sa.func.coalesce(sa.func.max(OutboxMessage.id), 0)))
        # The real producer: a transition request that waits for the lead notifies through the outbox.
        requested = api.post("/opportunities/OPP-1/transitions", as_="lotte", json={"to": "prioritise"})
        assert requested.status_code == 202, requested.get_json()
        with db.session_scope() as s:
            message_id = s.scalar(sa.select(sa.func.min(OutboxMessage.id)).where(
                OutboxMessage.id > before, OutboxMessage.topic == notifications.TOPIC))
        assert message_id is not None, "the request queued no notification"
        assert wait_until(lambda: message_id in recorder.delivered, timeout=30), "the worker did not resume"
        scheduler.tick()
        assert scheduler.is_leader and scheduler._outage.failures == 0
        with db.session_scope() as s:
            assert s.get(OutboxMessage, message_id).status == "delivered"
    finally:
        worker.stop()
        scheduler.lock.release()
    for who in ("outbox worker", "scheduler outage-test"):
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith(who)]
        assert len([m for m in said if "database is unavailable" in m]) == 1, said
        assert len([m for m in said if "database is back" in m]) == 1, said
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    counted = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("govern_database_unavailable_total{")}
    assert counted.get('where="http"', 0) >= 3, counted
    assert counted.get('where="worker"', 0) >= 1 and counted.get('where="scheduler"', 0) >= 1, counted


def test_a_programming_error_is_not_taken_for_an_outage(db):
    with db.engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError) as raised:
            conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not database_unavailable(raised.value)
