"""Adoption is scoped to the configured project and to this installation: production and staging on one Jira site
both have a SOL-1, and neither ever adopts (or takes status from) the other's backlog items."""

from __future__ import annotations

import pytest

from govern.bootstrap import bootstrap
from govern.db import Database
from govern.integrations.jira.adapter import JiraAdapter
from govern.integrations.jira.pull import pull
from govern.integrations.jira.push import JiraDeliverer, our_label
from govern.integrations.worker import OutboxWorker, RetryPolicy

from .conftest import add_opportunity, server_only, set_mapping, solutions


@pytest.fixture
def staging(tmp_path):
    db = bootstrap(Database(f"sqlite:///{tmp_path / 'staging.db'}"))
    db.upgrade()
    yield db
    db.dispose()


def _worker(db, standin):
    adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
    return OutboxWorker(db, [JiraDeliverer(db, adapter)], name="w", policy=RetryPolicy(base_seconds=0)), adapter


@server_only
def test_two_installations_on_one_jira_never_adopt_each_others_issues(db, staging, standin):
    production = db
    for each in (production, staging):
        set_mapping(each)
        add_opportunity(each, 2)  # both have SOL-1 and SOL-2
    assert our_label(production) != our_label(staging)
    prod_worker, prod_adapter = _worker(production, standin)
    prod_worker.drain()
    # Staging's first attempt fails before Jira applies anything; its retry looks up by label before creating.
    stage_worker, stage_adapter = _worker(staging, standin)
    standin.set_faults(script=["ok", "ok", "500"])
    stage_worker.drain()
    stage_worker.drain()
    prod_keys = {s.id: s.external_key for s in solutions(production)}
    stage_keys = {s.id: s.external_key for s in solutions(staging)}
    assert all(stage_keys.values()) and not set(prod_keys.values()) & set(stage_keys.values())
    assert len(standin.issues_with_label("govern-sol-1")) == 2
    for key in prod_keys.values():
        assert our_label(production) in standin.issues[key].labels
    # Production's items move in Jira; staging's pull takes nothing from them.
    for key in prod_keys.values():
        standin.move_issue(key, "Done")
    report = pull(staging, stage_adapter)
    assert report.updated == 0 and report.unknown == 2
    assert {s.state for s in solutions(staging)} == {"todo"}
    assert pull(production, prod_adapter).updated == 2


def test_adoption_looks_only_in_the_configured_project(db):
    from tests.standins.jira import JiraStandIn

    with JiraStandIn("Server", projects=("OPS", "STAGE")) as standin:
        set_mapping(db, project="STAGE")
        add_opportunity(db, 1)
        worker, _ = _worker(db, standin)
        worker.drain()
        solution = solutions(db)[0]
        assert solution.external_key.startswith("STAGE-")
        deliverer = worker.deliverers[0]
        assert deliverer.find_existing([solution.id], project="OPS") == {}
        assert deliverer.find_existing([solution.id], project="STAGE") == {solution.id: (solution.external_key,
                                                                                         "To Do")}
