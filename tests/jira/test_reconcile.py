"""Reconciliation: every solution that should be in Jira gets there without an event or a person (solutions of an
opportunity already in implement, solutions added during implement), decided by what the lifecycle says a state
means; the reconciler is leader-elected and pulls on its own cadence; `govern jira sync` reconciles once and waits out
rate limits and outages."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from govern.integrations.cli import jira
from govern.integrations.jira.reconcile import JiraReconciler
from govern.model import Opportunity, OutboxMessage
from govern.policy import Actor
from govern.rituals.scheduler import FileLeaderLock
from govern.services.opportunities import add_solution
from govern.workflows.services import queue_missing_backlog_items

from .conftest import add_opportunity, outbox_rows, server_only, set_mapping, solutions


@pytest.fixture
def env(db, standin, tmp_path):
    return {"GOVERN_DATABASE_URL": db.url, "GOVERN_INSTANCE_PATH": str(tmp_path), "GOVERN_SECRET_KEY": "x",
            "GOVERN_JIRA_URL": standin.base_url, "GOVERN_JIRA_USER": standin.user,
            "GOVERN_JIRA_TOKEN": standin.token, "GOVERN_JIRA_TIMEOUT": "2"}


def _reconciler(db, adapter, tmp_path, clock, name="r1"):
    return JiraReconciler(db, adapter, lock=FileLeaderLock(tmp_path / "jira-reconciler.lock"), name=name,
                          clock=clock.now, push_every=60, pull_every=300, sleep=clock.advance, check_on_lead=False)


@server_only
def test_solutions_of_an_opportunity_already_in_implement_reach_jira_with_govern_jira_sync(db, standin, env):
    set_mapping(db)
    add_opportunity(db, 2, enqueue_push=False)  # entered implement before Jira was configured: nothing queued
    result = CliRunner().invoke(jira, ["sync"], env=env)
    assert result.exit_code == 0, result.output
    assert "created: 2" in result.output and "found missing from Jira and queued: SOL-1, SOL-2" in result.output
    assert sorted(s.external_key for s in solutions(db)) == sorted(standin.issues)
    again = CliRunner().invoke(jira, ["sync"], env=env)
    assert "created: 0" in again.output and "queued" not in again.output and len(standin.issues) == 2


@server_only
def test_a_solution_added_during_implement_gets_its_epic_from_the_reconciler(db, standin, adapter, jira_worker,
                                                                            tmp_path, clock):
    add_opportunity(db, 1)
    jira_worker.drain()
    with db.session_scope() as session:  # through the service every entry point calls
        add_solution(session, Actor.system_actor("test"), "OPP-1", title="Porting tracker page")
    reconciler = _reconciler(db, adapter, tmp_path, clock)
    try:
        report = reconciler.tick()
        assert report.leader and report.queued == ["SOL-2"]
        assert reconciler.tick().queued == []  # queued once: the next look (when due) finds it queued
        jira_worker.drain()
    finally:
        reconciler.stop()
    assert len(standin.issues) == 2
    assert all(s.external_key for s in solutions(db))


def test_what_belongs_in_the_backlog_comes_from_the_lifecycle_not_from_state_names(db):
    set_mapping(db)
    add_opportunity(db, 1, enqueue_push=False, state="research")
    add_opportunity(db, 1, enqueue_push=False, state="evaluate")
    delivery, _ = add_opportunity(db, 1, enqueue_push=False, state="solution_delivery")
    measuring, _ = add_opportunity(db, 1, enqueue_push=False, state="measure")
    with db.session_scope() as session:
        for opp_id in (delivery, measuring):
            session.get(Opportunity, opp_id).lifecycle = "triple_diamond"
        session.commit()
    with db.session_scope() as session:
        queued = queue_missing_backlog_items(session, Actor.system_actor("test"))
    # triple diamond's solution_delivery is entered with create_backlog_items; research, evaluate and measure are not
    assert queued == ["SOL-3"]
    assert [m.payload["solution_id"] for m in outbox_rows(db)] == [3]


@server_only
def test_one_reconciler_leads_and_another_takes_over_when_it_stops(db, adapter, tmp_path, clock):
    set_mapping(db)
    first, second = (_reconciler(db, adapter, tmp_path, clock, name=n) for n in ("r1", "r2"))
    try:
        assert first.tick().leader and not second.tick().leader
        add_opportunity(db, 1, enqueue_push=False)
        clock.advance(61)
        assert second.tick().queued == [] and first.tick().queued == ["SOL-1"]
        first.stop()
        assert second.tick().leader
    finally:
        first.stop()
        second.stop()


@server_only
def test_the_reconciler_pulls_on_its_cadence_so_a_lost_webhook_costs_minutes(db, standin, adapter, jira_worker,
                                                                             tmp_path, clock):
    add_opportunity(db, 1)
    jira_worker.drain()
    reconciler = _reconciler(db, adapter, tmp_path, clock)
    try:
        assert reconciler.tick().pulled
        standin.move_issue(solutions(db)[0].external_key, "In Progress")  # its webhook never arrives
        clock.advance(120)
        assert not reconciler.tick().pulled  # not yet: the cadence is five minutes
        clock.advance(200)
        report = reconciler.tick()
        assert report.pulled and report.updated == 1
    finally:
        reconciler.stop()
    assert solutions(db)[0].state == "in_progress"


@server_only
def test_the_reconcilers_pull_waits_out_an_outage_on_the_next_cadence(db, standin, adapter, jira_worker, tmp_path,
                                                                      clock):
    add_opportunity(db, 1)
    jira_worker.drain()
    standin.move_issue(solutions(db)[0].external_key, "Done")
    standin.start_outage("503", retry_after=90)
    reconciler = _reconciler(db, adapter, tmp_path, clock)
    try:
        report = reconciler.tick()
        assert not report.pulled and "503" in report.error
        standin.end_outage()
        clock.advance(91)
        assert reconciler.tick().pulled
    finally:
        reconciler.stop()
    assert solutions(db)[0].state == "done"


@server_only
def test_govern_jira_sync_succeeds_every_time_at_thirty_percent_faults(db, standin, env, tmp_path, clock):
    from govern.integrations.jira.adapter import JiraAdapter, Patience
    from govern.integrations.jira.sync import sync_now
    from govern.runtime import Runtime
    from tests.conftest import make_config

    set_mapping(db)
    runtime = Runtime(config=make_config(db, tmp_path), db=db,
                      adapters={"jira": JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)})
    for run in range(6):
        add_opportunity(db, 3, enqueue_push=run % 2 == 0)  # queued by the lifecycle, or found by reconciliation
        clock.catch_up()
        standin.set_faults(rate=0.3, kinds=("500", "502", "503", "429", "drop"), retry_after=30, seed=run)
        # What `govern jira sync` runs, waiting in simulated time (Retry-After 30 s, backoff) instead of real time.
        summary = sync_now(runtime, patience=Patience(sleep=clock.advance), clock=clock.now)
        assert summary.waiting == 0 and summary.failed == 0 and summary.errors == [], summary
    standin.set_faults()
    assert sum(standin.faults_injected.values()) >= 5
    assert len(standin.issues) == 18
    for solution in solutions(db):
        assert [i.key for i in standin.issues_with_label(f"govern-sol-{solution.id}")] == [solution.external_key]
    with db.session_scope() as session:
        assert set(session.scalars(sa.select(OutboxMessage.status))) == {"delivered"}


@server_only
def test_a_leading_reconciler_names_a_missing_epic_name_before_the_first_push(db, standin, adapter, tmp_path, clock,
                                                                              caplog):
    set_mapping(db)
    standin.require_field("Epic", "customfield_10011", "Epic Name is required.")
    reconciler = JiraReconciler(db, adapter, lock=FileLeaderLock(tmp_path / "r.lock"), clock=clock.now,
                                sleep=clock.advance)
    try:
        with caplog.at_level("WARNING", logger="govern.integrations.jira.reconcile"):
            assert reconciler.tick().leader
    finally:
        reconciler.stop()
    assert "requires Epic Name (customfield_10011)" in caplog.text


@server_only
def test_the_reconcilers_pulls_back_off_while_jira_is_down_and_resume_when_it_is_back(db, standin, adapter, tmp_path,
                                                                                     clock):
    """A down Jira is probed once per backoff step (30 s doubling up to the pull cadence), not retried for a minute on
    every try: an hour of outage costs the reconciler 15 to 35 calls (it cost ~370 before)."""
    set_mapping(db)
    standin.clock = clock.now
    standin.start_outage("503", until=clock.now() + dt.timedelta(hours=1))
    reconciler = _reconciler(db, adapter, tmp_path, clock)
    try:
        while standin.outage_now() is not None:
            reconciler.tick()
            clock.advance(15)
        # (the first pull retries for a minute; then half to all of each step, rounded up to the 15 s tick)
        assert 5 <= standin.calls_refused_by_outage <= 45, standin.calls_refused_by_outage
        for _ in range(30):  # back within one pull cadence
            if reconciler.tick().pulled:
                break
            clock.advance(15)
        else:
            raise AssertionError("the reconciler did not pull again after the outage")
    finally:
        reconciler.stop()
