"""`govern rituals …` and `govern scheduler --once`: what people type, what they read, and the exit codes."""

import datetime as dt
import json
import re

import pytest

from govern.rituals.calendar import parse_feed
from tests.conftest import actor, cli_invoker
from govern.workflows import services as lifecycle


@pytest.fixture
def run(example_db, tmp_path):
    return cli_invoker(example_db, tmp_path, GOVERN_BASE_URL="https://govern.example")


def test_list_and_next(run):
    listed = run("rituals", "list")
    assert listed.exit_code == 0, listed.output
    assert "weekly-council-review" in listed.output and "during: Mobile squad sprint review" in listed.output
    nxt = run("rituals", "next", "weekly-council-review", "--limit", "3", "--json")
    rows = json.loads(nxt.output)
    assert len(rows) == 3 and all(r["local"].startswith("Wed ") and "10:00" in r["local"] for r in rows)
    assert run("rituals", "next", "tea-party").exit_code == 3


def test_agenda_formats_and_publish_once(run, example_db):
    with example_db.session_scope() as s:
        lifecycle.request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise")
    markdown = run("rituals", "agenda", "weekly-council-review")
    assert markdown.exit_code == 0 and "## Requests awaiting a decision" in markdown.output
    assert "OPP-1 How might we keep switchers informed" in markdown.output
    as_json = json.loads(run("rituals", "agenda", "weekly-council-review", "--format", "json").output)
    assert as_json["ritual"]["key"] == "weekly-council-review"
    published = run("rituals", "agenda", "weekly-council-review", "--publish", "--as", "marco")
    assert published.exit_code == 0, published.output
    twice = run("rituals", "agenda", "weekly-council-review", "--publish", "--as", "marco")
    assert twice.exit_code == 5 and "already posted" in twice.output
    refused = run("rituals", "agenda", "billing-checkin", "--publish", "--as", "femke")
    assert refused.exit_code == 4


def test_hold_with_approval_as_the_lead_and_skip(run, example_db):
    with example_db.session_scope() as s:
        asked = lifecycle.request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise").request
        asked.created_at -= dt.timedelta(days=8)  # asked before the last meeting, which decides it
        s.commit()
    upcoming = json.loads(run("rituals", "next", "weekly-council-review", "--limit", "2", "--json").output)
    not_yet = run("rituals", "hold", "weekly-council-review", "--at", upcoming[1]["scheduled_at"], "--as", "ana")
    assert not_yet.exit_code == 2 and "has not happened yet" in not_yet.output
    held = run("rituals", "hold", "weekly-council-review", "--as", "ana", "--present", "ana,marco",
               "--absent", "femke", "--notes", "Porting first", "--approve", "OPP-1",
               "--follow-up", "lotte:2030-01-15:Score OPP-1 with RICE")
    assert held.exit_code == 0, held.output
    assert "[approved]" in held.output and "Score OPP-1 with RICE (lotte, due 2030-01-15)" in held.output
    shown = run("opp", "show", "OPP-1")
    assert "state: prioritise" in shown.output
    wrong = run("rituals", "hold", "weekly-council-review", "--follow-up", "lotte-tomorrow")
    assert wrong.exit_code == 2 and "OWNER:YYYY-MM-DD:TEXT" in wrong.output
    skipped = run("rituals", "skip", "billing-checkin", "--reason", "sprint planning", "--as", "marco")
    assert skipped.exit_code == 0 and skipped.output.startswith("skipped: Paying my bill coordinator check-in")
    cancelled = run("rituals", "skip", "billing-checkin", "--cancel", "--as", "marco")
    assert cancelled.exit_code == 0 and cancelled.output.startswith("cancelled:")


def test_calendar_token_link_works_and_can_be_revoked(run, example_app):
    created = run("rituals", "calendar-token", "--person", "priya", "--as", "priya")
    assert created.exit_code == 0, created.output
    url = created.output.strip().splitlines()[0]
    assert url.startswith("https://govern.example/calendar/") and url.endswith(".ics")
    client = example_app.test_client()
    path = url.removeprefix("https://govern.example")
    assert parse_feed(client.get(path).data)
    token_id = re.search(r"token #(\d+)", created.output).group(1)
    listed = run("rituals", "calendar-token", "--list", "--as", "priya")
    assert listed.output.startswith(f"#{token_id} ") and "active" in listed.output
    revoked = run("rituals", "calendar-token", "--revoke", token_id, "--as", "priya")
    assert revoked.exit_code == 0 and "no longer works" in revoked.output
    assert client.get(path).status_code == 404
    assert run("rituals", "calendar-token", "--as", "priya").exit_code == 2


def test_scheduler_once_leads_and_records_occurrences(run):
    once = run("scheduler", "--once", "--name", "test-scheduler")
    assert once.exit_code == 0, once.output
    assert "leader: True" in once.output and "occurrences recorded: " in once.output
    assert int(once.output.split("occurrences recorded: ")[1].split(";")[0]) > 0
