"""Scenario 2 (SCENARIOS.md): a newcomer joins.

Ruben is seated as supporter of "Paying my bill" by applying a changed govern.yaml with `govern apply` (dry run
first), reads his page in the live playbook, subscribes to his rituals with the calendar link it offers (the feed is
fetched and parsed with icalendar, as a calendar app would), and tries to approve a transition from the Slack button
and through the API: both refuse politely, saying that supporters do not approve and who does.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import icalendar
import sqlalchemy as sa
from click.testing import CliRunner

from govern import notifications
from govern.cli.root import cli
from govern.model import ApprovalRequest, Opportunity
from govern.integrations.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from tests.playbook.conftest import EXAMPLE_YAML
from tests.playbook.test_playbook_live import sign_in
from tests.scenarios.conftest import deliver
from tests.slack.support import buttons, said

RUBEN_SLACK, FEMKE_SLACK = "U0RUBEN01", "U0FEMKE01"
RUBEN_PERSON = ("  - {handle: ruben, name: Ruben Mertens, email: ruben.mertens@telconova.example, slack_id: U0RUBEN01, "
                "title: Billing Analyst, department: Billing}\n")
RUBEN_SEAT = "  - {person: ruben, role: supporter, journey: paying-my-bill}\n"
TOM_SEAT = "  - {person: tom, role: supporter, journey: paying-my-bill}\n"


def govern_yaml_with_ruben() -> str:
    text = EXAMPLE_YAML.read_text(encoding="utf-8")
    assert "\ncouncil:\n" in text and TOM_SEAT in text
    text = text.replace("\ncouncil:\n", "\n" + RUBEN_PERSON + "\ncouncil:\n", 1)
    # The people list ends right before the blank line above `council:`; keep Ruben inside it.
    text = text.replace("\n\n" + RUBEN_PERSON, "\n" + RUBEN_PERSON, 1)
    return text.replace(TOM_SEAT, TOM_SEAT + RUBEN_SEAT, 1)


def govern(example_db, tmp_path, *args):
    """`govern …` as the manager runs it on the server (the local operator), in-process."""
    return CliRunner().invoke(cli, list(args), env={"GOVERN_DATABASE_URL": example_db.url,
                                                    "GOVERN_INSTANCE_PATH": str(tmp_path / "instance")})


def length(event) -> dt.timedelta:
    """How long an event lasts, whether the feed gives DTEND or DURATION (both are valid iCalendar)."""
    if "DURATION" in event:
        return event.decoded("DURATION")
    return event.decoded("DTEND") - event.decoded("DTSTART")


def visible_text(page: bytes) -> str:
    """The words a reader sees on an HTML page (tags dropped, entities decoded, spaces collapsed)."""
    text = re.sub(r"<[^>]+>", " ", page.decode("utf-8"))
    return re.sub(r"\s+", " ", html.unescape(text))


def test_a_newcomer_is_seated_by_govern_yaml_finds_his_way_and_learns_who_approves(
        scenario_app, api, slack, workspace, example_db, tmp_path):
    # The manager seats Ruben in govern.yaml; the dry run shows exactly what will change, and writes nothing.
    path = tmp_path / "govern.yaml"
    path.write_text(govern_yaml_with_ruben(), encoding="utf-8")
    dry = govern(example_db, tmp_path, "apply", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    # His person entry and his seat are two entries in govern.yaml, so the dry run lists two changes, and only those.
    assert dry.output.splitlines() == ["+ person ruben", "+ seat ruben supporter paying-my-bill",
                                       "would change: 2 change(s) (dry run, nothing written)"]
    unknown = api.get("/people/ruben", as_="marco")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"  # nothing written
    applied = govern(example_db, tmp_path, "apply", str(path))
    assert applied.exit_code == 0, applied.output
    assert applied.output.splitlines()[-1] == "applied: 2 change(s)"
    again = govern(example_db, tmp_path, "apply", str(path))
    assert again.output.strip() == "no changes: the database already matches the file"
    me = api.get("/me", as_="ruben").get_json()
    assert me["roles"] == ["supporter", "viewer"]
    assert "paying-my-bill" in me["scopes"]["supporter"] and "transition.approve" not in me["may"]

    # Ruben opens his page in the live playbook.
    client = scenario_app.test_client()
    sign_in(client, example_db, "ruben")
    response = client.get("/playbook/people/ruben.html")
    assert response.status_code == 200
    page = visible_text(response.data)
    assert "Your first week as supporter of Paying my bill" in page
    assert "Supporter of Paying my bill and the journeys below it" in page
    # The journey he supports, its owner, its KPIs and its open opportunities.
    assert "Paying my bill Owner: Femke Jansen ; level macro" in page
    assert "Bill CSAT: target 4.2 or more, latest 3.8" in page
    assert "Billing tickets per month: target 800 tickets or less, latest 1100 tickets" in page
    assert "OPP-2 How might we make roaming costs easy to find on the bill? Prioritise Femke Jansen" in page
    assert "OPP-3 How might we resolve wrong charges in days, not weeks? Implement Femke Jansen" in page
    # The rituals he attends, and where to get them into his calendar.
    assert "Paying my bill coordinator check-in : next" in page and "Quarterly prioritisation : next" in page
    assert "Weekly council review :" not in page and "Monthly KPI review :" not in page
    assert "Put them in your calendar: get your calendar link" in page
    # What he may and may not do, and who approves on his journeys.
    assert "evidence.record record evidence (insights) ✓ everywhere" in page
    assert "kpi.measure record KPI measurements ✓ for Flagging wrong charges" in page
    assert "transition.request move an opportunity or request a transition ✗" in page
    assert ("transition.approve approve or reject transition requests (when the lifecycle names them as approver) "
            "✗ (for lead, manager, owner (of the journeys concerned))") in page
    assert "You cannot approve transition requests (approving is for lead, manager, owner)" in page
    assert "Prioritise (Research → Prioritise): the lead: Ana Silva" in page
    # The Slack commands.
    for usage in ('/journey help', '/journey status OPP', '/journey evidence OPP "text" [source]',
                  '/journey list [mine|all|awaiting|JOURNEY]'):
        assert usage in page, usage

    # The calendar link works: the page leads to it, it issues his feed once, a calendar app can read the feed.
    assert b'href="../calendar"' in response.data
    form = client.get("/playbook/calendar")
    assert form.status_code == 200
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', form.data).group(1).decode()
    issued = client.post("/playbook/calendar", data={"csrf_token": csrf})
    assert issued.status_code == 200
    webcal = re.search(rb'webcal://[^/"]+(/calendar/[A-Za-z0-9_-]+\.ics)', issued.data)
    assert webcal, issued.data
    feed = scenario_app.test_client().get(webcal.group(1).decode())  # no cookies: the link alone is enough
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(feed.data)
    events = [c for c in calendar.walk("VEVENT")]
    assert {str(e["SUMMARY"]) for e in events} == {"Paying my bill coordinator check-in", "Quarterly prioritisation"}
    assert {tz["TZID"] for tz in calendar.walk("VTIMEZONE")} == {"Europe/Amsterdam"}
    checkins = sorted(e.decoded("DTSTART") for e in events
                      if str(e["SUMMARY"]) == "Paying my bill coordinator check-in")
    assert checkins and all(str(start.tzinfo) == "Europe/Amsterdam" and (start.hour, start.minute) == (11, 0)
                            and start.weekday() == 1 for start in checkins)  # Tuesdays 11:00 Amsterdam time
    assert all(length(e) == dt.timedelta(minutes=30) for e in events
               if str(e["SUMMARY"]) == "Paying my bill coordinator check-in")
    assert len({str(e["UID"]) for e in events}) == len(events)

    # He tries to approve a transition. Femke asks to move OPP-2 to implement (her journey is waived as its
    # requester; the owner of "Managing roaming abroad", Lotte, must approve); the request is posted to #cx-billing.
    workspace.add_user("ruben.mertens@telconova.example", "ruben", user_id=RUBEN_SLACK)
    status, answer, _ = slack.command(client, "move OPP-2 implement", user_id=FEMKE_SLACK)
    assert status == 200 and "waiting for approval by the owner of Managing roaming abroad (Lotte de Vries)" in said(answer)
    assert deliver(scenario_app, notifications.TOPIC) == {"delivered": 1}
    channel = workspace.channel_id("cx-billing")
    message = workspace.messages[channel][-1]
    assert buttons(message) == [APPROVE_ACTION, REJECT_ACTION] and "OPP-2" in said(message)
    value = message["blocks"][-1]["elements"][0]["value"]
    status, _, response_url = slack.press(client, user_id=RUBEN_SLACK, channel_id=channel,
                                          message_ts=message["ts"], action_id=APPROVE_ACTION, value=value)
    assert status == 200
    note = workspace.wait_for(lambda: workspace.posts_to(response_url))[0].body
    assert note["response_type"] == "ephemeral" and note["replace_original"] is False  # only he sees it
    told = said(note)
    # Supporters cannot approve: he is told so, and who can.
    assert "ruben (supporter) may not approve or reject transition requests" in told
    assert "waiting for the owner of Managing roaming abroad (Lotte de Vries)" in told
    # The same answer through the API, with the one error shape.
    refusal = api.post(f"/approvals/{value}/approve", as_="ruben", json={})
    assert refusal.status_code == 403
    error = refusal.get_json()["error"]
    assert error["code"] == "forbidden"
    assert error["message"] == ("ruben (supporter) may not approve or reject transition requests: that is for lead, "
                                "manager, owner (of the journeys concerned); this request is waiting for the owner "
                                "of Managing roaming abroad (Lotte de Vries)")
    assert error["details"]["waiting_for"] == ["the owner of Managing roaming abroad (Lotte de Vries)"]
    # Nothing changed: the request still waits for Lotte, the message keeps its buttons.
    with example_db.session_scope() as s:
        request = s.get(ApprovalRequest, int(value))
        assert (request.status, len(request.votes)) == ("pending", 0)
        assert s.scalar(sa.select(Opportunity.state).where(Opportunity.number == 2)) == "prioritise"
    assert buttons(workspace.message(channel, message["ts"])) == [APPROVE_ACTION, REJECT_ACTION]
