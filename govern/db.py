"""Storage: engine and sessions for SQLite (embedded default) or PostgreSQL, and Alembic upgrades."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from importlib import resources
import traceback



def migrations_dir() -> Path:
    """The Alembic scripts, wherever the package is installed (they ship as `govern.migrations` package data).

    Alembic reads them from a real folder, which an installed (unzipped) wheel always has."""
    return Path(str(resources.files("govern.migrations")))

# Transaction-scoped advisory lock ids (PostgreSQL); any constant unique to its purpose.
AUDIT_CHAIN_LOCK = 0x6A6F7572


class Database:
    """One engine and session factory per process; made by the app factory, CLI or a worker, never at import."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int | None = None):
        self.url = url
        kwargs: dict = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            _ensure_sqlite_folder(url)
        else:
            kwargs["pool_pre_ping"] = True
            if pool_size:
                kwargs["pool_size"] = pool_size
        self.engine = sa.create_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._heads: set[str] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def session(self) -> Session:
        return self.sessionmaker()

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A session that rolls back on error and is always closed; services commit themselves."""
        session = self.sessionmaker()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self, revision: str = "heads") -> None:
        upgrade(self, revision)

    def current_revisions(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())

    def head_revisions(self) -> set[str]:
        """The newest revisions this code ships (read once per process)."""
        if self._heads is None:
            self._heads = set(ScriptDirectory.from_config(alembic_config(self)).get_heads())
        return self._heads

    def dispose(self) -> None:
        self.engine.dispose()


def _ensure_sqlite_folder(url: str) -> None:
    """The database file's folder exists, and a new database file is created readable by its owner only (0600): it
    holds password hashes and token hashes. SQLite gives its -wal and -shm files the same permissions."""
    path = sa.engine.make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass


def _configure_sqlite(engine: sa.Engine) -> None:
    """Foreign keys on, WAL for concurrent readers, and BEGIN IMMEDIATE so that writers queue instead of failing."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(db: Database):
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["engine"] = db.engine
    return cfg


def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema to the newest revision (Alembic is the only way the schema changes)."""
    command.upgrade(alembic_config(db), revision)


def core_connection(session: Session, *, autoflush: bool) -> sa.Connection:
    """The session's connection, in its transaction, for a Core statement on a hot path (every transition): run there,
    a statement skips the session's per-statement work (about 40 µs of CPU each) and its `do_orm_execute` hooks, so
    use it only for statements that write no reference table (see govern.queries.reference). `autoflush`: flush the
    session's pending changes first, as the session does before an ORM read (for reads that must see them)."""
    if autoflush and session.autoflush:
        session.flush()
    return session.connection()


def dialect_insert(session: Session, table):
    """An INSERT for `table` with the dialect's ON CONFLICT clauses (SQLite and PostgreSQL share the API)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class json_rows(sa.sql.functions.GenericFunction):
    """An aggregate: the group's rows as one JSON text, an array of arrays of the given columns (`[[1, "a"], …]`).

    SQLite: json_group_array(json_array(…)); PostgreSQL: json_agg(json_build_array(…))::text. The order of the
    rows is not defined (SQLite before 3.44 cannot order inside an aggregate): include what to sort by and sort after
    `from_json_rows`. An empty group gives '[]' on SQLite and NULL on PostgreSQL; `from_json_rows` reads both as []."""

    type = sa.Text()
    inherit_cache = True
    name = "json_rows"


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element, compiler, **kw):
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element, compiler, **kw):
    return f"CAST(json_agg(json_build_array({compiler.process(element.clauses, **kw)})) AS TEXT)"


def from_json_rows(text: str | None) -> list[list]:
    """The rows a `json_rows` aggregate gave (None, from an empty group on PostgreSQL, is no rows)."""
    return json.loads(text) if text else []


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END")


class StatementCounter:
    """Counts the SQL statements an engine sends while active (transaction control not counted).

    Used by `bench/queries.py` and the statement-budget tests: a page or use case must read in a bounded number of
    statements, independent of the number of rows. `statements` keeps the SQL text, to show what ran.
    """

    def __init__(self, engine: sa.Engine, *, where: bool = False):
        self.engine = engine
        self.statements: list[str] = []
        self.where = where  # also keep, per statement, the product code lines that sent it (for reading, slow)
        self.origins: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def _before(self, _conn, _cursor, statement, _params, _context, executemany) -> None:
        if statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            return
        self.statements.append(statement)
        if self.where:
            frames = [f for f in traceback.extract_stack() if "/govern/" in f.filename and "/govern/db.py" not in f.filename]
            self.origins.append(" < ".join(f"{f.filename.rsplit('/govern/', 1)[1]}:{f.lineno} {f.name}"
                                           for f in reversed(frames[-4:])))

    def __enter__(self) -> "StatementCounter":
        sa.event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *_exc) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._before)


def lock_for_update(session: Session, lock_id: int) -> None:
    """Serialise writers on one resource: a transaction-scoped advisory lock on PostgreSQL.

    SQLite needs nothing here: every transaction already begins IMMEDIATE, holding the write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})


# --- the database unavailable (issue 30): told apart from a bug, waited out with backoff -----------------------------

# PostgreSQL SQLSTATE classes and codes that mean "cannot reach or use the database now; retry": 08 connection
# exception, 53 insufficient resources (53300 too many connections), 57P01-57P03 shutdown / cannot connect now.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")
# SQLite's words for a file it cannot open or read now (not "no such table": that is a bug, not an outage).
_UNAVAILABLE_SQLITE = ("unable to open database file", "disk i/o error", "database is locked", "readonly database",
                       "authorization denied")
RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached or used just now (a retry later may work): a lost or refused
    connection, a server shutting down, too many connections, an exhausted pool, a SQLite file it cannot open. False
    for a programming mistake (a missing table, bad SQL) or a refused value, which retrying will not mend."""
    if isinstance(exc, (sa.exc.DisconnectionError, sa.exc.TimeoutError)):
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError):
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate is not None:
        return str(sqlstate).startswith(_UNAVAILABLE_SQLSTATES)
    text = str(exc.orig).lower()
    if "sqlite" in type(exc.orig).__module__:
        return any(words in text for words in _UNAVAILABLE_SQLITE)
    return True  # a driver error before any SQLSTATE: the connection itself failed (refused, reset, timed out)


class OutageWatch:
    """For a background loop (scheduler, outbox worker): one warning when the database goes away, one line when it is
    back, and how long to wait before the next try — doubling from `first` up to `cap` seconds."""

    def __init__(self, who: str, logger, *, first: float = 1.0, cap: float = 30.0):
        self.who, self.log, self.first, self.cap = who, logger, first, cap
        self.failures = 0
        self.since: float | None = None

    def failed(self, exc: BaseException) -> float:
        """Note a failed try; the seconds to wait before the next."""
        if self.failures == 0:
            self.since = time.monotonic()
            self.log.warning("%s: the database is unavailable (%s); retrying with backoff up to %ss, without a "
                             "restart", self.who, type(getattr(exc, "orig", None) or exc).__name__, self.cap)
        self.failures += 1
        return min(self.cap, self.first * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        if self.failures:
            self.log.info("%s: the database is back after %.0f s (%d failed tries); resumed", self.who,
                             time.monotonic() - (self.since or time.monotonic()), self.failures)
            self.failures, self.since = 0, None
