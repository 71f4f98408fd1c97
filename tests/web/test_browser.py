"""The council's web app in a real browser (Playwright driving Debian's Chromium) on the example organisation.

Screenshots of the main pages land in test-artifacts/ (not committed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from govern.model import ApprovalRequest, Opportunity
from tests.conftest import actor
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_a_coordinator_adds_evidence_and_creates_an_opportunity(page_as, example_db):
    page = page_as("lotte")
    screenshot(page, "board")
    page.get_by_role("link", name="Evidence", exact=True).click()
    page.get_by_role("link", name="Record evidence").click()
    page.get_by_label("What did customers say or do?").fill("I was without a working number for a whole day")
    page.get_by_label("Source").fill("Porting survey October")
    page.get_by_label("Kind").select_option("survey")
    page.get_by_label("Search steps").fill("port my number")  # the step picker narrows and opens its groups
    page.check("input[value='switching-providers/port-number']")
    page.check("input[value='moving-house/port-number']")
    screenshot(page, "evidence-form")
    page.get_by_role("button", name="Record and create an opportunity from it").click()

    page.wait_for_url("**/opportunities/new**")
    assert page.locator("input[name=journeys][value='switching-providers']").is_checked()
    assert page.locator("input[name=journeys][value='moving-house']").is_checked()
    page.check("input[name=insights][value='INS-1']")
    page.get_by_label("How might we … (the statement)").fill(
        "How might we keep every switcher reachable while their number ports?")
    page.get_by_role("button", name="Create opportunity").click()

    page.wait_for_url(re.compile(r".*/opportunities/OPP-\d+$"))
    heading = page.get_by_role("heading", level=1)
    assert "keep every switcher reachable" in heading.inner_text()
    assert "Research" in page.locator(".page-head .state").inner_text()
    evidence = page.locator("#evidence").inner_text()
    assert "I was without a working number" in evidence and "INS-1" in evidence
    screenshot(page, "opportunity-new")
    with example_db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).order_by(Opportunity.number.desc()).limit(1))
        assert {j.key for j in opp.journeys} == {"switching-providers", "moving-house"}
        assert opp.owner.handle == "lotte" and len(opp.insights) == 2


def test_an_owner_approves_from_the_inbox_and_sees_the_board_update(page_as, example_db):
    from govern.workflows.services import approve_request, request_transition

    with example_db.session_scope() as s:  # the manager asks; the first owner approves; lotte's approval completes it
        result = request_transition(s, actor(s, "marco"), "OPP-2", "implement", reason="agreed in the council review")
        request_id = result.request.id
        approve_request(s, actor(s, "femke"), request_id)

    page = page_as("lotte")
    assert page.locator("nav .count").inner_text() == "1"
    page.get_by_role("link", name=re.compile("^Approvals")).click()
    card = page.locator(f"[data-request='{request_id}']")
    assert "OPP-2" in card.inner_text() and "Femke Jansen" in card.inner_text()
    screenshot(page, "approvals-inbox")
    card.get_by_role("button", name="Approve").click()

    page.wait_for_url("**/approvals")
    assert "moved from Prioritise to Implement" in page.get_by_role("status").first.inner_text()
    assert page.get_by_test_id("inbox-empty").is_visible()
    page.get_by_role("link", name="Board", exact=True).click()
    implement = page.locator(".column[data-state='implement']")
    assert implement.locator(".opp-card[data-key='OPP-2']").count() == 1
    assert page.locator(".column[data-state='prioritise'] .opp-card[data-key='OPP-2']").count() == 0
    screenshot(page, "board-after-approval")
    with example_db.session_scope() as s:
        assert s.get(ApprovalRequest, request_id).status == "approved"


def test_a_supporter_cannot_see_approve_and_a_forged_post_is_refused(page_as, example_db):
    from govern.workflows.services import request_transition

    with example_db.session_scope() as s:
        request_id = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="evidence is in").request.id

    page = page_as("priya")
    assert "supporter" in page.get_by_test_id("whoami").inner_text()
    page.goto("/opportunities/OPP-1")
    card = page.locator(f"[data-request='{request_id}']")
    assert card.is_visible()
    assert card.get_by_role("button", name="Approve").count() == 0
    assert card.get_by_role("button", name="Reject").count() == 0
    assert "You cannot decide this one" in card.inner_text()
    screenshot(page, "opportunity-as-supporter")

    # A forged form, with the session's own valid CSRF token: only the service's permission check stands in the way.
    page.evaluate("""(requestId) => {
        const form = document.createElement('form');
        form.method = 'post';
        form.action = `/approvals/${requestId}/approve`;
        const token = document.querySelector('input[name=csrf_token]').cloneNode();
        form.appendChild(token);
        document.body.appendChild(form);
        form.submit();
    }""", request_id)
    page.wait_for_url(f"**/approvals/{request_id}/approve")
    assert "Not allowed" in page.get_by_role("heading", level=1).inner_text()
    assert "priya" in page.get_by_test_id("error-message").inner_text()
    screenshot(page, "forbidden")
    with example_db.session_scope() as s:
        assert s.get(ApprovalRequest, request_id).status == "pending"


def test_a_form_error_keeps_the_typed_text(page_as):
    page = page_as("lotte")
    page.goto("/opportunities/new")
    statement = "How might we tell switchers the porting date before they ask?"
    page.get_by_label("How might we … (the statement)").fill(statement)
    page.get_by_label("Description (optional)").fill("Typed with care; must survive an error.")
    page.check("input[name=insights][value='INS-3']")
    page.get_by_role("button", name="Create opportunity").click()  # no journey chosen: said before anything is sent

    error = page.locator("#group-journeys-live-error")
    assert error.is_visible() and "at least one" in error.inner_text()
    assert page.url.endswith("/opportunities/new")
    assert page.get_by_label("How might we … (the statement)").input_value() == statement
    assert page.get_by_label("Description (optional)").input_value() == "Typed with care; must survive an error."
    assert page.locator("input[name=insights][value='INS-3']").is_checked()
    screenshot(page, "form-error")


@pytest.mark.skipif(not os.environ.get("GOVERN_DOCS_SCREENSHOTS"),
                    reason="refreshes docs/screenshots/ only when GOVERN_DOCS_SCREENSHOTS=1")
def test_refresh_the_readme_screenshots(browser, live_server, example_db):
    """Small viewport screenshots of the main pages for the README tour (docs/screenshots/)."""
    from govern.workflows.services import request_transition

    with example_db.session_scope() as s:
        request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="two journeys, five insights")
    context = browser.new_context(viewport={"width": 1366, "height": 800}, device_scale_factor=0.75,
                                  base_url=live_server)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Handle or e-mail").fill("ana")
    page.get_by_label("Password").fill("govern-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/board")
    DOCS.mkdir(parents=True, exist_ok=True)
    for path, name in [("/board", "board"), ("/opportunities/OPP-1", "opportunity"),
                       ("/journeys/switching-providers", "journey"), ("/charts", "charts")]:
        page.goto(path)
        page.screenshot(path=str(DOCS / f"{name}.png"))
    context.close()
