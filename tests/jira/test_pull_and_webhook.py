"""Pull and webhook: backlog status comes back to solutions; signatures are checked first; echoes change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from govern.model import AuditEvent
from govern.integrations.jira.pull import pull, sync_state

from .conftest import add_opportunity, server_only, set_mapping, solutions

SECRET = "webhook-shared-secret"


def _search_calls(standin):
    return standin.calls["GET search/jql" if standin.deployment == "Cloud" else "GET search"]


def _pushed(db, jira_worker, n=2):
    opp_id, ids = add_opportunity(db, n)
    jira_worker.drain()
    return opp_id, {s.id: s.external_key for s in solutions(db)}


def test_pull_brings_status_back_and_moves_the_watermark(db, standin, adapter, jira_worker):
    _, keys = _pushed(db, jira_worker)
    first, second = keys.values()
    standin.move_issue(first, "In Progress")
    standin.move_issue(second, "Done")
    report = pull(db, adapter)
    assert report.updated == 2
    states = {s.external_key: (s.state, s.external_status) for s in solutions(db)}
    assert states == {first: ("in_progress", "In Progress"), second: ("done", "Done")}
    with db.session_scope() as session:
        watermark = sync_state(session)["watermark"]
    newest = max(i.updated for i in standin.issues.values())
    assert dt.datetime.fromisoformat(watermark) == newest.replace(microsecond=newest.microsecond // 1000 * 1000)


def test_an_unchanged_backlog_costs_one_search_and_changes_nothing(db, standin, adapter, jira_worker):
    _pushed(db, jira_worker, 3)
    pull(db, adapter)
    with db.session_scope() as session:
        events = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        assert sync_state(session)["identity"]
    standin.reset_calls()
    report = pull(db, adapter)
    assert standin.total_calls == 1 and report.updated == 0 and report.unchanged == 3
    with db.session_scope() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events


def test_pull_pages_to_the_end(db, standin, adapter, jira_worker):
    _pushed(db, jira_worker, 7)
    for key in list(standin.issues):
        standin.move_issue(key, "In Progress")
    standin.reset_calls()
    report = pull(db, adapter, page_size=3)
    assert report.pages == 3 and report.updated == 7
    assert _search_calls(standin) == 3
    assert {s.state for s in solutions(db)} == {"in_progress"}


@server_only
def test_the_watermark_never_gets_ahead_of_what_is_applied(db, standin, adapter, jira_worker):
    _pushed(db, jira_worker, 4)
    pull(db, adapter)
    with db.session_scope() as session:
        before = sync_state(session)["watermark"]
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=5)
    standin.clock = lambda: later
    for key in list(standin.issues):
        standin.move_issue(key, "Done")
    standin.set_faults(script=["ok", "500"])  # the first page comes back, the second page fails
    with pytest.raises(Exception):
        pull(db, adapter, page_size=2)
    assert sorted(s.state for s in solutions(db)) == ["done", "done", "todo", "todo"]  # page 1 is applied
    with db.session_scope() as session:
        assert sync_state(session)["watermark"] == before  # but the watermark did not move past page 2
    report = pull(db, adapter, page_size=2)
    assert {s.state for s in solutions(db)} == {"done"}
    assert report.updated == 2 and report.unchanged == 2
    with db.session_scope() as session:
        assert dt.datetime.fromisoformat(sync_state(session)["watermark"]) == later.replace(
            microsecond=later.microsecond // 1000 * 1000)


def test_newer_changes_beyond_the_first_page_are_all_read(db, standin, adapter, jira_worker):
    _pushed(db, jira_worker, 5)
    pull(db, adapter)
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=3)
    standin.clock = lambda: later
    for key in list(standin.issues):
        standin.move_issue(key, "In Progress")
    standin.reset_calls()
    report = pull(db, adapter, page_size=2)
    assert report.updated == 5 and {s.state for s in solutions(db)} == {"in_progress"}
    assert _search_calls(standin) == 3


@server_only
def test_status_mapping_can_name_a_status(db, standin, adapter, jira_worker):
    _, keys = _pushed(db, jira_worker, 1)
    set_mapping(db, status_map={"In Review": "done"})
    standin.move_issue(next(iter(keys.values())), "In Review")
    pull(db, adapter)
    assert solutions(db)[0].state == "done"


def test_when_every_solution_is_done_the_lifecycle_is_asked_to_move_on(db, standin, adapter, jira_worker):
    _, keys = _pushed(db, jira_worker, 2)
    for key in keys.values():
        standin.move_issue(key, "Done")
    report = pull(db, adapter)
    assert report.delivered_opportunities == ["OPP-1"]
    from govern.model import Opportunity

    with db.session_scope() as session:
        opportunity = session.scalar(sa.select(Opportunity))
        assert opportunity.state == "evaluate", report.lifecycle  # the default lifecycle's auto transition
        assert opportunity.evaluation_due_at is not None  # its schedule_evaluation effect ran


@server_only
def test_one_done_solution_of_two_does_not_move_the_opportunity(db, standin, adapter, jira_worker):
    _, keys = _pushed(db, jira_worker, 2)
    standin.move_issue(next(iter(keys.values())), "Done")
    report = pull(db, adapter)
    assert report.delivered_opportunities == []
    from govern.model import Opportunity

    with db.session_scope() as session:
        assert session.scalar(sa.select(Opportunity.state)) == "implement"


# --- webhook -----------------------------------------------------------------------------------------------------------


def _app(db, tmp_path, adapter=None, **config):
    """Just the webhook blueprint on a runtime, as the app factory mounts it (keeps this suite independent of the UI)."""
    from flask import Flask

    from govern.runtime import Runtime
    from govern.integrations.jira.webhook import bp
    from tests.conftest import make_config

    app = Flask("jira-webhook-test")
    app.extensions["govern"] = Runtime(config=make_config(db, tmp_path, **config), db=db,
                                       adapters={"jira": adapter})
    app.register_blueprint(bp)
    return app


@pytest.fixture
def webhook_app(db, tmp_path, standin, adapter):
    return _app(db, tmp_path, adapter, jira_url=standin.base_url, jira_user=standin.user, jira_token=standin.token,
                jira_webhook_secret=SECRET)


def _post(app, standin, payload, secret=SECRET, *, query=""):
    body, headers = standin.webhook_request(payload, secret)
    return app.test_client().post("/jira/webhook" + query, data=body, headers=headers)


def test_a_signed_issue_updated_event_is_applied(db, standin, jira_worker, webhook_app):
    _, keys = _pushed(db, jira_worker, 1)
    payload = standin.move_issue(next(iter(keys.values())), "Done", by="alice")
    response = _post(webhook_app, standin, payload)
    assert response.status_code == 200 and response.json["applied"] is True
    assert solutions(db)[0].state == "done"
    again = _post(webhook_app, standin, payload)  # Jira may deliver twice (a retry: the same identifier)
    assert again.json["applied"] is False and "already handled" in again.json["ignored"]


@server_only
@pytest.mark.parametrize("secret", ["wrong-secret", None])
def test_a_bad_or_missing_signature_is_401_and_changes_nothing(db, standin, jira_worker, webhook_app, secret):
    _, keys = _pushed(db, jira_worker, 1)
    payload = standin.move_issue(next(iter(keys.values())), "Done", by="alice")
    with db.session_scope() as session:
        events = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    response = _post(webhook_app, standin, payload, secret)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"
    assert solutions(db)[0].state == "todo"
    with db.session_scope() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events


@server_only
def test_a_tampered_body_is_refused(db, standin, jira_worker, webhook_app):
    _, keys = _pushed(db, jira_worker, 1)
    payload = standin.move_issue(next(iter(keys.values())), "Done", by="alice")
    body, headers = standin.webhook_request(payload, SECRET)
    tampered = body.replace(b'"Done"', b'"To Do"', 1)
    response = webhook_app.test_client().post("/jira/webhook", data=tampered, headers=headers)
    assert response.status_code == 401


@server_only
def test_garbage_with_a_bad_signature_is_refused_before_parsing(webhook_app):
    response = webhook_app.test_client().post("/jira/webhook", data=b"{not json",
                                              headers={"X-Hub-Signature": "sha256=00"})
    assert response.status_code == 401


@server_only
def test_a_secret_in_the_url_is_refused_even_when_right(db, standin, jira_worker, webhook_app):
    _, keys = _pushed(db, jira_worker, 1)
    payload = standin.move_issue(next(iter(keys.values())), "In Progress", by="alice")
    assert _post(webhook_app, standin, payload, None, query="?secret=nope").status_code == 401
    response = _post(webhook_app, standin, payload, None, query=f"?secret={SECRET}")
    assert response.status_code == 401 and "URL" in response.json["error"]["message"]
    assert solutions(db)[0].state == "todo"


def test_echoes_of_our_own_writes_are_ignored(db, standin, adapter, jira_worker, webhook_app):
    _, keys = _pushed(db, jira_worker, 1)
    pull(db, adapter)  # the first sync learns who we are in Jira (on Cloud only an account id shows in events)
    created_events = [e for e in standin.events if e["webhookEvent"] == "jira:issue_created"]
    assert created_events and created_events[0]["user"]["displayName"] == standin.user
    payload = standin.move_issue(next(iter(keys.values())), "Done", by=standin.user)  # our bot's own change
    response = _post(webhook_app, standin, payload)
    assert response.status_code == 200 and "echo" in response.json["ignored"]
    assert solutions(db)[0].state == "todo"
    for event in created_events:  # the creates we made come back too, and change nothing
        assert _post(webhook_app, standin, event).json.get("ignored")


@server_only
def test_webhooks_without_a_configured_secret_are_refused(db, tmp_path, standin):
    app = _app(db, tmp_path)
    body, headers = standin.webhook_request({"webhookEvent": "jira:issue_updated"}, SECRET)
    assert app.test_client().post("/jira/webhook", data=body, headers=headers).status_code == 401


@server_only
def test_other_events_are_acknowledged_and_ignored(webhook_app, standin):
    response = _post(webhook_app, standin, {"webhookEvent": "comment_created", "user": {"name": "alice"}})
    assert response.status_code == 202


@server_only
def test_an_interrupted_pull_resumes_from_its_last_page_instead_of_starting_over(db, standin, adapter, jira_worker):
    _pushed(db, jira_worker, 8)
    pull(db, adapter)
    for n, key in enumerate(sorted(standin.issues, key=lambda k: int(k.split("-")[1]))):
        minute = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=2 + n)
        standin.clock = lambda minute=minute: minute  # each item changed in a minute of its own
        standin.move_issue(key, "In Progress")
    standin.set_faults(script=["ok", "ok", "500"])  # pages 1 and 2 come back, page 3 fails
    with pytest.raises(Exception):
        pull(db, adapter, page_size=2)
    with db.session_scope() as session:
        state = sync_state(session)
    assert state["pull_progress"]["down_to"]  # the checkpoint of page 2
    assert sorted(s.state for s in solutions(db)).count("in_progress") == 4
    standin.reset_calls()
    report = pull(db, adapter, page_size=2)
    assert {s.state for s in solutions(db)} == {"in_progress"} and report.updated == 4
    # one search above the checkpoint (nothing new), then the gap: pages 3 and 4 (and their boundary minute)
    assert _search_calls(standin) <= 4
    with db.session_scope() as session:
        assert sync_state(session).get("pull_progress") is None


@server_only
def test_a_pull_waits_out_retry_after_when_given_patience(db, standin, adapter, jira_worker, clock):
    from govern.integrations.jira.adapter import Patience

    _pushed(db, jira_worker, 2)
    standin.move_issue(next(iter(standin.issues)), "Done")
    standin.set_faults(script=["429", "503", "ok"], retry_after=20)
    patience = Patience(sleep=clock.advance)
    report = pull(db, adapter, patience=patience)
    assert report.updated >= 1 and patience.retries == 2 and clock.slept == 40


def _at(standin, minutes: int) -> None:
    moment = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    standin.clock = lambda: moment


@server_only
def test_an_older_event_arriving_after_a_newer_one_changes_nothing(db, standin, jira_worker, webhook_app):
    from govern.model import Opportunity

    _, keys = _pushed(db, jira_worker, 1)
    key = next(iter(keys.values()))
    _at(standin, 1)
    in_progress = standin.move_issue(key, "In Progress")
    _at(standin, 2)
    done = standin.move_issue(key, "Done")
    assert _post(webhook_app, standin, done).json["applied"] is True
    with db.session_scope() as session:
        assert session.scalar(sa.select(Opportunity.state)) == "evaluate"  # every solution done: moved on
    late = _post(webhook_app, standin, in_progress)  # delivered late, with its own identifier, validly signed
    assert late.status_code == 200 and late.json["applied"] is False and late.json["stale"] is True
    assert solutions(db)[0].state == "done" and solutions(db)[0].external_status == "Done"
    with db.session_scope() as session:
        assert session.scalar(sa.select(Opportunity.state)) == "evaluate"


@server_only
def test_a_delivery_is_handled_once_by_its_webhook_identifier(db, standin, jira_worker, webhook_app):
    from govern.model import JiraWebhookReceipt

    _, keys = _pushed(db, jira_worker, 1)
    key = next(iter(keys.values()))
    _at(standin, 1)
    payload = standin.move_issue(key, "In Progress")
    body, headers = standin.webhook_request(payload, SECRET, identifier="delivery-1")
    client = webhook_app.test_client()
    assert client.post("/jira/webhook", data=body, headers=headers).json["applied"] is True
    # Someone moves it back to To Do here; Jira then retries the first delivery (same identifier): nothing happens.
    from govern.policy import Actor
    from govern.services.opportunities import set_solution_state

    with db.session_scope() as session:
        set_solution_state(session, Actor.system_actor("test"), solutions(db)[0].id, "todo")
    again = client.post("/jira/webhook", data=body, headers=headers)
    assert again.json["applied"] is False and "already handled" in again.json["ignored"]
    assert solutions(db)[0].state == "todo"
    with db.session_scope() as session:
        receipt = session.get(JiraWebhookReceipt, "delivery-1")
        assert receipt is not None and receipt.issue_key == key


@server_only
def test_a_signed_but_100000_deep_body_is_a_400_not_a_recursion_error(webhook_app):
    from govern.integrations.jira.webhook import signature_for

    body = b"[" * 100_000 + b"]" * 100_000
    response = webhook_app.test_client().post("/jira/webhook", data=body,
                                              headers={"X-Hub-Signature": signature_for(body, SECRET),
                                                       "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_input"
