"""`govern evidence triage | link | edit | delete | merge` against the example organisation (click's runner, the real
database): what they print, and bad input named with exit code 2 (3 unknown, 4 not allowed, 5 refused)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from govern.model import Insight
from govern.services.evidence import record_evidence

from tests.conftest import actor, cli_invoker


@pytest.fixture
def govern(example_db, tmp_path):
    return cli_invoker(example_db, tmp_path)


def _waiting(example_db, text="My number transfer has been pending for days", who="lotte") -> str:
    with example_db.session_scope() as s:
        return record_evidence(s, actor(s, who), text=text, source="Zendesk ticket 77", kind="ticket").key


def test_triage_prints_suggested_steps_and_link_takes_one(govern, example_db):
    key = _waiting(example_db)
    shown = govern("evidence", "triage", "--as", "lotte")
    assert shown.exit_code == 0, shown.output
    assert key in shown.output and "suggestion: switching-providers/port-number" in shown.output
    linked = govern("evidence", "link", key, "switching-providers/port-number", "--as", "lotte")
    assert linked.exit_code == 0, linked.output
    assert key not in govern("evidence", "triage", "--as", "lotte").output


def test_edit_merge_and_delete(govern, example_db):
    a, b = _waiting(example_db), _waiting(example_db, "My number transfer has been pending for days!")
    edited = govern("evidence", "edit", a, "--volume", "12", "--tags", "porting,delay", "--sentiment", "-1",
                    "--as", "lotte")
    assert edited.exit_code == 0, edited.output
    merged = govern("evidence", "merge", a, "--into", b, "--as", "lotte")
    assert merged.exit_code == 0 and "volume now 13" in merged.output, merged.output
    deleted = govern("evidence", "delete", b, "--reason", "test ticket", "--as", "lotte")
    assert deleted.exit_code == 5, deleted.output  # b is the survivor of a merged duplicate
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(Insight).where(Insight.number == int(a.split("-")[1]))).merged_into_id


def test_bad_input_is_named_with_the_right_exit_code(govern, example_db):
    key = _waiting(example_db)
    assert govern("evidence", "edit", key, "--as", "lotte").exit_code == 2  # nothing to change
    bad = govern("evidence", "edit", key, "--volume", "many", "--as", "lotte")
    assert bad.exit_code == 2 and "volume" in bad.output
    assert govern("evidence", "merge", key, "--into", key, "--as", "lotte").exit_code == 2
    assert govern("evidence", "merge", "INS-9999", "--into", key, "--as", "lotte").exit_code == 3
    assert govern("evidence", "delete", key, "--reason", "x", "--as", "tom").exit_code == 4
    refused = govern("evidence", "delete", "INS-22", "--reason", "x", "--as", "marco")
    assert refused.exit_code == 5 and "only evidence of OPP-" in refused.output
    assert govern("evidence", "triage", "--page", "0", "--as", "lotte").exit_code == 2
    assert "Traceback" not in bad.output
