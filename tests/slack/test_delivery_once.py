"""Done-when: a chat message is posted at most once per event, also when the worker dies between Slack's answer and
marking the row delivered. Each delivery is recorded as it lands (not after its batch), each post carries the event's
id as Slack message metadata, and a retry after an interrupted attempt first looks for its post in the channel's
history. Driven end to end: the real producers write the events, the real worker process (`python -m
govern.integrations.worker`, the real slack_sdk client) posts them to the stand-in, which kills it with SIGKILL the
moment it has stored a post and before it answers."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from govern import notifications
from govern.integrations.worker import wait_until
from govern.model import Journey, Opportunity, OutboxMessage
from govern.policy import Actor
from govern.rituals import services as ritual_services
from govern.services.common import put_setting
from govern.services.opportunities import set_solution_state
from govern.services.people import set_password
from govern.workflows.services import approve_request, request_transition
from tests.conftest import actor
from tests.slack.conftest import SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[2]


def _produce_every_kind_of_event(db) -> None:
    scheduler = Actor.system_actor("scheduler")
    with db.session_scope() as s:
        put_setting(s, "slack", {"council_channel": "cx-council"})
        asked = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise")  # an approval request, with buttons
        assert asked.request is not None, asked.message
        assert approve_request(s, actor(s, "ana"), asked.request.id).moved
        set_password(s, actor(s, "ana"), "tom", "temporary-password-1")  # a direct message to tom
        ritual_services.publish_agenda(s, actor(s, "marco"), "weekly-council-review")
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 3))
        for solution in opp.solutions:
            set_solution_state(s, actor(s, "femke"), solution.id, "done")
        assert request_transition(s, actor(s, "femke"), "OPP-3", "evaluate").moved
        due = opp.evaluation_due_at.replace(tzinfo=dt.timezone.utc)
        assert ritual_services.announce_due_evaluations(s, scheduler, now=due + dt.timedelta(hours=1)) >= 1
        s.scalar(sa.select(Journey).where(Journey.key == "moving-house")).owner_id = None
        s.commit()
        assert ritual_services.notify_ownership_gaps(s, actor(s, "marco")) >= 1


def _start_worker(db, standin, log: Path) -> subprocess.Popen:
    env = dict(os.environ, GOVERN_DATABASE_URL=db.url, GOVERN_SLACK_BOT_TOKEN=standin.token,
               GOVERN_SLACK_SIGNING_SECRET=SIGNING_SECRET, GOVERN_SLACK_API_URL=standin.base_url,
               GOVERN_INSTANCE_PATH=str(log.parent), GOVERN_SECRET_KEY="test", PYTHONPATH=str(ROOT))
    for name in ("GOVERN_JIRA_URL", "GOVERN_JIRA_TOKEN"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "govern.integrations.worker", "--lease", "2", "--poll", "0.1",
                             "--backoff-base", "0.1", "--backoff-cap", "0.5"],
                            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _open(db) -> int:
    with db.session_scope() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.topic == notifications.TOPIC, OutboxMessage.status.in_(("pending", "in_flight"))))


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("kill_at_post", [1, 3])
def test_a_worker_killed_after_slack_took_the_post_does_not_post_it_again(workspace, example_db, tmp_path,
                                                                         kill_at_post):
    _produce_every_kind_of_event(example_db)
    with example_db.session_scope() as s:
        events = s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.topic == notifications.TOPIC))
    assert events >= 6
    log = tmp_path / "worker.log"
    first = {"worker": None}
    posts_seen = Counter()

    def kill_the_poster(channel_id, message):
        posts_seen["n"] += 1
        if posts_seen["n"] == kill_at_post and first["worker"] is not None:
            first["worker"].send_signal(signal.SIGKILL)  # Slack has the post; the worker never hears back

    workspace.on_post = kill_the_poster
    first["worker"] = _start_worker(example_db, workspace, log)
    try:
        first["worker"].wait(timeout=60)
        assert first["worker"].returncode == -signal.SIGKILL, log.read_text()[-3000:]
        with example_db.session_scope() as s:
            in_doubt = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.status == "in_flight")).all()
        assert in_doubt, "the worker was killed with its batch still claimed"
        # A new worker takes the batch over when the dead one's lease runs out.
        second = _start_worker(example_db, workspace, log)
        try:
            assert wait_until(lambda: _open(example_db) == 0, timeout=60, interval=0.2), log.read_text()[-3000:]
        finally:
            second.send_signal(signal.SIGKILL)
            second.wait()
    finally:
        if first["worker"].poll() is None:
            first["worker"].send_signal(signal.SIGKILL)
            first["worker"].wait()
    with example_db.session_scope() as s:
        rows = s.execute(sa.select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.last_error)
                         .where(OutboxMessage.topic == notifications.TOPIC)).all()
    assert [(i, error) for i, status, error in rows if status != "delivered"] == []
    # Every post the stand-in stored, by (event, channel): each exactly once, and each carries its event's id.
    posted = Counter()
    for channel_id, messages in workspace.messages.items():
        for message in messages:
            metadata = message.get("metadata") or {}
            assert metadata.get("event_type") == "govern_event", message
            posted[(metadata["event_payload"]["outbox_id"], channel_id)] += 1
    assert posted and max(posted.values()) == 1, [k for k, n in posted.items() if n > 1]
    assert {outbox_id for outbox_id, _ in posted} <= {i for i, _, _ in rows}
    # The retry looked in the history rather than posting blindly.
    assert workspace.calls_to("conversations.history")
