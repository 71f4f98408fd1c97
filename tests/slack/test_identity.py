"""Who is who: Slack users map to people by stored id or by e-mail (users.lookupByEmail), cached, never fatal."""

from __future__ import annotations

import socket

import sqlalchemy as sa
from slack_sdk import WebClient

from govern.model import Person
from govern.integrations.slack.identity import SlackDirectory


def test_lookups_by_email_are_cached_hits_and_misses(slack_standin, web_client):
    lotte = slack_standin.add_user("lotte@example.org", "lotte")
    directory = SlackDirectory(web_client)
    for _ in range(3):
        assert directory.slack_id_by_email("Lotte@Example.org") == lotte
        assert directory.slack_id_by_email("nobody@example.org") is None
    assert len(slack_standin.calls_to("users.lookupByEmail")) == 2


def test_rate_limited_lookups_are_not_remembered(slack_standin, web_client):
    lotte = slack_standin.add_user("lotte@example.org", "lotte")
    slack_standin.rate_limit("users.lookupByEmail", times=1, retry_after=5)
    directory = SlackDirectory(web_client)
    assert directory.slack_id_by_email("lotte@example.org") is None
    assert directory.slack_id_by_email("lotte@example.org") == lotte


def test_slack_unreachable_means_unmapped_not_an_error(example_db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    directory = SlackDirectory(WebClient(token="xoxb-x", base_url=f"http://127.0.0.1:{port}/api/", timeout=2))
    with example_db.session_scope() as s:
        s.scalar(sa.select(Person).where(Person.handle == "lotte")).slack_id = None
        s.commit()
    assert directory.slack_id_by_email("lotte.devries@telconova.example") is None
    assert directory.person_id_for(example_db, "U0LOTTE01") is None
    assert directory.person_id_for(example_db, "U0ANA0001") is not None  # stored ids need no Slack at all


def test_deactivated_people_are_not_mapped(example_db, slack_standin, web_client):
    with example_db.session_scope() as s:
        s.scalar(sa.select(Person).where(Person.handle == "lotte")).active = False
        s.commit()
    assert SlackDirectory(web_client).person_id_for(example_db, "U0LOTTE01") is None
