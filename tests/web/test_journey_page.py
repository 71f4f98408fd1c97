"""The journey page places a journey in the framework: its parent chain, owner, sub-journeys and the steps they
detail, and its opportunities with their total (names read from the reference snapshot, see govern.queries.journeys)."""

from __future__ import annotations

import re


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_journey_page_names_its_parent_chain_owner_sub_journeys_and_the_step_it_details(web):
    ana = web("ana")
    parent = ana.get("/journeys/being-a-customer").get_data(as_text=True)
    # Switching providers details the step "Joining" of Being a Telco Nova customer: the step links to it, and so does the
    # list of sub-journeys.
    assert ('<a href="/journeys/switching-providers" data-testid="zoom">⤵ zoom into Switching providers</a>'
            in parent)
    assert "Sub-journeys" in parent and parent.count('href="/journeys/switching-providers"') >= 2
    child = _text(ana.get("/journeys/switching-providers").get_data(as_text=True))
    assert "Journeys › Being a Telco Nova customer › Switching providers" in child
    assert "details the step “Joining” of Being a Telco Nova customer" in child
    assert "Owner: Lotte de Vries" in child
    micro = _text(ana.get("/journeys/activating-my-sim").get_data(as_text=True))
    assert "Journeys › Being a Telco Nova customer › Switching providers › " in micro
