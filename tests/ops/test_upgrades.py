"""Upgrades from every earlier revision, with data: a database made at the first revision and filled with a month of
use written in that revision's own SQL (people with passwords, a token, journeys with stages and steps, insights on
steps, opportunities with transitions and an approved request, a ritual with minutes and decisions, outbox rows, an audit
chain sealed the way revision 0001 sealed it), brought revision by revision to R, then from R to the newest revision.
Every row is still there, `govern audit verify` passes, the old password and token still work and the app serves.

The chain is read from Alembic's ScriptDirectory, so revisions added later are covered without editing this file. Each
starting revision prints its rows before and after and the seconds taken (through the terminal reporter, so the
figures show without `-s`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from werkzeug.security import generate_password_hash

from govern import audit, migrate
from govern.db import Database, alembic_config
from govern.db import upgrade as alembic_upgrade
from govern.passwords import hash_password
from tests.conftest import ON_POSTGRES, cli_invoker, make_config

pytestmark = pytest.mark.slow

FIRST = "0001"
PASSWORD_OLD_FORMAT = "pbkdf2-era-secret"  # a werkzeug pbkdf2 hash, as the first version stored
PASSWORD = "scrypt-era-secret"
TOKEN = "gov_" + "u" * 40
T0 = dt.datetime(2026, 1, 5, 9, 0, 0, 123456)


def _chain() -> list[str]:
    """Every revision, each after the revisions it depends on (base first)."""
    script = ScriptDirectory.from_config(alembic_config(Database("sqlite://")))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


CHAIN = _chain()
EARLIER = CHAIN[:-1]


def _t(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _old_hash(event: dict, prev_hash: str) -> str:
    """How revision 0001 sealed an event: header and payload itself (0008 re-seals over payload digests)."""
    body = {"id": event["id"], "at": event["at"].isoformat(timespec="microseconds"), "actor": event["actor"],
            "action": event["action"], "entity_type": event["entity_type"], "entity_id": event["entity_id"],
            "before": event["before"], "after": event["after"], "reason": event["reason"], "prev_hash": prev_hash}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


J = json.dumps


def _rows_0001() -> list[tuple[str, list[dict]]]:
    """Representative rows for revision 0001's schema, parents before children."""
    people = [
        dict(id=1, handle="lotte", name="Lotte Admin", email="lotte@example.org", slack_id="U1", title="Ops lead",
             department="CX", is_admin=True, active=True, password_hash=generate_password_hash(
                 PASSWORD_OLD_FORMAT, method="pbkdf2:sha256:1000"), created_at=_t(0)),
        dict(id=2, handle="ana", name="Ana Owner", email="ana@example.org", slack_id="U2", title="Journey owner",
             department="CX", is_admin=False, active=True, password_hash=hash_password(PASSWORD), created_at=_t(1)),
        dict(id=3, handle="marco", name="Marco Council", email=None, slack_id=None, title=None, department=None,
             is_admin=False, active=True, password_hash=None, created_at=_t(2)),
    ]
    rows: list[tuple[str, list[dict]]] = [
        ("person", people),
        ("persona", [dict(id=1, key="family", name="Family", description="A household", needs=J(["speed"]))]),
        ("setting", [dict(key="organisation", value=J({"name": "Upgrade Org"}), updated_at=_t(3))]),
        ("api_token", [dict(id=1, person_id=1, name="ci", prefix=TOKEN[:10],
                            token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(), created_at=_t(4),
                            last_used_at=None, revoked_at=None)]),
        ("journey", [dict(id=1, key="onboarding", name="Onboarding", level="journey", description="Getting started",
                          parent_id=None, parent_step_id=None, owner_id=2, slack_channel="#onboarding",
                          scoring_model=None, position=0, created_at=_t(5), updated_at=_t(5))]),
        ("stage", [dict(id=1, journey_id=1, key="sign_up", name="Sign up", position=0),
                   dict(id=2, journey_id=1, key="first_use", name="First use", position=1)]),
        ("step", [dict(id=1, journey_id=1, stage_id=1, key="form", name="Fill in the form", position=0,
                       touchpoint="web", channel="web", moment_that_matters=True, emotion_score=-1.5),
                  dict(id=2, journey_id=1, stage_id=2, key="activate", name="Activate", position=1,
                       touchpoint=None, channel="app", moment_that_matters=False, emotion_score=None)]),
        ("journey_persona", [dict(journey_id=1, persona_id=1)]),
        ("council_seat", [dict(id=1, person_id=3, role="council", journey_id=None),
                          dict(id=2, person_id=2, role="owner", journey_id=1)]),
        ("insight", [dict(id=i, number=i, text=f"Customers struggle, case {i}", source="interview",
                          kind="quote", observed_on=dt.date(2026, 1, i), created_by_id=2, created_at=_t(10 + i))
                     for i in (1, 2, 3)]),
        ("insight_step", [dict(insight_id=1, step_id=1), dict(insight_id=2, step_id=1),
                          dict(insight_id=3, step_id=2)]),
        ("opportunity", [
            dict(id=1, number=1, title="Shorter form", description="Fewer fields", lifecycle="default",
                 state="prioritise", state_reason="evidence enough", owner_id=2, created_by_id=2,
                 created_at=_t(20), updated_at=_t(30), state_changed_at=_t(30), version=3),
            dict(id=2, number=2, title="Activation nudges", description="", lifecycle="default", state="research",
                 state_reason=None, owner_id=2, created_by_id=1, created_at=_t(21), updated_at=_t(21),
                 state_changed_at=_t(21), version=1)]),
        ("opportunity_insight", [dict(opportunity_id=1, insight_id=1), dict(opportunity_id=1, insight_id=2)]),
        ("opportunity_journey", [dict(opportunity_id=1, journey_id=1), dict(opportunity_id=2, journey_id=1)]),
        ("approval_request", [dict(id=1, opportunity_id=1, trigger="prioritise", from_state="research",
                                   to_state="prioritise", requested_by_id=2, reason="three quotes", rule=J(
                                       {"approvers": ["council"], "min": 1}), status="approved",
                                   decided_reason="agreed", created_at=_t(25), decided_at=_t(29), version=2)]),
        ("approval_vote", [dict(id=1, request_id=1, person_id=3, decision="approve", reason="agreed",
                                capacity="council", at=_t(29))]),
        ("opportunity_transition", [
            dict(id=1, opportunity_id=1, trigger="create", from_state=None, to_state="research", actor_id=2,
                 reason=None, approval_request_id=None, at=_t(20)),
            dict(id=2, opportunity_id=1, trigger="prioritise", from_state="research", to_state="prioritise",
                 actor_id=2, reason="evidence enough", approval_request_id=1, at=_t(30)),
            dict(id=3, opportunity_id=2, trigger="create", from_state=None, to_state="research", actor_id=1,
                 reason=None, approval_request_id=None, at=_t(21))]),
        ("score_input", [dict(id=1, opportunity_id=1, name="reach", value=4.0, recorded_by_id=2,
                              recorded_at=_t(26))]),
        ("solution", [dict(id=1, opportunity_id=1, title="Two-field form", description="", state="planned",
                           due_on=dt.date(2026, 3, 1), external_key="CX-1", external_url="https://jira/CX-1",
                           external_status="To Do", external_updated_at=_t(31), synced_at=_t(31),
                           created_at=_t(31), updated_at=_t(31))]),
        ("ritual", [dict(id=1, key="weekly", name="Weekly council", purpose="Decide", cadence_kind="cron",
                         cadence="0 9 * * MON", timezone="Europe/Amsterdam", duration_minutes=30,
                         scope_kind="all", scope_journey_id=None, attendee_roles=J(["council"]),
                         attendee_people=J([]), slack_channel="#council", agenda_sections=J(["approvals"]),
                         agenda_lead_minutes=60, piggyback_on=None, settings=J({}), active=True)]),
        ("ritual_occurrence", [dict(id=1, ritual_id=1, scheduled_at=_t(60 * 24), status="held",
                                    agenda=J([{"text": "OPP-1 approval"}]), agenda_built_at=_t(60 * 23),
                                    agenda_posted_at=_t(60 * 23), notes="Minutes: agreed to prioritise OPP-1",
                                    held_at=_t(60 * 24), recorded_by_id=1, fired_by="scheduler-1")]),
        ("attendance", [dict(occurrence_id=1, person_id=3, present=True),
                        dict(occurrence_id=1, person_id=2, present=False)]),
        ("decision", [dict(id=1, occurrence_id=1, text="Prioritise OPP-1", opportunity_id=1,
                           approval_request_id=1, outcome="approved", decided_by_id=3, created_at=_t(60 * 24))]),
        ("follow_up", [dict(id=1, decision_id=1, occurrence_id=1, text="Ana drafts the form", owner_id=2,
                            due_on=dt.date(2026, 1, 20), done_at=None, created_at=_t(60 * 24))]),
        ("calendar_token", [dict(id=1, token_hash=hashlib.sha256(b"cal").hexdigest(), ritual_id=1, person_id=None,
                                 created_at=_t(40), revoked_at=None)]),
        ("kpi", [dict(id=1, key="nps", name="NPS", kind="survey", scale="nps", scale_min=-100.0, scale_max=100.0,
                      unit=None, direction="up", target=30.0, journey_id=1, step_id=None)]),
        ("kpi_measurement", [dict(id=1, kpi_id=1, value=12.0, measured_at=_t(50), source="survey",
                                  recorded_by_id=1, recorded_at=_t(50))]),
        ("opportunity_kpi", [dict(opportunity_id=1, kpi_id=1, baseline_value=12.0, baseline_at=_t(50),
                                  outcome_value=None, outcome_at=None, verdict=None)]),
        ("outbox_message", [
            dict(id=1, topic="slack", kind="approval.requested", payload=J({"request": 1}), dedupe_key="ar-1",
                 status="delivered", attempts=1, next_attempt_at=_t(25), last_error=None, external_ref="ts-1",
                 claimed_by=None, claimed_until=None, created_at=_t(25), delivered_at=_t(25)),
            dict(id=2, topic="jira", kind="solution.create", payload=J({"solution": 1}), dedupe_key="sol-1",
                 status="pending", attempts=2, next_attempt_at=_t(90), last_error="timeout", external_ref=None,
                 claimed_by=None, claimed_until=None, created_at=_t(31), delivered_at=None)]),
    ]
    events, prev = [], audit.GENESIS
    for i, (action, kind, ident, after) in enumerate([
            ("person.created", "person", "lotte", {"handle": "lotte"}),
            ("insight.created", "insight", "INS-1", {"text": "Customers struggle, case 1", "steps": ["form"]}),
            ("opportunity.created", "opportunity", "OPP-1", {"state": "research", "title": "Shorter form"}),
            ("approval.approved", "approval_request", "1", {"status": "approved", "votes": [{"marco": "approve"}]}),
            ("opportunity.transitioned", "opportunity", "OPP-1", {"state": "prioritise"}),
            ("ritual.minutes", "ritual_occurrence", "1", {"notes": "Minutes: agreed — ünïcode"}),
    ], start=1):
        event = dict(id=i, at=_t(20 + i), actor="ana" if i > 1 else "system:init", action=action, entity_type=kind,
                     entity_id=ident, before=None if i % 2 else {"state": "research"}, after=after,
                     reason="because" if i == 5 else None)
        event["prev_hash"], event["hash"] = prev, _old_hash(event, prev)
        prev = event["hash"]
        events.append({**event, "before": None if event["before"] is None else J(event["before"]),
                       "after": J(event["after"])})
    rows.append(("audit_event", events))
    return rows


def _insert(db: Database, rows) -> None:
    with db.engine.begin() as conn:
        for table, batch in rows:
            columns = list(batch[0])
            quoted = ", ".join(f'"{c}"' for c in columns)
            conn.execute(sa.text(f'INSERT INTO "{table}" ({quoted}) VALUES ({", ".join(":" + c for c in columns)})'),
                         batch)
        if db.is_postgres:  # rows were given their ids: the sequences continue after them
            for table, batch in rows:
                if "id" in batch[0]:
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                         f"(SELECT MAX(id) FROM \"{table}\"))"))


def _counts(db: Database) -> dict[str, int]:
    names = [n for n in sa.inspect(db.engine).get_table_names() if n != "alembic_version"]
    with db.engine.connect() as conn:
        return {n: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one() for n in names}


def _report(request, line: str) -> None:
    """Write past pytest's output capture, so the figure shows with or without `-s`."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover - plugins switched off
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _serves(db: Database, tmp_path: Path) -> None:
    from govern.app import create_app
    from govern.services.people import authenticate, person_for_token
    from tests.web.conftest import WebClient

    with db.session_scope() as session:
        assert authenticate(session, "lotte", PASSWORD_OLD_FORMAT).handle == "lotte"
        assert authenticate(session, "ana", PASSWORD).handle == "ana"
        assert person_for_token(session, TOKEN)[0].handle == "lotte"
    app = create_app(make_config(db, tmp_path), db=db)
    api = app.test_client()
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert me.status_code == 200, me.get_data(as_text=True)
    opportunities = api.get("/api/v1/opportunities", headers={"Authorization": f"Bearer {TOKEN}"})
    assert opportunities.status_code == 200, opportunities.get_data(as_text=True)
    web = WebClient(app.test_client())
    web.get("/login")
    signed_in = web.post("/login", {"handle": "ana", "password": PASSWORD})
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    page = web.get("/evidence")
    assert page.status_code == 200 and "Customers struggle, case 1" in page.get_data(as_text=True)


@pytest.mark.parametrize("start", EARLIER)
def test_a_database_with_data_upgrades_from_every_earlier_revision(start, fresh_url, tmp_path, request):
    db = Database(fresh_url)
    try:
        alembic_upgrade(db, FIRST)
        _insert(db, _rows_0001())
        at_first = _counts(db)
        migrate.upgrade(db, tmp_path / "instance", target=start, backup=False)
        assert db.current_revisions() == {start} or start in _ancestors_of_current(db, start)
        before = _counts(db)
        assert {t: before[t] for t in at_first} == at_first, f"rows lost on the way to {start}"
        began = time.perf_counter()
        result = migrate.upgrade(db, tmp_path / "instance")
        seconds = time.perf_counter() - began
        assert db.current_revisions() == db.head_revisions()
        if db.is_sqlite:
            assert result.backup is not None and result.backup.exists()
        after = _counts(db)
        assert {t: after[t] for t in before} == before, f"rows lost upgrading from {start}"
        with db.session_scope() as session:
            verified = audit.verify(session)
        assert verified.ok, verified
        assert verified.checked == len(dict(_rows_0001())["audit_event"])
        _serves(db, tmp_path)
        _report(request, f"upgrade {db.engine.dialect.name:<10} from {start:<22} rows {sum(before.values()):>4} "
                         f"before, {sum(after.values()):>4} after ({len(result.revisions)} revisions) "
                         f"in {seconds:.2f} s")
    finally:
        db.dispose()


def _ancestors_of_current(db: Database, start: str) -> set[str]:
    """The revisions applied (a branch point leaves more than one head: `start` is one of them or below them)."""
    script = ScriptDirectory.from_config(alembic_config(db))
    return {r.revision for r in script.iterate_revisions(tuple(db.current_revisions()), "base")}


def test_the_cli_upgrades_and_audit_verify_passes(fresh_url, tmp_path):
    db = Database(fresh_url)
    try:
        alembic_upgrade(db, FIRST)
        _insert(db, _rows_0001())
        govern = cli_invoker(db, tmp_path)
        result = govern("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert "schema at revision " + ", ".join(sorted(db.head_revisions())) in result.output
        if db.is_sqlite:
            assert "backup of the database before the upgrade: " in result.output
            assert list((tmp_path / "instance" / "backups").glob("govern-*-before-upgrade-from-0001.sqlite"))
        verified = govern("audit", "verify")
        assert verified.exit_code == 0 and "6 events verified" in verified.output, verified.output
    finally:
        db.dispose()


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL cannot hold a dangling row: its foreign keys are always checked")
def test_a_dangling_row_stops_the_upgrade_at_the_last_complete_revision_with_the_backup_named(fresh_url, tmp_path):
    db = Database(fresh_url)
    try:
        alembic_upgrade(db, FIRST)
        _insert(db, _rows_0001())
        middle = CHAIN[3]
        migrate.upgrade(db, tmp_path / "instance", target=middle, backup=False)
        raw = db.engine.raw_connection()
        try:  # as an old version could leave it: a link to an insight deleted with foreign keys off
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute("INSERT INTO insight_step (insight_id, step_id) VALUES (99, 1)")
            raw.execute("PRAGMA foreign_keys=ON")
        finally:
            raw.close()
        before = _counts(db)
        govern = cli_invoker(db, tmp_path)
        result = govern("db", "upgrade")
        assert result.exit_code == 1
        failed = CHAIN[4]
        text = " ".join(result.output.split())
        assert f"the upgrade stopped at revision {failed}" in text
        assert "insight_step row " in text and "insight_id=99 points at no insight" in text
        assert f"the database is at revision {middle}" in text
        backups = list((tmp_path / "instance" / "backups").glob("*.sqlite"))
        assert len(backups) == 1 and str(backups[0]) in text
        assert f"cp {backups[0]} " in text
        assert "Traceback" not in result.output and "init" not in text and "--reset" not in text
        assert db.current_revisions() == {middle}
        assert _counts(db) == before
    finally:
        db.dispose()


def test_every_revision_downgrades_to_the_one_before(fresh_url, tmp_path):
    """From the newest revision down to the first, one `govern db downgrade` at a time, with data in the tables."""
    db = Database(fresh_url)
    try:
        alembic_upgrade(db, FIRST)
        _insert(db, _rows_0001())
        govern = cli_invoker(db, tmp_path)
        assert govern("db", "upgrade").exit_code == 0
        seen = [frozenset(db.current_revisions())]
        while db.current_revisions() != {FIRST}:
            result = govern("db", "downgrade")
            assert result.exit_code == 0, result.output
            assert frozenset(db.current_revisions()) not in seen, "a downgrade did not move"
            seen.append(frozenset(db.current_revisions()))
        assert _counts(db)["insight_step"] == 3 and _counts(db)["audit_event"] == 6
        assert govern("db", "upgrade").exit_code == 0
        assert govern("audit", "verify").exit_code == 0
    finally:
        db.dispose()


def test_a_command_on_a_database_behind_the_code_says_to_run_db_upgrade_never_init(fresh_url, tmp_path):
    db = Database(fresh_url)
    try:
        alembic_upgrade(db, FIRST)
        _insert(db, _rows_0001())
        result = cli_invoker(db, tmp_path)("audit", "verify")  # reads audit_event.payload_digest, added later
        text = " ".join(result.output.split())
        assert result.exit_code == 1, result.output
        assert f"the database schema is at revision {FIRST} and this version needs" in text
        assert "run `govern db upgrade`" in text
        assert "init" not in text and "--reset" not in text and "Traceback" not in result.output
    finally:
        db.dispose()


def test_rows_written_before_the_search_revision_are_found_by_their_word_forms(fresh_url, tmp_path):
    from govern.model import Insight, Opportunity
    from govern.queries.search import text_clauses

    db = Database(fresh_url)
    try:
        alembic_upgrade(db, FIRST)
        _insert(db, _rows_0001())  # "Activation nudges", "Customers struggle, case 1" ... before 0014_search_stemming
        migrate.upgrade(db, tmp_path / "instance", backup=False)
        with db.engine.connect() as conn:
            def numbers(model, text):
                return sorted(conn.scalars(sa.select(model.number).where(*text_clauses(model, text))))

            assert numbers(Opportunity, "activating") == [2]
            assert numbers(Insight, "struggling") == [1, 2, 3]
            assert numbers(Opportunity, "shorter fields") == [1]  # title and description, every word
    finally:
        db.dispose()
