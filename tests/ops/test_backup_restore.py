"""Backup and restore: `govern export` is lossless and holds credential hashes; `--without-credentials` leaves every
one of them out and still imports into an empty database with an intact audit chain."""

from __future__ import annotations

import json

import sqlalchemy as sa

from govern import audit
from govern.model import ApiToken, Base, Person
from govern.services.portability import CREDENTIALS, OPERATIONAL_TABLES, export_data, import_data
from tests.conftest import clear_tables, cli_invoker

# Columns that look like credentials but are not: the audit chain's own hashes, an imported record's content hash.
NOT_CREDENTIALS = {("audit_event", "hash"), ("audit_event", "prev_hash"), ("person", "password_reset_required"),
                   ("insight", "content_hash")}


def test_every_column_that_holds_a_credential_is_left_out_by_an_export_without_credentials():
    suspicious = {(t.name, c.name) for t in Base.metadata.sorted_tables for c in t.columns
                  if any(word in c.name for word in ("hash", "token", "secret", "password"))
                  and t.name not in OPERATIONAL_TABLES} - NOT_CREDENTIALS
    covered = {(table, column) for (table, column) in suspicious
               if table in CREDENTIALS and (CREDENTIALS[table] is None or column in CREDENTIALS[table])}
    assert suspicious - covered == set(), "add these to govern.services.portability.CREDENTIALS"


def test_export_without_credentials_restores_everything_else(example_db, operator, tmp_path):
    govern = cli_invoker(example_db, tmp_path)
    created = govern("token", "create", "--as", "lotte", "backup test")
    assert created.exit_code == 0, created.output
    full, bare = tmp_path / "full.json", tmp_path / "bare.json"
    result = govern("export", "--out", str(full))
    assert result.exit_code == 0 and "holds password and token hashes" in result.output
    assert govern("export", "--without-credentials", "--out", str(bare)).exit_code == 0
    with_secrets, without = json.loads(full.read_text()), json.loads(bare.read_text())
    assert any(p["password_hash"] for p in with_secrets["tables"]["person"])
    assert with_secrets["tables"]["api_token"]
    assert without["without_credentials"] is True
    assert all(p["password_hash"] is None for p in without["tables"]["person"])
    assert without["tables"]["api_token"] == [] and without["tables"]["calendar_token"] == []
    assert "scheduler_instance" not in without["tables"]
    bare_text = bare.read_text()
    assert not any(p["password_hash"] in bare_text for p in with_secrets["tables"]["person"] if p["password_hash"])
    assert not any(t["token_hash"] in bare_text for t in with_secrets["tables"]["api_token"])

    clear_tables(example_db)
    with example_db.session_scope() as session:
        counts = import_data(session, operator, without)
        assert counts["person"] == len(without["tables"]["person"])
        assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0
        assert session.scalar(sa.select(sa.func.count()).where(Person.password_hash.is_not(None))) == 0
        assert audit.verify(session).ok
        again = export_data(session, operator, credentials=False)
    assert again["tables"] == without["tables"]
