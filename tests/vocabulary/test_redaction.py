"""Redaction: an insight's personal data is erased here and in the audit log while `govern audit verify` holds; a
retention setting erases old evidence; the upgrade re-seals an existing chain under the digest rule."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from govern import audit
from govern.bootstrap import bootstrap
from govern.db import Database
from govern.errors import PermissionDenied
from govern.model import AuditEvent, Insight
from govern.policy import Actor
from govern.services.common import load_actor, put_setting
from govern.services.evidence import apply_retention, record_evidence, redact_evidence
from tests.api.conftest import ApiClient

SECRET = "Mrs J. Example (NHS 943 476 5919) waited nine hours in A&E"


def test_erased_text_leaves_the_audit_log_and_the_chain_verifies(example_db):
    with example_db.session_scope() as s:
        insight = record_evidence(s, load_actor(s, "lotte"), text=SECRET, source="complaint #77", kind="other",
                                  steps=["switching-providers/port-number"])
        with pytest.raises(PermissionDenied):
            redact_evidence(s, load_actor(s, "lotte"), insight.key, reason="patient asked")
        redact_evidence(s, load_actor(s, "marco"), insight.key, reason="patient asked")
        assert (insight.text, insight.source, insight.redacted_by_id is not None) == ("[erased]", "[erased]", True)
        dumped = json.dumps([[e.before, e.after, e.reason] for e in s.scalars(sa.select(AuditEvent))])
        assert "943 476 5919" not in dumped and "complaint #77" not in dumped
        erasure = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == audit.REDACTION_ACTION)).one()
        assert erasure.reason == "patient asked" and erasure.after["audit_events"]
        result = audit.verify(s)
        assert result.ok, result


def test_an_erasure_no_redaction_event_explains_is_caught(example_db):
    with example_db.session_scope() as s:
        audit.erase_payloads(s, [7], dt.datetime(2026, 11, 27))
        s.commit()
        result = audit.verify(s)
    assert not result.ok and result.first_broken_id == 7 and "no recorded redaction" in result.problem


def test_an_edited_payload_is_still_caught(example_db):
    with example_db.session_scope() as s:
        s.get(AuditEvent, 5).reason = "nothing to see"
        s.commit()
        result = audit.verify(s)
    assert not result.ok and result.first_broken_id == 5


def test_redaction_through_the_api(example_app, example_db):
    api = ApiClient(example_app, example_db)
    made = api.post("/insights", as_="lotte", json={"text": SECRET, "source": "complaint", "kind": "other",
                                                     "steps": ["switching-providers/port-number"]})
    key = made.json["key"]
    assert api.post(f"/insights/{key}/redaction", as_="lotte", json={"reason": "asked"}).status_code == 403
    erased = api.post(f"/insights/{key}/redaction", as_="ana", json={"reason": "asked"})
    assert erased.status_code == 200 and erased.json["text"] == "[erased]" and erased.json["redacted_at"]
    again = api.post(f"/insights/{key}/redaction", as_="ana", json={"reason": "asked"})
    assert again.status_code == 409


def test_retention_erases_evidence_older_than_the_setting(example_db):
    with example_db.session_scope() as s:
        put_setting(s, "evidence", {"retention_days": 30})
        s.commit()
        operator = Actor.system_actor("retention")
        due = apply_retention(s, operator, today=dt.date(2027, 6, 1), dry_run=True)
        assert due and all(i.redacted_at is None for i in s.scalars(sa.select(Insight)))
        assert apply_retention(s, operator, today=dt.date(2027, 6, 1)) == due
        assert {i.text for i in s.scalars(sa.select(Insight))} == {"[erased]"}
        assert audit.verify(s).ok


# --- the upgrade re-seals an existing chain ---------------------------------------------------------------------------


def _old_rule(row: dict, prev: str) -> str:
    body = {**row, "prev_hash": prev}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


def test_the_upgrade_reseals_a_chain_written_under_the_old_rule_and_refuses_a_broken_one(tmp_path):
    db = bootstrap(Database(f"sqlite:///{tmp_path / 'old.db'}"))
    db.upgrade("0009_notifications")
    events = sa.table("audit_event", *(sa.column(c) for c in (
        "id", "at", "actor", "action", "entity_type", "entity_id", "before", "after", "reason", "prev_hash", "hash")))
    prev = "0" * 64
    with db.engine.begin() as conn:
        for n in (1, 2, 3):
            at = dt.datetime(2026, 1, n, 9, 30)
            row = {"id": n, "at": at.isoformat(timespec="microseconds"), "actor": "ana", "action": "config.add",
                   "entity_type": "person", "entity_id": f"p{n}", "before": None, "after": {"name": f"P {n}"},
                   "reason": "govern apply"}
            digest = _old_rule(row, prev)
            conn.execute(events.insert().values(**{**row, "at": at, "before": None, "after": json.dumps(row["after"]),
                                                   "prev_hash": prev, "hash": digest}))
            prev = digest
    db.upgrade()
    with db.session_scope() as s:
        assert audit.verify(s).ok and audit.verify(s).checked == 3
        assert all(e.payload_digest for e in s.scalars(sa.select(AuditEvent)))
    db.engine.dispose()

    broken = bootstrap(Database(f"sqlite:///{tmp_path / 'broken.db'}"))
    broken.upgrade("0009_notifications")
    with broken.engine.begin() as conn:
        conn.execute(events.insert().values(id=1, at=dt.datetime(2026, 1, 1), actor="ana", action="x",
                                            entity_type="t", entity_id="1", before=None, after=None, reason=None,
                                            prev_hash="0" * 64, hash="f" * 64))
    with pytest.raises(RuntimeError, match="event 1 does not match its hash"):
        broken.upgrade()
    broken.engine.dispose()
