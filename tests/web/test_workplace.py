"""The web app as the council's workplace, in a real browser: each task done end to end by the person it belongs to.

Playwright drives Debian's Chromium against the example organisation (Telco Nova) served over real HTTP. Every test
counts the clicks a person needs (printed with -s, and in the report of issue 17); screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa

from govern.model import AuditEvent, Opportunity
from govern.services.opportunities import update_opportunity
from tests.conftest import actor
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


class Clicks:
    """Counts the clicks (and choices) a task takes, and the seconds the browser spends on it, for the report.

    Nothing is asserted about time (no timed assertions); it is printed with -s."""

    def __init__(self, page):
        self.page = page
        self.count = 0
        self.started = time.perf_counter()

    @property
    def seconds(self) -> str:
        return f"{time.perf_counter() - self.started:.1f} s"

    def click(self, locator):
        self.count += 1
        locator.click()

    def check(self, locator):
        self.count += 1
        locator.check()

    def select(self, locator, value):
        self.count += 1
        locator.select_option(value)


def test_a_coordinator_edits_an_opportunity_and_a_stale_form_keeps_what_she_typed(page_as, example_db):
    page = page_as("lotte")
    clicks = Clicks(page)
    page.goto("/opportunities/OPP-1")
    clicks.click(page.get_by_role("link", name=re.compile("^Edit statement")))
    page.wait_for_url("**/opportunities/OPP-1/edit")
    statement = page.get_by_label("How might we … (the statement)")
    statement.fill("How might we keep every switcher informed, by SMS, while their number ports?")
    page.get_by_label("Search evidence").fill("porting date")  # the insight picker narrows as she types
    visible = page.locator("#insights-list label.check:visible")
    assert visible.count() >= 1
    assert all("INS-" in t for t in visible.all_inner_texts())
    new_evidence = page.locator("#insights-list label.check:visible").filter(has_text="porting date SMS")
    clicks.check(new_evidence.locator("input"))

    # Meanwhile Femke (the manager's stand-in here: an editor of the journey) gives it to someone else.
    with example_db.session_scope() as s:
        update_opportunity(s, actor(s, "marco"), "OPP-1", owner="femke", description="Owner changed in the review")

    clicks.click(page.get_by_role("button", name="Save changes"))
    meanwhile = page.get_by_test_id("meanwhile")
    assert meanwhile.is_visible()
    text = meanwhile.inner_text()
    assert "Marco Rossi" in text and "owner" in text and "Femke Jansen" in text  # who changed what, in names
    assert "marco" not in text.replace("Marco", "")  # no handles
    assert statement.input_value().startswith("How might we keep every switcher informed, by SMS")  # kept
    assert page.locator("#insights-list input[value='INS-28']").is_checked()
    assert page.get_by_label("Owner").input_value() == "femke"  # the form shows the owner as it is now
    screenshot(page, "opportunity-edit-stale")

    clicks.click(page.get_by_role("button", name="Save changes"))  # saving again applies hers on top
    page.wait_for_url("**/opportunities/OPP-1")
    assert "keep every switcher informed, by SMS" in page.get_by_role("heading", level=1).inner_text()
    history = page.locator("#history").inner_text()
    assert "Lotte de Vries edited it" in history and "statement:" in history
    assert "opportunity.updated" not in history
    screenshot(page, "opportunity-after-edit")
    print(f"\n[clicks] edit an opportunity (with a stale form): {clicks.count}, {clicks.seconds}")
    with example_db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 1))
        assert opp.owner.handle == "femke" and "INS-28" in {i.key for i in opp.insights}
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "opportunity.updated", AuditEvent.entity_id == "OPP-1")) == 2


def test_an_owner_records_outcomes_evaluates_and_finishes_from_the_opportunity_page(page_as, example_db):
    page = page_as("noah")
    clicks = Clicks(page)
    page.goto("/opportunities/OPP-4")
    assert "Evaluate" in page.locator(".page-head .state").inner_text()
    finish = page.locator(".transition[data-trigger='finish']")
    assert "unmet" in finish.get_attribute("class")  # no outcome yet

    kpis = page.locator("#kpis")
    value = kpis.get_by_label("First contact resolution", exact=False).first
    value.fill("abc")
    value.blur()
    assert "a number" in kpis.locator(".field-error").first.inner_text()  # inline, nothing sent
    value.fill("81")
    clicks.click(kpis.locator("form.measure-form").nth(0).get_by_role("button", name="Record"))
    page.wait_for_url("**/opportunities/OPP-4#kpis")
    assert "recorded" in page.get_by_role("status").first.inner_text()
    kpis = page.locator("#kpis")
    kpis.locator("form.measure-form").nth(1).locator("input[name=value]").fill("2.1")
    clicks.click(kpis.locator("form.measure-form").nth(1).get_by_role("button", name="Record"))
    page.wait_for_url("**/opportunities/OPP-4#kpis")
    clicks.click(page.get_by_test_id("evaluate"))
    page.wait_for_url("**/opportunities/OPP-4#kpis")
    assert "Evaluated OPP-4" in page.get_by_role("status").first.inner_text()
    assert page.locator("#kpis .verdict").count() == 2
    screenshot(page, "opportunity-evaluated")

    finish = page.locator(".transition[data-trigger='finish']")
    assert "ok" in finish.get_attribute("class").split()
    clicks.click(finish.get_by_role("button"))
    page.wait_for_url("**/opportunities/OPP-4")
    assert "Done" in page.locator(".page-head .state").inner_text()
    print(f"\n[clicks] record two outcomes, evaluate and finish: {clicks.count}, {clicks.seconds}")
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(Opportunity.state).where(Opportunity.number == 4)) == "done"


def test_an_owner_marks_solutions_delivered_and_the_opportunity_moves_to_evaluate(page_as, example_db):
    page = page_as("femke")
    clicks = Clicks(page)
    page.goto("/opportunities/OPP-3")
    evaluate = page.locator(".transition[data-trigger='evaluate']")
    assert "unmet" in evaluate.get_attribute("class").split()
    rows = page.locator("#solutions tr[data-solution]")
    for i in range(rows.count()):
        row = page.locator("#solutions tr[data-solution]").nth(i)
        clicks.select(row.locator("select[name=state]"), "done")
        clicks.click(row.get_by_role("button", name="Save"))
        page.wait_for_url("**/opportunities/OPP-3#solutions")
    assert "Evaluate" in page.locator(".page-head .state").inner_text()  # the lifecycle's automatic move followed
    print(f"\n[clicks] mark {rows.count()} solutions delivered (and so move to evaluate): {clicks.count}, "
          f"{clicks.seconds}")
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(Opportunity.state).where(Opportunity.number == 3)) == "evaluate"


def test_the_manager_writes_minutes_for_a_past_meeting_found_from_the_council_page(page_as, example_db):
    page = page_as("marco")
    clicks = Clicks(page)
    clicks.click(page.get_by_role("link", name="Council & rituals"))
    clicks.click(page.locator(".rituals").get_by_role("link", name="Weekly council review", exact=True))
    page.wait_for_url("**/rituals/weekly-council-review")
    screenshot(page, "ritual")
    past = page.locator("tr[data-status='not recorded']").first
    clicks.click(past.get_by_role("link"))
    # A meeting nobody wrote to yet is shown from the cadence (looking records nothing); saving records it.
    page.wait_for_url("**/rituals/weekly-council-review/at/*")
    assert "UTC" not in page.locator("main").inner_text()
    clicks.check(page.get_by_label("Ana Silva"))
    clicks.check(page.get_by_label("Marco Rossi"))
    page.get_by_role("textbox", name="Notes").fill("Reviewed the porting work.")
    clicks.click(page.get_by_role("button", name="Save the minutes"))
    page.wait_for_url("**/occurrences/*#minutes")
    assert page.get_by_test_id("agenda-frozen").is_visible()
    assert "Ana Silva, Marco Rossi" in page.locator("#minutes").inner_text()
    screenshot(page, "occurrence-held")
    print(f"\n[clicks] minutes for a past meeting from the council page: {clicks.count}, {clicks.seconds}")


def test_a_supporter_finds_evidence_with_filters_and_the_url_keeps_the_view(page_as):
    page = page_as("priya")
    clicks = Clicks(page)
    clicks.click(page.get_by_role("link", name="Evidence", exact=True))
    page.get_by_label("Words or key").fill("porting")
    clicks.select(page.get_by_label("Journey (with sub-journeys)"), "switching-providers")  # submits on change
    page.wait_for_url(re.compile(r".*journey=switching-providers.*"))
    rows = page.locator("table.evidence-table tbody tr")
    assert rows.count() >= 3
    assert all("porting" in t.lower() for t in rows.all_inner_texts())
    clicks.click(page.get_by_role("link", name="Observed"))  # sort by date, oldest first
    page.wait_for_url(re.compile(r".*sort=.*observed.*"))
    saved = page.url
    screenshot(page, "evidence-list")
    page.goto(saved)  # the address is the saved view
    assert page.get_by_label("Words or key").input_value() == "porting"
    assert page.get_by_label("Journey (with sub-journeys)").input_value() == "switching-providers"
    print(f"\n[clicks] find porting evidence on one journey, sorted by date: {clicks.count} (plus typing), "
          f"{clicks.seconds}")


def test_record_evidence_from_a_step_has_that_step_chosen(page_as):
    page = page_as("lotte")
    clicks = Clicks(page)
    page.goto("/journeys/switching-providers")
    clicks.click(page.get_by_role("link", name="Add evidence about “Port my number”"))
    page.wait_for_url(re.compile(r".*/evidence/new\?step=.*"))
    assert page.locator("input[value='switching-providers/port-number']").is_checked()
    assert page.locator("details[data-journey='switching-providers']").get_attribute("open") is not None
    page.get_by_label("What did customers say or do?").fill("My number was gone for a day")
    page.get_by_label("Source", exact=True).fill("Porting survey November")
    clicks.click(page.get_by_role("button", name="Record evidence", exact=True))
    page.wait_for_url(re.compile(r".*/evidence\?q=INS-\d+.*"))
    assert page.locator("table.evidence-table tbody tr").count() == 1
    print(f"\n[clicks] record evidence about a step from the journey map: {clicks.count} (plus typing), "
          f"{clicks.seconds}")


def test_the_opportunity_table_is_sorted_and_paged_by_url(page_as):
    page = page_as("ana")
    page.goto("/board")
    page.get_by_role("link", name=re.compile("^Table view")).click()
    page.wait_for_url("**/opportunities")
    page.get_by_label("State").select_option("research")
    page.wait_for_url(re.compile(r".*state=research.*"))
    assert all("Research" in t for t in page.locator("table.opportunity-table tbody tr td:nth-child(3)").all_inner_texts())
    page.get_by_role("link", name="Owner").click()
    page.wait_for_url(re.compile(r".*sort=owner.*"))
    owners = page.locator("table.opportunity-table tbody tr td:nth-child(4)").all_inner_texts()
    assert owners == sorted(owners, key=str.lower)
    screenshot(page, "opportunity-list")


def test_the_lead_approves_in_place_from_an_inbox_card_showing_guards_score_and_evidence(page_as, example_db):
    from govern.workflows.services import request_transition

    with example_db.session_scope() as s:
        request_id = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready").request.id
    page = page_as("ana")
    clicks = Clicks(page)
    clicks.click(page.get_by_role("link", name=re.compile("^Approvals")))
    card = page.locator(f"[data-request='{request_id}']")
    text = card.inner_text()
    assert "Score" in text and "Evidence" in text and "has 5 pieces of evidence" in text
    assert card.locator(".guards li").count() >= 2
    assert "Withdraw" not in text  # not her request
    page.evaluate("window.__stayed = true")  # gone if the page reloads
    clicks.click(card.get_by_role("button", name="Approve"))
    page.get_by_role("status").first.wait_for()
    assert "prioritise" in page.get_by_role("status").first.inner_text().lower()
    assert page.evaluate("window.__stayed === true")  # decided in place, no page load
    assert page.locator(f"[data-request='{request_id}']").count() == 0
    screenshot(page, "approved-in-place")
    print(f"\n[clicks] approve a request from the inbox: {clicks.count}, {clicks.seconds}")
    with example_db.session_scope() as s:
        from govern.model import ApprovalRequest

        assert s.get(ApprovalRequest, request_id).status == "approved"
