"""The CLI: `govern jira sync [--dry-run]`, `govern outbox list|retry`, `govern worker --once`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from govern.integrations.cli import jira, outbox, worker

from .conftest import add_opportunity, outbox_rows, server_only, set_mapping, solutions


@pytest.fixture
def env(db, standin, tmp_path):
    return {"GOVERN_DATABASE_URL": db.url, "GOVERN_INSTANCE_PATH": str(tmp_path), "GOVERN_SECRET_KEY": "x",
            "GOVERN_JIRA_URL": standin.base_url, "GOVERN_JIRA_USER": standin.user,
            "GOVERN_JIRA_TOKEN": standin.token, "GOVERN_JIRA_TIMEOUT": "2"}


def test_sync_pushes_and_pulls_with_a_summary(db, standin, env):
    set_mapping(db)
    add_opportunity(db, 3)
    runner = CliRunner()
    result = runner.invoke(jira, ["sync"], env=env)
    assert result.exit_code == 0, result.output
    assert "created: 3  updated: 0  failed: 0  unchanged: 3" in result.output
    assert len(standin.issues) == 3
    key = solutions(db)[0].external_key
    standin.move_issue(key, "Done")
    result = runner.invoke(jira, ["sync"], env=env)
    assert "created: 0  updated: 1  failed: 0  unchanged: 2" in result.output, result.output


@server_only
def test_dry_run_writes_nothing(db, standin, env):
    set_mapping(db)
    add_opportunity(db, 2)
    result = CliRunner().invoke(jira, ["sync", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and result.output.count("would create: SOL-") == 2
    assert standin.issues == {}
    assert {m.status for m in outbox_rows(db)} == {"pending"}


def test_sync_without_jira_configured_says_how_to_configure_it(db, tmp_path):
    result = CliRunner().invoke(jira, ["sync"], env={"GOVERN_DATABASE_URL": db.url, "GOVERN_JIRA_URL": "",
                                                     "GOVERN_JIRA_TOKEN": "", "GOVERN_INSTANCE_PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert "GOVERN_JIRA_URL" in result.output


@server_only
def test_failed_messages_are_listed_with_jiras_error_and_retried_by_hand(db, standin, env):
    standin.require_field("Epic", "customfield_10011", "Epic Name is required.")
    set_mapping(db)
    add_opportunity(db, 1)
    runner = CliRunner()
    result = runner.invoke(jira, ["sync"], env=env)
    assert "failed: 1" in result.output and "Epic Name is required." in result.output
    listed = runner.invoke(outbox, ["list", "--status", "dead"], env=env)
    assert "create_issue" in listed.output and "Epic Name is required." in listed.output
    message_id = outbox_rows(db)[0].id
    set_mapping(db, extra_fields={"customfield_10011": "{title}"})
    retried = runner.invoke(outbox, ["retry", str(message_id)], env=env)
    assert retried.exit_code == 0 and "pending again" in retried.output
    again = runner.invoke(outbox, ["retry", str(message_id)], env=env)
    assert again.exit_code == 5 and "only dead messages" in again.output
    result = runner.invoke(worker, ["--once"], env=env)
    assert result.exit_code == 0, result.output
    assert outbox_rows(db)[0].status == "delivered" and len(standin.issues) == 1


@server_only
def test_retrying_an_unknown_message_is_a_clear_error(db, env):
    result = CliRunner().invoke(outbox, ["retry", "999"], env=env)
    assert result.exit_code == 3 and "no outbox message 999" in result.output


@server_only
def test_outbox_retry_takes_every_dead_message_of_a_topic_or_since_a_time(db, standin, env):
    standin.require_field("Epic", "customfield_10011", "Epic Name is required.")
    set_mapping(db)
    add_opportunity(db, 3)
    runner = CliRunner()
    runner.invoke(worker, ["--once"], env=env)
    assert {m.status for m in outbox_rows(db)} == {"dead"}
    nothing = runner.invoke(outbox, ["retry"], env=env)
    assert nothing.exit_code == 2 and "--all, --topic TOPIC or --since WHEN" in nothing.output
    bad = runner.invoke(outbox, ["retry", "--since", "last tuesday"], env=env)
    assert bad.exit_code != 0 and "--since must be" in bad.output and "Traceback" not in bad.output
    none_yet = runner.invoke(outbox, ["retry", "--topic", "slack"], env=env)
    assert none_yet.exit_code == 0 and none_yet.output.startswith("0 dead messages of topic slack")
    set_mapping(db, extra_fields={"customfield_10011": "{title}"})
    retried = runner.invoke(outbox, ["retry", "--topic", "jira", "--since", "1h"], env=env)
    assert retried.exit_code == 0 and "3 dead messages of topic jira since 1h pending again" in retried.output
    runner.invoke(worker, ["--once"], env=env)
    assert {m.status for m in outbox_rows(db)} == {"delivered"} and len(standin.issues) == 3
    assert runner.invoke(outbox, ["retry", "--all"], env=env).output.startswith("0 dead messages")
