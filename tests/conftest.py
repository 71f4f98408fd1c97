"""Shared fixtures: a real database (SQLite by default, PostgreSQL with GOVERN_TEST_DATABASE=postgresql), the app,
and the example organisation. Each test starts from empty tables (or a fresh copy of the example)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from govern.settings import Config
from govern.db import Database
from govern.model import Base
from govern.policy import Actor

# The web fixtures (signed-in client, live server, the one browser) for every folder that drives the web app.
pytest_plugins = ["tests.web_fixtures"]

PG_ADMIN_URL = os.environ.get("GOVERN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ON_POSTGRES = os.environ.get("GOVERN_TEST_DATABASE", "sqlite").lower() in ("postgresql", "postgres", "pg")
# The scrypt cost of password hashes made during the tests (the production default is 2**15, 8, 1: 0.1-0.4 s per
# sign-in on a busy machine; this one under a millisecond). Hashes at this cost verify like any other;
# tests/foundation/test_passwords.py checks the default.
TEST_PASSWORD_COST = (256, 8, 1)


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with GOVERN_TEST_DATABASE=postgresql)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    """Every hash made in this test process is cheap (the app's test configuration says the same)."""
    from govern import passwords

    passwords.use_cost(TEST_PASSWORD_COST)
    yield
    passwords.use_cost(None)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A database for this test session: a SQLite file, or a fresh PostgreSQL database dropped at the end."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'govern-test.db'}"
        return
    name = f"govern_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
            {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_db(database_url) -> Database:
    from govern.bootstrap import bootstrap

    db = bootstrap(Database(database_url))
    db.upgrade()
    yield db
    db.dispose()


def clear_tables(db: Database) -> None:
    """Empty every table (keeping the schema and Alembic's version)."""
    tables = [t.name for t in Base.metadata.sorted_tables]
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        return
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA foreign_keys=OFF")
        for table in reversed(tables):
            cur.execute(f'DELETE FROM "{table}"')
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
    finally:
        raw.close()


@pytest.fixture
def db(migrated_db) -> Database:
    """The session's database with every table empty."""
    clear_tables(migrated_db)
    yield migrated_db


@pytest.fixture
def session(db):
    with db.session_scope() as s:
        yield s


@pytest.fixture(scope="session")
def example_snapshot(migrated_db) -> dict:
    """The example organisation, loaded once through the services, kept as an export to restore per test."""
    from govern.cli.support import DEMO_PASSWORD
    from govern.orgfile.load import load_example
    from govern.model import Person
    from govern.services.people import set_password
    from govern.services.portability import export_data

    clear_tables(migrated_db)
    operator = Actor.system_actor("test")
    with migrated_db.session_scope() as s:
        load_example(s, operator)
        for handle in s.scalars(sa.select(Person.handle)).all():
            set_password(s, operator, handle, DEMO_PASSWORD, commit=False)
        s.commit()
        return export_data(s, operator)


def _import(db: Database, data: dict) -> None:
    from govern.services.portability import import_data

    clear_tables(db)
    with db.session_scope() as s:
        import_data(s, Actor.system_actor("test"), data)


def _copy_sqlite(source: Database | Path, target: Database | Path) -> None:
    """The whole SQLite database copied page by page (sqlite3's backup API): a restore in milliseconds, where
    importing the export through the services takes a few hundred."""
    import sqlite3

    def connect(end):
        if isinstance(end, Path):
            return sqlite3.connect(end), None
        raw = end.engine.raw_connection()
        return raw.driver_connection, raw

    (src, src_raw), (dst, dst_raw) = connect(source), connect(target)
    try:
        src.backup(dst)
    finally:
        for conn, raw in ((src, src_raw), (dst, dst_raw)):
            (raw or conn).close()


class Restorer:
    """Puts an exported organisation into the session's database for each test: imported through the services the
    first time; on SQLite that result is kept as a file and copied back for the tests after."""

    def __init__(self, db: Database, data: dict, folder: Path):
        self.db, self.data, self.copy = db, data, folder / "restored.db"
        self.kept = False

    def restore(self) -> None:
        if self.kept:
            _copy_sqlite(self.copy, self.db)
            return
        _import(self.db, self.data)
        if self.db.is_sqlite:
            _copy_sqlite(self.db, self.copy)
            self.kept = True


@pytest.fixture(scope="session")
def example_restorer(migrated_db, example_snapshot, tmp_path_factory) -> Restorer:
    return Restorer(migrated_db, example_snapshot, tmp_path_factory.mktemp("example"))


@pytest.fixture
def example_db(migrated_db, example_restorer) -> Database:
    """The session's database holding a fresh copy of the example organisation (Telco Nova)."""
    example_restorer.restore()
    yield migrated_db


@pytest.fixture(scope="session")
def hospital_snapshot(migrated_db) -> dict:
    """Riverside General (tests/fixtures/riverside: patient journeys, the `patient_care` lifecycle), loaded once through
    the services and kept as an export: {"keys": {story role: opportunity key}, "data": export}."""
    from govern.cli.support import DEMO_PASSWORD
    from govern.model import Person
    from govern.services.people import set_password
    from govern.services.portability import export_data
    from tests.fixtures.riverside import load_hospital

    clear_tables(migrated_db)
    operator = Actor.system_actor("test")
    with migrated_db.session_scope() as s:
        keys = load_hospital(s, operator)
        for handle in s.scalars(sa.select(Person.handle)).all():
            set_password(s, operator, handle, DEMO_PASSWORD, commit=False)  # everyone can sign in, as in the example
        s.commit()
        return {"keys": keys, "data": export_data(s, operator)}


@pytest.fixture(scope="session")
def hospital_restorer(migrated_db, hospital_snapshot, tmp_path_factory) -> Restorer:
    return Restorer(migrated_db, hospital_snapshot["data"], tmp_path_factory.mktemp("hospital"))


@pytest.fixture
def hospital_db(migrated_db, hospital_restorer) -> Database:
    """The session's database holding a fresh copy of Riverside General (see tests/fixtures/riverside)."""
    hospital_restorer.restore()
    yield migrated_db


@pytest.fixture
def hospital_keys(hospital_snapshot) -> dict[str, str]:
    """{story role: opportunity key} of Riverside General (tests.fixtures.riverside.HOSPITAL_OPPORTUNITIES)."""
    return dict(hospital_snapshot["keys"])


@pytest.fixture
def hospital_app(hospital_db, shared_app):
    """The session's app on a fresh copy of Riverside General."""
    _check_untouched(shared_app)
    return shared_app


@pytest.fixture
def operator() -> Actor:
    """The local operator (system admin), as the CLI acts by default."""
    return Actor.system_actor("test")


def make_config(db: Database, tmp_path: Path, **overrides) -> Config:
    overrides.setdefault("password_hash_cost", TEST_PASSWORD_COST)
    return Config(database_url=db.url, instance_path=tmp_path / "instance", secret_key="test-secret-key",
                  testing=True, run_scheduler=False, run_worker=False, **overrides)


@pytest.fixture(scope="session")
def shared_app(migrated_db, tmp_path_factory):
    """One app (govern.app.create_app, no integrations configured) for the whole session, bound to the session's
    database: building one costs about 0.3 s, and the app keeps no state between requests beyond what the database
    holds. `app`, `example_app` and `hospital_app` hand it out after restoring the database; a test that needs other
    settings or changes the app's runtime builds its own with create_app(make_config(...))."""
    from govern.app import create_app

    return create_app(make_config(migrated_db, tmp_path_factory.mktemp("app")), db=migrated_db)


@pytest.fixture
def app(db, shared_app):
    """The session's app on empty tables."""
    _check_untouched(shared_app)
    return shared_app


@pytest.fixture
def example_app(example_db, shared_app):
    """The session's app on a fresh copy of the example organisation."""
    _check_untouched(shared_app)
    return shared_app


def _check_untouched(app) -> None:
    """The shared app is handed out as built: a test that swapped its adapters or settings would leak into the next."""
    runtime = app.extensions["govern"]
    assert runtime.adapters == {"jira": None, "slack": None} and not runtime.background, (
        "a test changed the shared app's runtime; build a separate app with create_app for that test")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def example_client(example_app):
    return example_app.test_client()


def actor(session, handle: str) -> Actor:
    """The roles and scopes of a person in the database."""
    from govern.services.common import load_actor

    return load_actor(session, handle)


def cli_invoker(db: Database, tmp_path: Path, **env: str):
    """Run `govern …` in-process (click's runner) against `db`; returns a function taking the arguments."""
    from click.testing import CliRunner

    from govern.cli.root import cli

    runner = CliRunner()
    environment = {"GOVERN_DATABASE_URL": db.url, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance"), **env}
    return lambda *args: runner.invoke(cli, list(args), env=environment)
