"""Alembic environment: uses the engine handed in by govern.db, or the URL in the config.

Each revision runs in its own transaction (`transaction_per_migration`; SQLite and PostgreSQL DDL are transactional),
so a failure leaves the database at the last complete revision. On SQLite, batch migrations copy a table, drop the old
one and rename the copy: with foreign keys enforced the DROP fails (or cascades), so, as Alembic documents, they are off
on the migration's connection (the PRAGMA only takes effect outside a transaction) and `PRAGMA foreign_key_check` runs
before each revision commits (govern.migrate.check_foreign_keys): a dangling row refuses the revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from govern.migrate import check_foreign_keys
from govern.model import Base
from govern.queries.search import is_search_object

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_pragma(connection: sa.Connection, statement: str) -> None:
    """A PRAGMA on the raw driver connection, outside any transaction (the engine's BEGIN is not emitted)."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                              compare_type=True, transaction_per_migration=True,
                              on_version_apply=[check_foreign_keys],
                              include_name=lambda name, kind, parents: not is_search_object(name))
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if sqlite:
                if connection.in_transaction():
                    connection.rollback()
                _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")  # the pool hands this connection out again


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
