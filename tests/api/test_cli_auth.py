"""`govern token …` and `govern user set-password`: a token made on the command line works against the API."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from govern.cli.root import cli
from govern.services.people import authenticate

from .conftest import assert_error


@pytest.fixture
def govern(example_db, tmp_path):
    runner = CliRunner()
    env = {"GOVERN_DATABASE_URL": example_db.url, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance"),
           "GOVERN_SECRET_KEY": "cli-test"}

    def run(*args, input=None):
        return runner.invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return run


def test_a_token_created_on_the_command_line_is_shown_once_and_works(govern, api):
    result = govern("token", "create", "--as", "lotte", "curl session")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("gov_")
    assert "not shown again" in result.stderr
    me = api.get("/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.get_json()["handle"] == "lotte"

    listed = govern("token", "list", "--as", "lotte")
    assert "curl session" in listed.output and secret[:10] in listed.output and secret not in listed.output
    assert "never" not in listed.output.splitlines()[1]  # used once by the call above
    everyone = govern("token", "list")
    assert "lotte" in everyone.output

    token_id = listed.output.splitlines()[1].split()[0]
    assert govern("token", "revoke", token_id, "--as", "priya").exit_code == 3  # not hers: unknown to her
    revoked = govern("token", "revoke", token_id, "--as", "lotte")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert_error(api.get("/me", headers={"Authorization": f"Bearer {secret}"}), 401)


def test_a_token_needs_a_person(govern):
    result = govern("token", "create", "laptop")
    assert result.exit_code == 2 and "--as HANDLE" in result.output


def test_set_password_from_the_command_line(govern, example_db):
    result = govern("user", "set-password", "priya", "--password-stdin", input="a much better one\n")
    assert result.exit_code == 0, result.output
    with example_db.session_scope() as s:
        assert authenticate(s, "priya", "a much better one").handle == "priya"
    refused = govern("user", "set-password", "ana", "--as", "priya", "--password-stdin", input="takeover123\n")
    assert refused.exit_code == 4 and "may not" in refused.output
    short = govern("user", "set-password", "priya", "--password-stdin", input="short\n")
    assert short.exit_code == 2
