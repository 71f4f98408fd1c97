"""The migration creates exactly the model's schema; the CLI and the first HTTP routes behave for users."""

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from govern.model import Base
from govern.queries.search import is_search_object

ROOT = Path(__file__).resolve().parents[2]


def test_migrations_create_the_schema_the_model_declares(migrated_db):
    with migrated_db.engine.connect() as conn:
        # the search machinery (FTS5 tables on SQLite, GIN expression indexes on PostgreSQL) is outside the model
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": lambda name, kind, parents: not is_search_object(name)})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_every_table_has_the_expected_foreign_keys(migrated_db):
    inspector = sa.inspect(migrated_db.engine)
    assert {"insight_step", "opportunity_journey", "audit_event", "outbox_message"} <= set(inspector.get_table_names())
    journey_fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("journey")}
    assert journey_fks == {"journey", "person", "step"}


def run_govern(tmp_path, *args, env=None):
    environment = {**os.environ, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance"), **(env or {})}
    environment.pop("GOVERN_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "govern.cli", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=environment, timeout=120)


def test_cli_apply_reports_every_error_with_exit_status_2(tmp_path):
    bad = tmp_path / "govern.yaml"
    bad.write_text("organisation: {name: X}\njourneys:\n  - {key: a, name: A, level: master, owner: ana}\n"
                   "people:\n  - {handle: Bob, name: Bob}\n")
    assert run_govern(tmp_path, "db", "upgrade").returncode == 0
    result = run_govern(tmp_path, "apply", str(bad))
    assert result.returncode == 2
    assert "journeys[0].owner: unknown person 'ana'" in result.stderr
    assert "people[0].handle:" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_govern(tmp_path, "apply", "--dry-run", str(ROOT / "examples/telecom/govern.yaml")).returncode == 0


def test_cli_audit_verify_exits_non_zero_on_tampering(tmp_path):
    assert run_govern(tmp_path, "apply", str(ROOT / "examples/telecom/govern.yaml")).returncode != 0  # no schema yet
    assert run_govern(tmp_path, "db", "upgrade").returncode == 0
    assert run_govern(tmp_path, "apply", str(ROOT / "examples/telecom/govern.yaml")).returncode == 0
    ok = run_govern(tmp_path, "audit", "verify")
    assert ok.returncode == 0 and "audit chain intact" in ok.stdout
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'instance' / 'govern.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET reason = 'x' WHERE id = 3"))
    broken = run_govern(tmp_path, "audit", "verify")
    assert broken.returncode == 6 and "broken at event 3" in broken.stderr


def test_healthz_reports_database_and_disabled_integrations(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"] == "ok"
    assert response.json["integrations"] == {"jira": "disabled", "slack": "disabled"}


def test_read_only_json_needs_a_caller_and_lists_journeys(example_client, example_db):
    assert example_client.get("/api/v1/journeys").status_code == 401
    with example_client.session_transaction() as web:
        from govern.model import Person

        with example_db.session_scope() as session:
            web["person_id"] = session.scalar(sa.select(Person.id).where(Person.handle == "priya"))
            web["session_version"] = session.scalar(sa.select(Person.session_version).where(
                Person.handle == "priya"))  # the session version a sign-in would record
    journeys = example_client.get("/api/v1/journeys").json
    assert journeys[0]["key"] == "being-a-customer" and journeys[0]["owner"]["handle"] == "ana"
    opp = example_client.get("/api/v1/opportunities/OPP-3").json
    assert opp["state"] == "implement" and opp["journeys"] == ["flagging-wrong-charges", "paying-my-bill"]
    missing = example_client.get("/api/v1/opportunities/OPP-99")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
