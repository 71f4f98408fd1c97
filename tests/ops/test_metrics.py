"""Prometheus /metrics: request latency, business events counted from the audit trail once committed, outbox depth
and age read from the database, the scheduler's leadership, and counts from every gunicorn worker in one scrape."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from govern.app import create_app
from govern.workflows.services import request_transition
from tests.conftest import actor, make_config
from tests.ops.test_serving import get, start_serve, stop, wait_until_answering


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a scrape."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


def test_metrics_count_requests_by_route_with_their_latency(example_client):
    before = scrape(example_client)
    for _ in range(3):
        assert example_client.get("/healthz").status_code == 200
    after = scrape(example_client)
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(after, "govern_http_requests_total", **labels) - value(before, "govern_http_requests_total",
                                                                        **labels) == 3
    assert value(after, "govern_http_request_duration_seconds_count", **labels) - value(
        before, "govern_http_request_duration_seconds_count", **labels) == 3


def test_a_committed_transition_is_counted_and_its_effects_show_in_the_outbox_depth(example_client, example_db):
    before = scrape(example_client)
    with example_db.session_scope() as session:
        result = request_transition(session, actor(session, "lotte"), "OPP-1", "park", reason="waiting for budget")
        assert result.moved
    after = scrape(example_client)
    moved = {"from_state": "research", "to_state": "parked", "trigger": "park"}
    assert value(after, "govern_transitions_total", **moved) - value(before, "govern_transitions_total", **moved) == 1
    from govern.notifications import TOPIC  # the lifecycle's notify effect queues a notification event

    queued = value(after, "govern_outbox_messages", topic=TOPIC, status="pending")
    assert queued - value(before, "govern_outbox_messages", topic=TOPIC, status="pending") >= 1
    assert ("govern_outbox_oldest_waiting_seconds", (("topic", TOPIC),)) in after
    assert value(after, "govern_database_up") == 1


def test_an_audit_event_rolled_back_with_its_transaction_counts_nothing(example_client, example_db):
    from govern import audit
    from govern.policy import Actor

    before = scrape(example_client)
    moved = {"from_state": "research", "to_state": "parked", "trigger": "park"}
    with example_db.session_scope() as session:
        audit.record(session, Actor.system_actor("test"), "opportunity.transitioned", "opportunity", "OPP-1",
                     before={"state": "research"}, after={"state": "parked", "trigger": "park"})
        session.flush()
        session.rollback()
    after = scrape(example_client)
    assert value(after, "govern_transitions_total", **moved) == value(before, "govern_transitions_total", **moved)


def test_metrics_need_the_metrics_token_when_one_is_set(example_db, tmp_path):
    app = create_app(make_config(example_db, tmp_path, metrics_token="scrape-secret"), db=example_db)
    client = app.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert "metrics token" in refused.json["error"]["message"]
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200


@pytest.mark.slow
def test_metrics_under_gunicorn_with_two_workers_add_up_both_processes(tmp_path):
    multiproc = tmp_path / "prometheus"
    process, port, log = start_serve(tmp_path, "--workers", "2", "--threads", "2", multiprocess_dir=multiproc)
    try:
        wait_until_answering(process, port, log)
        for _ in range(600):  # both workers booted: each runs its scheduler, whose first round counts a tick
            if log.read_text().count("ritual scheduler: running") == 2:
                break
            time.sleep(0.1)
        requests = 40
        for _ in range(requests):
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        for _ in range(300):  # the schedulers' first rounds run in their own threads, soon after boot
            status, text = get(f"http://127.0.0.1:{port}/metrics")
            scraped = samples(text)
            if value(scraped, "govern_scheduler_ticks_total") >= 2 and value(scraped, "govern_scheduler_leader") == 1:
                break
            time.sleep(0.1)
    finally:
        stop(process)
    assert status == 200
    # Each worker process writes its own sample files; the scrape adds them up.
    workers_counting = {path.name.rsplit("_", 1)[-1] for path in multiproc.glob("counter_*.db")}
    assert len(workers_counting) == 2, sorted(p.name for p in multiproc.iterdir())
    assert value(scraped, "govern_scheduler_ticks_total") >= 2  # one first round per worker, at least
    assert value(scraped, "govern_scheduler_leader") == 1  # exactly one of the two leads
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(scraped, "govern_http_requests_total", **healthz) >= requests


def test_scheduler_processes_and_ritual_occurrences_are_read_from_the_database(example_client, example_db, tmp_path):
    from govern.rituals.scheduler import RitualScheduler

    standalone = RitualScheduler(example_db, instance_path=tmp_path, name="sched-a:1", publish=False)
    report = standalone.tick()  # as a `govern scheduler` process elsewhere would
    try:
        assert report.leader
        scraped = scrape(example_client)
        assert value(scraped, "govern_scheduler_processes", role="leader") == 1
        assert value(scraped, "govern_scheduler_processes", role="standby") == 0
        assert ("govern_scheduler_leader_last_round_seconds", ()) in scraped
        planned = value(scraped, "govern_ritual_occurrences", status="planned")
        assert planned >= 1  # the leader's first round recorded the coming occurrences
    finally:
        standalone.stop()
    assert value(scrape(example_client), "govern_scheduler_processes", role="leader") == 0
