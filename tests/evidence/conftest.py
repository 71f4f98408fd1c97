"""Shared pieces of the evidence intake tests: the help desk export fixture and readers of what an import wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from govern.model import AuditEvent, Insight
# The Slack fixtures, defined once for the whole folder (the web fixtures are registered for the whole suite in
# tests/conftest.py).
from tests.slack.conftest import (  # noqa: F401
    running_standin, shared_slack_app, slack, slack_app, slack_client, slack_standin, workspace,
)


FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPORT = FIXTURES / "helpdesk-export.csv"


@pytest.fixture
def export_file(tmp_path) -> Path:
    """A copy of the realistic export (semicolons, BOM, quoted newlines, dd.mm.yyyy, a duplicate row, a row no step
    rule matches, personal data in a text, a 31.02 date), to change per test."""
    copy = tmp_path / "helpdesk-export.csv"
    copy.write_bytes(EXPORT.read_bytes())
    return copy


def imported(session, source: str = "zendesk") -> dict[str, Insight]:
    """The insights of a source by external id."""
    return {i.external_id: i for i in session.scalars(sa.select(Insight).where(Insight.source_key == source))}


def audit_count(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


SECRET = "whsec-test-zendesk"


@pytest.fixture
def intake_app(example_db, tmp_path):
    """The example organisation's app, with the zendesk source's webhook secret in its environment."""
    from govern.app import create_app
    from tests.conftest import make_config

    return create_app(make_config(example_db, tmp_path, intake_secrets={"GOVERN_ZENDESK_SECRET": SECRET}),
                      db=example_db)


@pytest.fixture
def api(intake_app, example_db):
    from tests.api.conftest import ApiClient

    return ApiClient(intake_app, example_db)
