"""The approvals inbox pages its sections: with many requests pending, a person sees a page of them, oldest first,
how many there are in all, and links to the next pages (as the evidence list pages)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from govern.model import Opportunity
from tests.conftest import actor

PENDING = 30


def _many_pending_requests(example_db) -> list[int]:
    """lotte asks to prioritise PENDING new opportunities (each backed like OPP-1); the lead (ana) must approve."""
    from govern.services.opportunities import create_opportunity
    from govern.workflows.services import request_transition

    ids = []
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        model = s.scalar(sa.select(Opportunity).where(Opportunity.number == 1))
        journeys, insights = [j.key for j in model.journeys], [i.key for i in model.insights]
        for n in range(PENDING):
            opp = create_opportunity(s, lotte, title=f"How might we wait in line {n}?", journeys=journeys,
                                     insights=insights, owner="lotte")
            result = request_transition(s, lotte, opp.key, "prioritise", reason=f"number {n}")
            assert result.request is not None and not result.moved, result.message
            ids.append(result.request.id)
    return ids


def _cards(html: str, section: str) -> list[int]:
    part = html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    return [int(n) for n in re.findall(r'data-request="(\d+)"', part)]


def test_the_inbox_shows_a_page_of_requests_oldest_first_with_the_total_and_a_next_page(web, example_db):
    ids = _many_pending_requests(example_db)
    ana = web("ana")
    html = ana.get("/approvals").get_data(as_text=True)
    assert f"Awaiting your decision ({PENDING})" in html
    assert f"Showing 1–25 of {PENDING}, oldest first" in html
    assert _cards(html, "awaiting") == ids[:25]
    assert 'rel="next"' in html and 'href="/approvals?awaiting=2#awaiting"' in html
    assert f'aria-label="{PENDING} awaiting you"' in html  # the header counts them all, not the page

    second = ana.get("/approvals?awaiting=2").get_data(as_text=True)
    assert f"Showing 26–{PENDING} of {PENDING}, oldest first" in second
    assert _cards(second, "awaiting") == ids[25:]
    assert 'rel="prev"' in second

    everything = ana.get("/approvals?per_page=50").get_data(as_text=True)
    assert _cards(everything, "awaiting") == ids and 'rel="next"' not in everything


def test_the_requester_sees_a_page_of_their_own_pending_requests(web, example_db):
    ids = _many_pending_requests(example_db)
    lotte = web("lotte")
    html = lotte.get("/approvals").get_data(as_text=True)
    assert f"Your requests still pending ({PENDING})" in html
    assert _cards(html, "mine") == ids[:25]
    assert _cards(lotte.get("/approvals?mine=2").get_data(as_text=True), "mine") == ids[25:]
