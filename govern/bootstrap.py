"""Start-up machinery, in one place: the session hooks a process's database needs, registered explicitly.

`bootstrap(db)` is called once for each Database a process makes — by the app factory (govern.app.create_app), the
command line (govern.cli.support.get_runtime), the stand-alone delivery worker (govern.integrations.worker.main) and
the test suite's database fixture — and registers every listener in SESSION_HOOKS on that Database's sessions only
(its sessionmaker), never on SQLAlchemy's Session class for the whole process, and nothing at import. A session made
any other way has none of them; `govern.queries.reference.reference` refuses such a session rather than serve a
snapshot nobody keeps current. docs/architecture.md ("Machinery") lists the hooks and the per-transaction caches.
"""

from __future__ import annotations

import sqlalchemy as sa

from govern.db import Database
from govern.queries import reference
from govern.services import summary

# (owner, session event, listener), in the order they run.
SESSION_HOOKS = tuple((module.__name__, event, listener)
                      for module in (summary, reference) for event, listener in module.SESSION_HOOKS)


def bootstrap(db: Database) -> Database:
    """Register the session hooks on `db`'s sessions (idempotent); returns `db`."""
    # Marked on the Database itself rather than asked of SQLAlchemy's event registry: the registry keys targets by
    # id(), so a new sessionmaker at the address of a collected one could read as already bootstrapped.
    if getattr(db, "_bootstrapped_by", None) is db.sessionmaker:
        return db
    for _owner, event, listener in SESSION_HOOKS:
        sa.event.listen(db.sessionmaker, event, listener)
    db._bootstrapped_by = db.sessionmaker
    return db


def is_bootstrapped(db: Database) -> bool:
    return getattr(db, "_bootstrapped_by", None) is db.sessionmaker
