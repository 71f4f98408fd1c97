"""Done-when: a bulk create that lands in Jira but whose answer is lost (the connection drops after the write) is not
repeated blindly while Jira's search lags behind its writes: the worker waits a settle time after the lost answer,
says so on the outbox row, then searches by the solutions' labels and adopts what it finds. Every solution ends with
exactly one epic, with the search index 5 s and 30 s behind, in Server and Cloud mode. Time is simulated: the worker,
the deliverer and the stand-in (its search lag included) share one clock."""

from __future__ import annotations

import pytest

from govern.integrations.jira.adapter import JiraAdapter
from govern.integrations.jira.push import JiraDeliverer
from govern.integrations.worker import OutboxWorker, RetryPolicy
from tests.standins.jira import JiraStandIn

from .conftest import add_opportunity, outbox_rows, set_mapping, solutions


def _run_lost_bulk_create(db, clock, deployment: str, lag: float, settle: float) -> tuple[JiraStandIn, list[str]]:
    standin = JiraStandIn(deployment, clock=clock.now, search_lag_seconds=lag)
    standin.serve()
    set_mapping(db)
    add_opportunity(db, 13)
    clock.catch_up()
    adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
    deliverer = JiraDeliverer(db, adapter, clock=clock.now, settle_seconds=settle)
    worker = OutboxWorker(db, [deliverer], name="lost-answer", clock=clock.now,
                          policy=RetryPolicy(base_seconds=2.0, cap_seconds=2.0))
    standin.set_faults(write_script=["drop"])  # the bulk create lands; its answer never comes
    said = []
    worker.run_once()
    said.append(outbox_rows(db)[0].last_error)
    clock.advance(2.5)  # the worker's backoff is over long before the search index has caught up
    worker.run_once()
    said.append(outbox_rows(db)[0].last_error)
    worker.run_until_idle(sleep=clock.advance)
    return standin, said


@pytest.mark.parametrize("deployment", ["Server", "Cloud"])
@pytest.mark.parametrize("lag", [5, 30])
def test_a_bulk_create_whose_answer_is_lost_leaves_one_epic_per_solution_while_search_lags(db, clock, deployment, lag):
    standin, said = _run_lost_bulk_create(db, clock, deployment, lag, settle=60)
    try:
        assert standin.faults_injected["drop"] == 1
        assert "created? answer lost at" in said[0]
        # The row says why it waits, and until when, instead of creating again.
        assert said[1].startswith("created? answer lost at") and "searching Jira again after" in said[1]
        assert {m.status for m in outbox_rows(db)} == {"delivered"}
        rows = solutions(db)
        assert len(rows) == 13
        for solution in rows:
            items = standin.issues_with_label(f"govern-sol-{solution.id}")
            assert [i.key for i in items] == [solution.external_key], solution.key
        assert len(standin.issues) == 13
        assert all(m.unsure_since is None for m in outbox_rows(db))
    finally:
        standin.stop()


@pytest.mark.parametrize("deployment", ["Server"])
def test_a_create_refused_outright_is_tried_again_without_waiting_to_settle(db, clock, deployment):
    """A 503 is an answer: nothing was created, so the next attempt needs no settle time (and no search lag matters)."""
    standin = JiraStandIn(deployment, clock=clock.now, search_lag_seconds=30)
    standin.serve()
    try:
        set_mapping(db)
        add_opportunity(db, 3)
        clock.catch_up()
        adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
        worker = OutboxWorker(db, [JiraDeliverer(db, adapter, clock=clock.now, settle_seconds=60)], clock=clock.now,
                              policy=RetryPolicy(base_seconds=2.0, cap_seconds=2.0))
        standin.set_faults(write_script=["500"])
        worker.run_once()
        row = outbox_rows(db)[0]
        assert row.unsure_since is None and "answer lost" not in (row.last_error or "")
        clock.advance(2.5)
        worker.run_once()
        assert {m.status for m in outbox_rows(db)} == {"delivered"}
        assert len(standin.issues) == 3
    finally:
        standin.stop()


@pytest.mark.parametrize("standin", ["Server"], indirect=True)
def test_a_refused_connection_is_no_lost_answer_but_a_dropped_one_is(standin, adapter):
    import socket

    from govern.integrations.jira.adapter import answer_lost

    with socket.socket() as probe:  # a port nobody listens on: the connection is refused, nothing was sent
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = JiraAdapter(f"http://127.0.0.1:{port}", standin.user, standin.token, timeout=2.0)
    with pytest.raises(Exception) as refused:
        closed.client()
    assert answer_lost(refused.value) is False
    standin.set_faults(write_script=["drop"])
    with pytest.raises(Exception) as dropped:
        adapter.bulk_create([{"project": {"key": "OPS"}, "summary": "x", "issuetype": {"name": "Epic"}}])
    assert answer_lost(dropped.value) is True
    assert len(standin.issues) == 1  # it did land
