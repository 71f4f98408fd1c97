"""Push: solutions become backlog items in bulk, exactly once, whatever Jira does in between."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govern.model import OutboxMessage, utcnow
from govern.policy import Actor
from govern.integrations.worker import RetryPolicy, retry_message

from .conftest import add_opportunity, outbox_rows, server_only, set_mapping, solutions


def _make_due(db):
    """As if the backoff were over: the messages are due and their topic's pause has ended."""
    from govern.model import OutboxTopicState

    past = utcnow() - dt.timedelta(seconds=1)
    with db.session_scope() as session:
        session.execute(sa.update(OutboxMessage).where(OutboxMessage.status == "pending")
                        .values(next_attempt_at=past))
        session.execute(sa.update(OutboxTopicState).where(OutboxTopicState.paused_until.is_not(None))
                        .values(paused_until=past))
        session.commit()


def test_each_solution_becomes_one_labelled_backlog_item_in_one_bulk_call(db, standin, jira_worker):
    _, ids = add_opportunity(db, 3)
    standin.reset_calls()
    assert jira_worker.drain() == {"delivered": 3}
    assert standin.calls["POST issue/bulk"] == 1
    assert standin.calls["POST issue"] == 0
    for solution in solutions(db):
        issues = standin.issues_with_label(f"govern-sol-{solution.id}")
        assert [i.key for i in issues] == [solution.external_key]
        assert solution.external_url.endswith(f"/browse/{solution.external_key}")
        assert "govern" in issues[0].labels and "customer-journey" in issues[0].labels
        assert issues[0].issuetype_id == "10000"  # Epic
        assert issues[0].duedate == "2026-12-01"
        assert "http://govern.test/opportunities/OPP-1" in issues[0].description
    assert [(m.status, m.external_ref) for m in outbox_rows(db)] == [
        ("delivered", s.external_key) for s in solutions(db)]


@server_only
def test_a_second_delivery_of_a_linked_solution_creates_nothing(db, standin, jira_worker):
    add_opportunity(db, 2)
    jira_worker.drain()
    # The worker linked the solutions and then died before it recorded the delivery: its message comes round again
    # (a fault injected on the real message, which the producer queued).
    with db.session_scope() as session:
        first = session.scalar(sa.select(OutboxMessage).order_by(OutboxMessage.id))
        first.status, first.next_attempt_at = "pending", utcnow() - dt.timedelta(seconds=1)
        session.commit()
    standin.reset_calls()
    jira_worker.drain()
    assert standin.total_calls == 0
    assert len(standin.issues) == 2


def test_a_retried_message_adopts_the_item_an_earlier_attempt_created(db, standin, jira_worker):
    _, ids = add_opportunity(db, 2)
    standin.set_faults(script=["ok", "ok", "drop"])  # serverInfo, project, then the bulk POST lands but no answer
    standin.reset_calls()
    # The worker comes back once the batch's backoff is over (none in tests); the retry looks up by label and adopts.
    assert jira_worker.run_until_idle(sleep=lambda seconds: None) == {"retry": 2, "delivered": 2}
    assert len(standin.issues) == 2  # found by label, not created again
    assert standin.calls["POST issue/bulk"] == 1
    assert standin.calls["GET search" if standin.deployment == "Server" else "GET search/jql"] == 1
    assert sorted(s.external_key for s in solutions(db)) == sorted(standin.issues)
    assert {(m.attempts, m.status) for m in outbox_rows(db)} == {(2, "delivered")}


@server_only
def test_a_timeout_after_the_write_is_not_a_duplicate(db, standin, adapter, jira_worker):
    add_opportunity(db, 1)
    adapter.timeout = 0.3
    standin.set_faults(script=["ok", "ok", "timeout"], timeout_seconds=0.8)
    jira_worker.drain()
    _make_due(db)
    jira_worker.drain()
    assert len(standin.issues) == 1
    assert outbox_rows(db)[0].status == "delivered"


@server_only
def test_429_waits_for_retry_after_then_delivers(db, standin, jira_worker):
    add_opportunity(db, 1)
    before = utcnow()
    standin.set_faults(script=["ok", "ok", "429"], retry_after=120)
    jira_worker.drain()
    message, = outbox_rows(db)
    assert message.status == "pending" and "429" in message.last_error
    assert message.next_attempt_at >= before + dt.timedelta(seconds=119)
    assert standin.issues == {}
    _make_due(db)
    jira_worker.drain()
    assert outbox_rows(db)[0].status == "delivered" and len(standin.issues) == 1


@server_only
def test_503_with_an_http_date_retry_after_is_honoured(db, standin, jira_worker):
    add_opportunity(db, 1)
    before = utcnow()
    standin.set_faults(script=["ok", "ok", "503"], retry_after=300, retry_after_style="date")
    jira_worker.drain()
    message, = outbox_rows(db)
    assert message.status == "pending"
    assert message.next_attempt_at >= before + dt.timedelta(seconds=290)


@server_only
def test_server_errors_pause_the_topic_and_never_kill_the_message(db, standin, adapter):
    from govern.integrations.jira.push import JiraDeliverer
    from govern.integrations.worker import OutboxWorker
    from govern.model import OutboxTopicState

    set_mapping(db)
    add_opportunity(db, 1)
    worker = OutboxWorker(db, [JiraDeliverer(db, adapter)], name="w",
                          policy=RetryPolicy(base_seconds=60, cap_seconds=600))
    standin.set_faults(rate=1.0, kinds=("500",))
    before = utcnow()
    worker.drain()
    message, = outbox_rows(db)
    assert message.status == "pending" and message.attempts == 1
    assert before + dt.timedelta(seconds=29) <= message.next_attempt_at <= before + dt.timedelta(seconds=61)
    with db.session_scope() as session:
        state = session.get(OutboxTopicState, "jira")
        assert state.failures == 1 and state.paused_until == message.next_attempt_at
    for _ in range(12):  # far more attempts than any give-up threshold
        _make_due(db)
        worker.drain()
    message, = outbox_rows(db)
    assert message.status == "pending" and message.attempts == 13
    assert standin.issues == {}
    standin.set_faults()
    _make_due(db)
    worker.drain()
    assert outbox_rows(db)[0].status == "delivered" and len(standin.issues) == 1
    with db.session_scope() as session:
        state = session.get(OutboxTopicState, "jira")
        assert state.failures == 0 and state.paused_until is None


def test_a_mapping_jira_refuses_fails_with_jiras_words_and_is_retried_by_hand(db, standin, jira_worker):
    standin.require_field("Epic", "customfield_10011", "Epic Name is required.")
    add_opportunity(db, 2)
    jira_worker.drain()
    messages = outbox_rows(db)
    assert {m.status for m in messages} == {"dead"}
    assert "customfield_10011: Epic Name is required." in messages[0].last_error
    assert standin.issues == {}
    set_mapping(db, extra_fields={"customfield_10011": "{title}"})
    with db.session_scope() as session:
        for message in messages:
            retry_message(session, Actor.system_actor("test"), message.id)
    jira_worker.drain()
    assert {(m.status, m.last_error) for m in outbox_rows(db)} == {("delivered", None)}
    assert {i.custom["customfield_10011"] for i in standin.issues.values()} == {
        "Solution 1 of OPP-1", "Solution 2 of OPP-1"}


@server_only
def test_an_unknown_project_fails_and_says_so(db, standin, jira_worker):
    set_mapping(db, project="NOPE")
    add_opportunity(db, 1)
    jira_worker.drain()
    message, = outbox_rows(db)
    assert message.status == "dead" and "no project 'NOPE'" in message.last_error


@server_only
def test_only_failed_or_dead_messages_can_be_retried(db, standin, jira_worker):
    import pytest

    from govern.errors import Conflict, PermissionDenied

    add_opportunity(db, 1)
    jira_worker.drain()
    message, = outbox_rows(db)
    assert message.status == "delivered"
    with db.session_scope() as session, pytest.raises(Conflict):
        retry_message(session, Actor.system_actor("test"), message.id)
    viewer = Actor(person_id=None, handle="ruben", roles=frozenset({"supporter", "viewer"}))
    with db.session_scope() as session, pytest.raises(PermissionDenied):
        retry_message(session, viewer, message.id)


def test_bulk_pushes_fifty_per_call_in_rank_order(db, standin, jira_worker):
    add_opportunity(db, 120)
    standin.reset_calls()
    jira_worker.drain()
    assert standin.calls["POST issue/bulk"] == 3
    assert len(standin.issues) == 120
    # created in our order: the backlog's rank follows solution order within an opportunity
    by_rank = sorted(standin.issues.values(), key=lambda i: i.rank)
    assert [i.labels[0] for i in by_rank] == [f"govern-sol-{s.id}" for s in solutions(db)]


@server_only
def test_two_workers_share_the_queue_without_duplicates(db, standin, adapter):
    import threading

    from govern.integrations.jira.push import JiraDeliverer
    from govern.integrations.worker import OutboxWorker

    set_mapping(db)
    for _ in range(6):
        add_opportunity(db, 3)
    workers = [OutboxWorker(db, [JiraDeliverer(db, adapter)], name=f"w{n}") for n in range(2)]
    for worker in workers:
        worker.deliverers[0].batch_size = 4
    threads = [threading.Thread(target=w.drain) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(standin.issues) == 18
    assert {m.status for m in outbox_rows(db)} == {"delivered"}


@server_only
def test_a_retry_after_a_lost_answer_adopts_what_landed_instead_of_duplicating(db, standin, adapter):
    from govern.integrations.jira.push import JiraDeliverer
    from govern.integrations.worker import OutboxWorker

    set_mapping(db)
    add_opportunity(db, 1)
    adapter.timeout = 0.3
    # No search lag in this stand-in: a lost answer is looked up at once (test_lost_answer.py waits out a lag).
    worker = OutboxWorker(db, [JiraDeliverer(db, adapter, settle_seconds=0)], name="w",
                          policy=RetryPolicy(base_seconds=0, cap_seconds=0))
    # attempt 1: the create lands but times out; attempts 2 and 3: the look-up fails; attempt 4 adopts
    standin.set_faults(script=["ok", "ok", "timeout", "500", "500"], timeout_seconds=0.6)
    for _ in range(3):
        worker.drain()
    message, = outbox_rows(db)
    assert message.status == "pending" and message.attempts == 3 and len(standin.issues) == 1
    worker.drain()
    assert outbox_rows(db)[0].status == "delivered"
    assert len(standin.issues) == 1
    assert solutions(db)[0].external_key == next(iter(standin.issues))


@server_only
def test_an_invalid_jira_section_fails_the_messages_with_its_problems(db, standin, jira_worker):
    add_opportunity(db, 1)
    set_mapping(db, status_map={"done": "finished"})
    jira_worker.drain()
    message, = outbox_rows(db)
    assert message.status == "dead" and "jira.status_map.done" in message.last_error
    assert standin.issues == {}


@server_only
def test_the_in_process_worker_of_govern_serve_delivers_and_stops(db, standin, tmp_path):
    from govern.runtime import Runtime
    from govern.integrations.worker import start_in_background, wait_until
    from tests.conftest import make_config

    set_mapping(db)
    add_opportunity(db, 2)
    runtime = Runtime(config=make_config(db, tmp_path, jira_url=standin.base_url, jira_user=standin.user,
                                         jira_token=standin.token), db=db)
    worker = start_in_background(runtime)
    try:
        from govern.integrations.jira.reconcile import JiraReconciler

        assert worker.services[0].topics == ["jira"]
        assert isinstance(worker.services[1], JiraReconciler)  # the backlog converges even without events
        assert wait_until(lambda: {m.status for m in outbox_rows(db)} == {"delivered"}, timeout=30)
    finally:
        worker.stop()
    assert len(standin.issues) == 2


def test_no_worker_runs_when_no_integration_is_enabled(db, tmp_path):
    from govern.runtime import Runtime
    from govern.integrations.worker import start_in_background
    from tests.conftest import make_config

    assert start_in_background(Runtime(config=make_config(db, tmp_path), db=db)) is None
