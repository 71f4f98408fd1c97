"""A council meeting held end to end in Chromium (Playwright) on the example organisation (Telco Nova).

Coordinators' requests are made through the workflows services; the lead opens last week's council review from the
council page, approves two requests and rejects one in one save with a follow-up; the follow-up's owner (a supporter)
closes it; the manager moves the next meeting by a day with a reason and reads the new time and the reason from the
calendar feed the web app hands out.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.request
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from govern.model import ApprovalRequest, AuditEvent, FollowUp, Opportunity, RitualOccurrence
from govern.rituals import calendar as calendar_mod
from govern.rituals.cadence import iter_occurrences
from tests.conftest import actor
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser

RITUAL = "weekly-council-review"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _council_times(example_db) -> tuple[dt.datetime, dt.datetime]:
    """The latest begun weekly council review and the next one (UTC), from the ritual's own cadence."""
    from govern.rituals import services

    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, RITUAL)
        now = dt.datetime.now(dt.timezone.utc)
        times = list(iter_occurrences(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                      now - dt.timedelta(days=8)))
        begun = [t for t in _take(times, 4) if t <= now]
        return begun[-1], next(t for t in _take(times, 4) if t > now)


def _take(iterator, n):
    out = []
    for item in iterator:
        out.append(item)
        if len(out) == n:
            break
    return out


def _coordinators_request(example_db, before: dt.datetime) -> list[tuple[str, int]]:
    """Three new opportunities (backed like OPP-1) whose coordinators ask to prioritise them; the lead must decide.

    The requests are dated an hour before the meeting: a meeting's decision list offers what existed then."""
    from govern.services.opportunities import create_opportunity
    from govern.workflows.services import request_transition

    made = []
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        model = s.scalar(sa.select(Opportunity).where(Opportunity.number == 1))
        journeys, insights = [j.key for j in model.journeys], [i.key for i in model.insights]
        for title in ("keep the number while porting", "show the porting date", "text when the port is done"):
            opp = create_opportunity(s, lotte, title=f"How might we {title}?", journeys=journeys,
                                     insights=insights, owner="lotte")
            result = request_transition(s, lotte, opp.key, "prioritise", reason=f"customers ask: {title}")
            assert result.request is not None and not result.moved, result.message
            made.append((opp.key, result.request.id))
        s.execute(sa.update(ApprovalRequest).where(ApprovalRequest.id.in_([r for _, r in made]))
                  .values(created_at=(before - dt.timedelta(hours=1)).replace(tzinfo=None)))
        s.commit()
    return made


def test_a_council_meeting_is_held_from_the_council_page_end_to_end(page_as, live_server, example_db):
    last, nxt = _council_times(example_db)
    (first, first_id), (second, second_id), (third, third_id) = _coordinators_request(example_db, last)
    head = None
    with example_db.session_scope() as s:
        head = s.scalar(sa.select(sa.func.max(AuditEvent.id)))

    # the lead opens last week's review from the council page and decides the three requests in one save
    lead = page_as("ana")
    lead.get_by_role("link", name="Council & rituals", exact=True).click()
    lead.locator("ul.rituals").get_by_role("link", name="Weekly council review").click()
    lead.wait_for_url(f"**/rituals/{RITUAL}")
    lead.locator(".occurrence-table tbody tr").first.get_by_role("link").click()
    lead.wait_for_url(re.compile(rf".*/rituals/{RITUAL}/at/.*"))
    decide = lead.get_by_test_id("meeting-decisions")
    for key in (first, second, third):
        assert key in decide.inner_text()
    decide.locator(f"tr[data-request='{first_id}'] input[value='approve']").check()
    decide.locator(f"tr[data-request='{second_id}'] input[value='approve']").check()
    decide.locator(f"tr[data-request='{third_id}'] input[value='reject']").check()
    lead.get_by_label(f"Reason for {third}").fill("the porting date is already in the app")
    lead.get_by_role("textbox", name="Notes").fill("Three porting requests decided.")
    lead.check("input[name=attendance][value='ana']")
    lead.check("input[name=attendance][value='marco']")
    lead.locator("#follow_up_text").fill("Ask the porting team for last month's complaints")
    lead.locator("#follow_up_owner").select_option("priya")
    lead.locator("#follow_up_due").fill((dt.date.today() + dt.timedelta(days=7)).isoformat())
    screenshot(lead, "meeting-mode-decide")
    lead.get_by_role("button", name="Save the minutes").click()

    lead.wait_for_url(re.compile(r".*/occurrences/\d+#minutes$"))
    assert "3 decisions" in lead.get_by_role("status").first.inner_text()
    minutes = lead.locator("#minutes").inner_text()
    assert f"{first}, approved" in minutes and f"{second}, approved" in minutes and f"{third}, rejected" in minutes
    assert "Ask the porting team" in minutes and "Priya Shah" in minutes
    occurrence_url = lead.url.split("#")[0]
    assert lead.get_by_test_id("meeting-decisions").count() == 0  # nothing left to decide

    with example_db.session_scope() as s:
        states = dict(s.execute(sa.select(Opportunity.number, Opportunity.state)).all())
        assert [states[int(k.split("-")[1])] for k in (first, second, third)] == ["prioritise", "prioritise",
                                                                                   "research"]
        assert {r.id: r.status for r in s.scalars(sa.select(ApprovalRequest).where(
            ApprovalRequest.id.in_([first_id, second_id, third_id])))} == {
            first_id: "approved", second_id: "approved", third_id: "rejected"}
        decided = s.execute(sa.select(AuditEvent.action, AuditEvent.entity_id).where(
            AuditEvent.id > head, AuditEvent.action.in_(["approval.approved", "approval.rejected"]))).all()
        assert sorted(decided) == sorted([("approval.approved", first), ("approval.approved", second),
                                          ("approval.rejected", third)])
        occurrence = s.scalar(sa.select(RitualOccurrence).where(
            RitualOccurrence.scheduled_at == last.replace(tzinfo=None)))
        assert occurrence.status == "held"
        follow_up = s.scalar(sa.select(FollowUp).where(FollowUp.occurrence_id == occurrence.id))
        assert follow_up.owner.handle == "priya" and follow_up.done_at is None

    # the follow-up's owner, a supporter, finds it on the council page, reads the meeting, and closes it
    owner = page_as("priya")
    owner.get_by_role("link", name="Council & rituals", exact=True).click()
    mine = owner.get_by_test_id("my-follow-ups")
    row = mine.locator(f"[data-follow-up='{follow_up.id}']")
    assert "Ask the porting team" in row.inner_text()
    row.get_by_role("link", name=re.compile("Weekly council review")).click()
    owner.wait_for_url(occurrence_url)
    assert "Three porting requests decided." in owner.locator("#minutes").inner_text()
    owner.go_back()
    owner.get_by_test_id("my-follow-ups").locator(f"[data-follow-up='{follow_up.id}']") \
        .get_by_role("button", name="Mark done").click()
    owner.wait_for_url("**/council")
    assert "the follow-up is done" in owner.get_by_role("status").first.inner_text()
    assert owner.get_by_test_id("my-follow-ups").count() == 0  # nothing left for her
    owner.goto(occurrence_url)
    assert "done" in owner.locator(f"[data-follow-up='{follow_up.id}']").inner_text()
    assert owner.get_by_role("button", name="Mark done").count() == 0
    with example_db.session_scope() as s:
        assert s.get(FollowUp, follow_up.id).done_at is not None

    # the manager moves the next review by a day, with a reason
    manager = page_as("marco")
    manager.get_by_role("link", name="Council & rituals", exact=True).click()
    manager.locator("ul.rituals").get_by_role("link", name="Weekly council review").click()
    manager.wait_for_url(f"**/rituals/{RITUAL}")
    manager.locator("#h-upcoming + ol a").first.click()
    moved_to = (nxt + dt.timedelta(days=1)).astimezone(AMSTERDAM)
    manager.get_by_label("Reason").fill("the lead is at the regulator on Wednesday")
    manager.get_by_label("Move to (local time)").fill(moved_to.strftime("%Y-%m-%dT%H:%M"))
    manager.get_by_role("button", name="Move").click()
    manager.wait_for_url(re.compile(r".*/occurrences/\d+$"))
    assert "the meeting was moved" in manager.get_by_role("status").first.inner_text()
    assert manager.get_by_test_id("moved-to").is_visible()
    assert "at the regulator" in manager.get_by_test_id("status-reason").inner_text()

    # … and subscribes to the ritual's calendar: the feed shows the new time and the reason
    manager.goto(f"/rituals/{RITUAL}")
    manager.get_by_role("button", name="Get a calendar link").click()
    feed_url = manager.get_by_test_id("feed-url").input_value()
    link = re.fullmatch(r"(https?://[^/]+)(/calendar/[\w-]+\.ics)", feed_url)
    assert link, feed_url
    screenshot(manager, "meeting-mode-calendar-link")
    # the link names the configured public address; a calendar app fetches it without any credentials
    with urllib.request.urlopen(live_server + link.group(2), timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/calendar")
        body = response.read()
    events = {e.uid: e for e in calendar_mod.parse_feed(body)}
    event = events[calendar_mod.occurrence_uid(RITUAL, nxt)]
    assert event.start_utc == nxt + dt.timedelta(days=1)
    unfolded = body.decode().replace("\r\n ", "")
    assert "the lead is at the regulator on Wednesday" in unfolded
    assert lead.console_errors == [] and owner.console_errors == [] and manager.console_errors == []
