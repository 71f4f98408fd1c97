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


def test_an_unknown_slack_user_costs_one_call_whatever_the_size_of_the_organisation(example_db, slack_standin,
                                                                                    web_client):
    with example_db.session_scope() as s:
        for person in s.scalars(sa.select(Person)):
            person.slack_id = None  # everybody known by e-mail only
        s.commit()
        people = s.execute(sa.select(Person.id, Person.email).where(Person.email.is_not(None))).all()
    assert len(people) >= 5
    stranger = slack_standin.add_user("someone.else@example.org", "someone")
    directory = SlackDirectory(web_client)
    assert directory.person_id_for(example_db, stranger) is None
    lotte_id, lotte_email = next((i, e) for i, e in people if e.startswith("lotte"))
    lotte = slack_standin.add_user(lotte_email, "lotte2")
    assert directory.person_id_for(example_db, lotte) == lotte_id
    assert len(slack_standin.calls_to("users.info")) == 2
    assert slack_standin.calls_to("users.lookupByEmail") == []


def test_many_unknown_emails_cost_one_users_list_and_misses_are_remembered(slack_standin, web_client):
    ids = {f"p{n}@example.org": slack_standin.add_user(f"p{n}@example.org", f"p{n}") for n in range(30)}
    wanted = [(None, email) for email in ids] + [(None, "gone@example.org")]
    directory = SlackDirectory(web_client)
    assert sorted(directory.slack_ids_for(wanted)) == sorted(ids.values())
    assert directory.slack_ids_for(wanted)  # again: all from the cache, the miss included
    assert len(slack_standin.calls_to("users.list")) == 1  # 30 members (+ the bot): one page
    assert slack_standin.calls_to("users.lookupByEmail") == []


def test_a_rate_limited_users_list_leaves_misses_unremembered(slack_standin, web_client):
    for n in range(15):
        slack_standin.add_user(f"p{n}@example.org", f"p{n}")
    slack_standin.rate_limit("users.list", times=1, retry_after=5)
    directory = SlackDirectory(web_client)
    wanted = [(None, f"p{n}@example.org") for n in range(15)]
    assert len(directory.slack_ids_for(wanted)) == 15  # fell back to per-e-mail look-ups
    assert len(slack_standin.calls_to("users.lookupByEmail")) == 15
