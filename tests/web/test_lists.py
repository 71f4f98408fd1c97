"""List views of opportunities and evidence: search, filters, sort and paging, with the URL as the saved view."""

from __future__ import annotations

import html
import re


def _keys(page: str, attr: str = "data-key") -> list[str]:
    return re.findall(attr + r'="((?:OPP|INS)-\d+)"', page)


def test_the_opportunity_list_filters_by_journey_subtree_state_owner_and_kpi(web):
    lotte = web("lotte")
    everything = lotte.get("/opportunities").get_data(as_text=True)
    assert len(_keys(everything)) == 12 and "1–12 of 12" in everything
    # The master journey's subtree holds every journey: filtering by it keeps them all.
    assert len(_keys(lotte.get("/opportunities?journey=being-a-customer").get_data(as_text=True))) == 12
    switching = _keys(lotte.get("/opportunities?journey=switching-providers").get_data(as_text=True))
    assert "OPP-1" in switching and "OPP-4" not in switching
    assert _keys(lotte.get("/opportunities?state=evaluate").get_data(as_text=True)) == ["OPP-4"]
    assert set(_keys(lotte.get("/opportunities?owner=lotte").get_data(as_text=True))) == {"OPP-1", "OPP-6", "OPP-10"}
    assert _keys(lotte.get("/opportunities?kpi=bill-csat").get_data(as_text=True)) == ["OPP-2"]
    assert _keys(lotte.get("/opportunities?q=roaming+bill").get_data(as_text=True)) == ["OPP-2"]


def test_the_opportunity_list_sorts_and_pages(web):
    lotte = web("lotte")
    html = lotte.get("/opportunities?sort=-key&per_page=25").get_data(as_text=True)
    assert _keys(html)[:2] == ["OPP-12", "OPP-11"]
    assert 'aria-sort="descending"' in html
    titles = _keys(lotte.get("/opportunities?sort=title").get_data(as_text=True))
    assert len(titles) == 12 and titles != sorted(titles, key=lambda k: int(k[4:]))
    beyond = lotte.get("/opportunities?page=5").get_data(as_text=True)  # past the end: the last page
    assert len(_keys(beyond)) == 12 and "1–12 of 12" in beyond


def test_bad_list_arguments_are_named_with_a_400(web):
    lotte = web("lotte")
    for query, words in [("sort=colour", "unknown sort 'colour'"), ("page=two", "page must be a whole number"),
                         ("journey=atlantis", "unknown journey 'atlantis'"), ("per_page=7", "per_page must be")]:
        response = lotte.get(f"/opportunities?{query}")
        assert response.status_code == 400, query
        assert words in html.unescape(response.get_data(as_text=True)), query
    response = lotte.get("/evidence?since=2026-10-01&until=2026-09-01")
    assert response.status_code == 400 and "'since' is after 'until'" in html.unescape(response.get_data(as_text=True))


def test_the_evidence_list_searches_filters_and_pages(web):
    lotte = web("lotte")
    html = lotte.get("/evidence").get_data(as_text=True)
    assert "1–25 of 30" in html and len(_keys(html, "id")) == 25
    assert len(_keys(lotte.get("/evidence?page=2").get_data(as_text=True), "id")) == 5
    porting = _keys(lotte.get("/evidence?q=porting").get_data(as_text=True), "id")
    assert "INS-1" in porting and "INS-13" not in porting
    step = _keys(lotte.get("/evidence?step=moving-house/port-number").get_data(as_text=True), "id")
    assert set(step) == {"INS-1", "INS-2"}
    assert _keys(lotte.get("/evidence?kind=interview").get_data(as_text=True), "id") == ["INS-29"]
    dated = _keys(lotte.get("/evidence?since=2026-09-20&until=2026-09-30&sort=observed").get_data(as_text=True), "id")
    assert dated == ["INS-17", "INS-28"]
    assert "INS-26" in _keys(lotte.get("/evidence?source=exit+survey").get_data(as_text=True), "id")


def test_a_journey_page_pre_selects_the_step_in_the_evidence_form(web):
    lotte = web("lotte")
    journey = lotte.get("/journeys/switching-providers").get_data(as_text=True)
    assert "/evidence/new?step=switching-providers/port-number" in journey.replace("%2F", "/")
    form = lotte.get("/evidence/new?step=switching-providers/port-number").get_data(as_text=True)
    assert 'value="switching-providers/port-number" checked' in form
    first_group = form.split('data-journey="')[1].split('"')[0]
    assert first_group == "switching-providers"
