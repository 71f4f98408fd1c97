"""Every main page on a phone (390 px), a laptop (1440 px) and a projector (1920 px): no horizontal overflow, no
script errors, and axe-core finds no serious or critical accessibility violation.

axe-core is the npm package's `axe.min.js`, vendored in tests/web/vendor/ (see its LICENSE there); it is read from
disk and evaluated in the page, never fetched. Screenshots of every page at every width land in test-artifacts/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govern.cli.support import DEMO_PASSWORD
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WIDTHS = {"phone": (390, 844), "laptop": (1440, 900), "projector": (1920, 1080)}
MAIN_PAGES = [
    ("board", "/board"),
    ("opportunity-list", "/opportunities"),
    ("evidence", "/evidence"),
    ("journeys", "/journeys"),
    ("journey", "/journeys/switching-providers"),
    ("opportunity", "/opportunities/OPP-3"),
    ("opportunity-edit", "/opportunities/OPP-1/edit"),
    ("approvals", "/approvals"),
    ("council", "/council"),
    ("ritual", "/rituals/weekly-council-review"),
    ("occurrence", "/rituals/weekly-council-review/at/next"),
    ("charts", "/charts"),
    ("evidence-new", "/evidence/new"),
    ("opportunity-new", "/opportunities/new"),
    ("kpi", "/kpis/porting-csat/measurements"),
    ("playbook", "/playbook"),
]


@pytest.fixture
def signed_in(browser, live_server, example_db):
    """One signed-in context per width (the lead, who sees every page), reused for every page at that width."""
    from govern.workflows.services import request_transition
    from tests.conftest import actor

    with example_db.session_scope() as s:  # something in the inbox, so the approvals page shows a card
        request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="two journeys, five insights")
    contexts = []

    def open_at(width_name: str):
        width, height = WIDTHS[width_name]
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server)
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
                and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
        page.goto("/login")
        page.get_by_label("Handle or e-mail").fill("ana")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/board")
        return page, errors

    yield open_at
    for context in contexts:
        context.close()


def _overflow(page) -> dict:
    return page.evaluate("""() => {
        const width = window.innerWidth;
        const wide = [];
        for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > width + 1 && getComputedStyle(el).position !== 'fixed' && el.offsetParent !== null) {
                let inside = false;  // content that scrolls inside its own box (a wide table) is fine
                for (let p = el.parentElement; p; p = p.parentElement) {
                    const o = getComputedStyle(p).overflowX;
                    if (o === 'auto' || o === 'scroll' || o === 'hidden') { inside = true; break; }
                }
                if (!inside) wide.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : ''));
            }
        }
        return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, wide: wide.slice(0, 8)};
    }""")


def _serious_violations(page, source: str) -> list[dict]:
    page.evaluate(source + "\n;0")  # evaluated by the test, so the page's CSP needs no exception
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_every_main_page_fits_the_screen_and_passes_axe(signed_in, width_name):
    """At each width: status 200, scrollWidth <= innerWidth, no script error, a screenshot; at laptop width (one page
    load per page serves both checks) also axe-core with no serious or critical violation."""
    page, errors = signed_in(width_name)
    source = AXE.read_text(encoding="utf-8") if width_name == "laptop" else None
    problems, report = [], {}
    page.keyboard.press("Tab")  # keyboard users can skip the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for name, path in MAIN_PAGES:
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        found = _overflow(page)
        if found["scrollWidth"] > found["innerWidth"]:
            problems.append(f"{path}: {found['scrollWidth']} px wide in {found['innerWidth']} ({found['wide']})")
        screenshot(page, f"{width_name}-{name}")
        if source is not None and (violations := _serious_violations(page, source)):
            report[path] = violations
    assert problems == [], "\n".join(problems)
    assert report == {}, json.dumps(report, indent=1)
    assert errors == [], errors
