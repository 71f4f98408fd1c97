"""Fixtures for operations tests: a database of a test's own (upgrades, restores)."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import ON_POSTGRES, PG_ADMIN_URL


@pytest.fixture
def fresh_url(tmp_path):
    """A database of this test's own, empty: a SQLite file, or a new PostgreSQL database dropped after."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'govern.db'}"
        return
    name = f"govern_ops_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()
