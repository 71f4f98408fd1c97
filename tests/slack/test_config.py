"""The `slack` section of govern.yaml is checked on apply, every problem named by its place."""

from __future__ import annotations

import pytest

from govern.errors import InvalidInput
from govern.integrations.slack.config import validate_slack_config


def test_the_example_organisations_section_is_valid():
    assert validate_slack_config({"command": "/journey", "council_channel": "cx-council"}) == {}
    assert validate_slack_config(None) == {}


def test_every_problem_is_named_by_its_place():
    errors = validate_slack_config({
        "command": "journey", "council_channel": "CX Council", "approvals": "pigeon", "ack_budget_ms": 5000,
        "notifications": {"cx-council": {"transitions": False, "agenda": "no"}, "#ok": "yes"}, "colour": "blue",
    })
    assert set(errors) == {"slack.command", "slack.council_channel", "slack.approvals", "slack.ack_budget_ms",
                           "slack.notifications.cx-council.transitions", "slack.notifications.cx-council.agenda",
                           "slack.notifications.#ok", "slack.colour"}
    assert "unknown kind" in errors["slack.notifications.cx-council.transitions"]


def test_apply_refuses_a_bad_slack_section(db, operator):
    from govern.orgfile.load import apply_text

    with db.session_scope() as s, pytest.raises(InvalidInput) as refused:
        apply_text(s, operator, "version: 1\norganisation: {name: X}\nslack: {approvals: pigeon}\n")
    assert "slack.approvals" in str(refused.value.details)
