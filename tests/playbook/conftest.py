"""Fixtures for the playbook: the example organisation's playbook at a fixed moment, in both formats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from govern.playbook import build
from govern.playbook.data import collect

AS_OF = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone.utc)
EXAMPLE_YAML = Path(__file__).resolve().parents[2] / "examples" / "telecom" / "govern.yaml"


@pytest.fixture
def example_config() -> dict:
    return yaml.safe_load(EXAMPLE_YAML.read_text(encoding="utf-8"))


def make_playbook(db, as_of=AS_OF, **kwargs):
    with db.session_scope() as session:
        return collect(session, as_of=as_of, **kwargs)


@pytest.fixture
def example_playbook(example_db):
    return make_playbook(example_db)


@pytest.fixture
def markdown_files(example_playbook) -> dict[str, str]:
    return {path: data.decode("utf-8") for path, data in build.build(example_playbook, "md").items()}


@pytest.fixture
def html_files(example_playbook) -> dict[str, bytes]:
    return build.build(example_playbook, "html")
