"""`govern jira check`: the Jira set-up is checked before the first push, every problem named with its fix."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from govern.integrations.cli import jira

from .conftest import set_mapping


@pytest.fixture
def env(db, standin, tmp_path):
    return {"GOVERN_DATABASE_URL": db.url, "GOVERN_INSTANCE_PATH": str(tmp_path), "GOVERN_SECRET_KEY": "x",
            "GOVERN_JIRA_URL": standin.base_url, "GOVERN_JIRA_USER": standin.user,
            "GOVERN_JIRA_TOKEN": standin.token, "GOVERN_JIRA_TIMEOUT": "2"}


def test_a_ready_jira_passes_the_check(db, standin, env):
    set_mapping(db)
    result = CliRunner().invoke(jira, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert f"Jira {standin.deployment}" in result.output and "project OPS exists" in result.output
    assert "issue type Epic exists and every field Jira requires on create is filled" in result.output
    assert result.output.rstrip().endswith("Jira is ready")


def test_a_required_epic_name_is_named_with_its_fix_until_it_is_mapped(db, standin, env):
    standin.require_field("Epic", "customfield_10011", "Epic Name is required.")  # Data Center's epics
    set_mapping(db)
    result = CliRunner().invoke(jira, ["check"], env=env)
    assert result.exit_code == 1
    assert "Epic in OPS requires Epic Name (customfield_10011), which we do not fill" in result.output
    assert "jira.extra_fields" in result.output and "Traceback" not in result.output
    set_mapping(db, extra_fields={"customfield_10011": "{title}"})
    assert CliRunner().invoke(jira, ["check"], env=env).exit_code == 0


def test_an_unknown_issue_type_or_project_is_named(db, standin, env):
    set_mapping(db, issue_types={"solution": "Initiative"})
    result = CliRunner().invoke(jira, ["check"], env=env)
    assert result.exit_code == 1 and "project OPS has no issue type 'Initiative' (it has: Epic, Story, Task)" in \
        result.output
    set_mapping(db, project="NOPE")
    result = CliRunner().invoke(jira, ["check"], env=env)
    assert result.exit_code == 1 and "no project 'NOPE'" in result.output


@pytest.mark.parametrize("standin", ["Server"], indirect=True)
def test_a_data_center_personal_access_token_is_sent_as_bearer(db, standin, env):
    set_mapping(db)
    env = dict(env, GOVERN_JIRA_USER="")
    result = CliRunner().invoke(jira, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert "a personal access token sent as Bearer" in result.output


@pytest.mark.parametrize("standin", ["Server"], indirect=True)
def test_wrong_credentials_are_a_clear_error(db, standin, env):
    set_mapping(db)
    result = CliRunner().invoke(jira, ["check"], env=dict(env, GOVERN_JIRA_TOKEN="wrong"))
    assert result.exit_code == 1 and "cannot use Jira" in result.output and "401" in result.output
