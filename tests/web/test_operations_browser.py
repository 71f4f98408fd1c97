"""The operations page in a real browser: an administrator finds it in the navigation and sees the scheduler leader;
the page runs under the app's content security policy without errors."""

from __future__ import annotations

from govern.rituals.scheduler import RitualScheduler


def test_an_administrator_opens_the_operations_page_and_sees_who_leads_the_scheduler(page_as, example_db, tmp_path):
    scheduler = RitualScheduler(example_db, instance_path=tmp_path, name="web-2:777", publish=False)
    scheduler.tick()
    try:
        page = page_as("ana")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Operations").click()
        page.wait_for_url("**/operations")
        assert page.get_by_test_id("leader").inner_text() == "web-2:777"
        assert page.get_by_role("heading", name="Dead letters (0)").is_visible()
        assert "disabled (not configured)" in page.get_by_test_id("integrations").inner_text()
        assert page.console_errors == []
    finally:
        scheduler.stop()


def test_the_operations_link_is_not_offered_to_a_coordinator(page_as):
    page = page_as("lotte")
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Operations").count() == 0
