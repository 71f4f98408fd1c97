"""The audit chain catches tampering; export → import → export is byte-identical."""

import io

import pytest
import sqlalchemy as sa

from govern import audit
from govern.errors import RefusedChange
from govern.model import AuditEvent
from govern.services.portability import dump, export_data, import_data
from tests.conftest import clear_tables


def test_example_history_verifies(example_db):
    with example_db.session_scope() as session:
        result = audit.verify(session)
    assert result.ok and result.checked > 100


def test_an_edited_event_is_caught_and_named(example_db):
    with example_db.session_scope() as session:
        target = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "evidence.recorded").limit(1))
        session.execute(sa.update(AuditEvent).where(AuditEvent.id == target.id).values(actor="mallory"))
        session.commit()
        result = audit.verify(session)
    assert not result.ok
    assert result.first_broken_id == target.id
    assert "edited" in result.problem


def test_a_deleted_event_is_caught(example_db):
    with example_db.session_scope() as session:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.id == 10))
        session.commit()
        result = audit.verify(session)
    assert not result.ok and result.first_broken_id == 11 and "missing" in result.problem


def test_a_rewritten_chain_tail_is_caught(example_db):
    """Recomputing one event's own hash does not help: the next event no longer links to it."""
    with example_db.session_scope() as session:
        event = session.get(AuditEvent, 5)
        event.reason = "nothing to see"
        event.hash = audit._digest(event)
        session.commit()
        result = audit.verify(session)
    assert not result.ok and result.first_broken_id == 6 and "link" in result.problem


def _export_text(db, operator) -> str:
    out = io.StringIO()
    with db.session_scope() as session:
        dump(export_data(session, operator), out)
    return out.getvalue()


def test_export_import_export_is_byte_identical(example_db, operator):
    first = _export_text(example_db, operator)
    import json

    clear_tables(example_db)
    with example_db.session_scope() as session:
        counts = import_data(session, operator, json.loads(first))
    assert counts["insight"] == 30 and counts["opportunity"] == 12
    assert _export_text(example_db, operator) == first
    with example_db.session_scope() as session:
        assert audit.verify(session).ok


def test_import_into_a_database_with_data_is_refused(example_db, operator):
    with example_db.session_scope() as session:
        data = export_data(session, operator)
        with pytest.raises(RefusedChange):
            import_data(session, operator, data)
