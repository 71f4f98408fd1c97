"""Backups taken while people work are snapshots: `govern export` reads every table in one snapshot (PostgreSQL
REPEATABLE READ, SQLite one read transaction), so a file exported under concurrent transitions and evidence writes
imports into a fresh database and verifies; `govern import` refuses a file that is not a state a database could be in
(a reference to a missing row, a broken audit chain, an opportunity whose state is not its last transition's), naming
what, exit 2 and nothing written; `govern backup` copies the embedded SQLite database online."""

from __future__ import annotations

import copy
import json
import sqlite3
import threading

import pytest
import sqlalchemy as sa

from govern import audit
from govern.db import Database
from govern.errors import Conflict
from govern.model import Insight, Opportunity, Step
from govern.policy import Actor
from govern.services.evidence import record_evidence
from govern.services.portability import export_data, import_data
from govern.workflows.services import request_transition
from tests.conftest import cli_invoker


class Writer(threading.Thread):
    """People working: evidence recorded on a step and opportunities parked and resumed, one commit each."""

    def __init__(self, url: str, step: str, opportunities: list[int]):
        super().__init__(daemon=True)
        self.db = Database(url)
        self.step, self.opportunities = step, opportunities
        self.stop = threading.Event()
        self.writes, self.errors = 0, []

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                with self.db.session_scope() as s:
                    record_evidence(s, Actor.system_actor("writer"), text=f"Said during the backup {n}",
                                    source="interview", kind="quote", steps=[self.step])
                oid = self.opportunities[n % len(self.opportunities)]
                with self.db.session_scope() as s:
                    state = s.get(Opportunity, oid).state
                    try:
                        request_transition(s, Actor.system_actor("writer"), oid,
                                           "park" if state == "research" else "resume", reason="backup test")
                    except Conflict:
                        pass  # a guard or a pending request: another try next round
                self.writes += 1
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))
        finally:
            self.db.dispose()


def _writer_for(db: Database) -> Writer:
    with db.session_scope() as s:
        step = s.execute(sa.select(Step).limit(1)).scalar_one()
        ref = f"{step.journey.key}/{step.key}"
        opps = s.scalars(sa.select(Opportunity.id).where(Opportunity.state == "research").limit(5)).all()
    assert opps
    return Writer(db.url, ref, list(opps))


def test_an_export_taken_under_concurrent_writes_imports_and_verifies(example_db, operator, fresh_url):
    writer = _writer_for(example_db)
    writer.start()
    exports = []
    try:
        for _ in range(3):
            with example_db.session_scope() as s:
                exports.append(export_data(s, operator))
            assert writer.errors == []
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.errors == [] and writer.writes > 0
    target = Database(fresh_url)
    try:
        target.upgrade()
        for data in exports:
            _clear(target)
            with target.session_scope() as s:
                import_data(s, operator, data)  # checks references, audit chain and states first
            with target.session_scope() as s:
                assert audit.verify(s).ok
                assert s.scalar(sa.select(sa.func.count()).select_from(Insight)) == len(data["tables"]["insight"])
                for opp in data["tables"]["opportunity"]:
                    assert s.get(Opportunity, opp["id"]).state == opp["state"]
    finally:
        target.dispose()


def _clear(db: Database) -> None:
    from tests.conftest import clear_tables

    clear_tables(db)


def _export(example_db, operator) -> dict:
    with example_db.session_scope() as s:
        return export_data(s, operator)


@pytest.mark.parametrize("breakage, named", [
    ("insight_step_without_insight", "insight_step (insight_id="),
    ("edited_audit_payload", "the audit chain is broken at event 3: its content does not match its hash"),
    ("missing_audit_event", "the audit chain is broken at event"),
    ("state_not_last_transition", "but its last transition (id"),
])
def test_a_hand_broken_export_is_refused_naming_the_problem(example_db, operator, tmp_path, breakage, named):
    data = copy.deepcopy(_export(example_db, operator))
    tables = data["tables"]
    if breakage == "insight_step_without_insight":
        linked = tables["insight_step"][0]["insight_id"]
        tables["insight"] = [row for row in tables["insight"] if row["id"] != linked]
    elif breakage == "edited_audit_payload":
        tables["audit_event"][2]["reason"] = "edited afterwards"
    elif breakage == "missing_audit_event":
        del tables["audit_event"][len(tables["audit_event"]) // 2]
    else:
        moved = {t["opportunity_id"] for t in tables["opportunity_transition"]}
        opp = next(o for o in tables["opportunity"] if o["id"] in moved)
        opp["state"] = "rejected" if opp["state"] != "rejected" else "done"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    from tests.conftest import clear_tables

    clear_tables(example_db)
    result = cli_invoker(example_db, tmp_path)("import", str(broken))
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "the export is not consistent, nothing was imported" in text and named in text, text
    assert "Traceback" not in result.output
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Opportunity)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(Insight)) == 0


def test_govern_backup_copies_the_embedded_database_online(example_db, tmp_path):
    govern = cli_invoker(example_db, tmp_path)
    target = tmp_path / "copy.sqlite"
    result = govern("backup", str(target))
    if example_db.is_postgres:
        assert result.exit_code == 2 and "pg_dump --format=custom" in result.output
        return
    assert result.exit_code == 0, result.output
    assert f"backed up the database to {target}" in result.output
    assert (target.stat().st_mode & 0o777) == 0o600
    copied = sqlite3.connect(target)
    try:
        assert copied.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        with example_db.session_scope() as s:
            assert copied.execute("SELECT COUNT(*) FROM opportunity").fetchone()[0] == \
                s.scalar(sa.select(sa.func.count()).select_from(Opportunity))
    finally:
        copied.close()
    again = govern("backup", str(target))
    assert again.exit_code == 2 and "exists already" in again.output
    default = govern("backup")
    assert default.exit_code == 0 and list((tmp_path / "instance" / "backups").glob("govern-*-backup.sqlite"))
