"""Search understands word forms on SQLite (FTS5, porter) and PostgreSQL (english text search), behind one layer.

Every search box and the API's `q` go through govern.queries.search: the web lists (/opportunities, /evidence), the
board, and the API's opportunity and evidence lists. Bad input is searched as text or refused with a message.
"""

from __future__ import annotations

import re

import pytest

from govern.db import StatementCounter
from govern.queries.search import MAX_SEARCH_LENGTH
from govern.services.common import load_actor
from govern.services.evidence import record_evidence
from govern.services.opportunities import create_opportunity, update_opportunity
from tests.api.conftest import assert_error

KEYS = re.compile(r'href="/opportunities/(OPP-\d+)"')
EVIDENCE_KEYS = re.compile(r'id="(INS-\d+)"')


def _api_keys(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return [item["key"] for item in response.get_json()]


def _page_keys(response, pattern=KEYS) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return list(dict.fromkeys(pattern.findall(response.get_data(as_text=True))))


def test_ports_finds_porting_and_billing_finds_bill_in_the_api(api):
    # OPP-1 is "... while their number ports?"; OPP-2 "... roaming costs easy to find on the bill?"
    assert "OPP-1" in _api_keys(api.get("/opportunities?q=porting", as_="priya"))
    assert "OPP-2" in _api_keys(api.get("/opportunities?q=billing", as_="priya"))
    # INS-1 is "Porting took 9 days, nobody told me why"
    assert "INS-1" in _api_keys(api.get("/insights?q=ports", as_="priya"))
    # a substring still finds what it found before, and a key its row
    assert "OPP-1" in _api_keys(api.get("/opportunities?q=switch", as_="priya"))
    assert _api_keys(api.get("/opportunities?q=OPP-2", as_="priya")) == ["OPP-2"]


def test_the_web_lists_and_the_board_find_word_forms(web):
    lotte = web("lotte")
    assert "OPP-1" in _page_keys(lotte.get("/opportunities?q=porting"))
    assert "OPP-2" in _page_keys(lotte.get("/opportunities?q=billing"))
    assert "INS-1" in _page_keys(lotte.get("/evidence?q=ports"), EVIDENCE_KEYS)
    board = _page_keys(lotte.get("/board?q=billing"))
    assert "OPP-2" in board and "OPP-1" not in board


def test_what_is_written_later_is_found_and_an_edit_is_followed(example_db, api):
    with example_db.session_scope() as s:
        lotte = load_actor(s, "lotte")
        created = create_opportunity(s, lotte, title="How might we make invoicing clearer for families?",
                                     journeys=["moving-house"], owner="lotte")
        record_evidence(s, lotte, text="Families asked about the invoices twice", source="calls", kind="ticket",
                        steps=["moving-house/port-number"])
        key = created.key
    assert key in _api_keys(api.get("/opportunities?q=invoices", as_="priya"))
    assert any(api.get("/insights?q=invoicing", as_="priya").get_json())
    with example_db.session_scope() as s:
        update_opportunity(s, load_actor(s, "ana"), key, title="How might we make statements clearer?")
    assert key not in _api_keys(api.get("/opportunities?q=invoices", as_="priya"))
    assert key in _api_keys(api.get("/opportunities?q=statement", as_="priya"))


@pytest.mark.parametrize("text", ['"porting', 'porting"', "port* OR bill", "NEAR(port bill)", "title:port",
                                  "-porting", "^port", "a AND NOT b", "(port", "'; DROP TABLE opportunity; --",
                                  "%_\\", "!!!", "ü€😀", "the"])
def test_query_syntax_is_searched_as_text_never_an_error(api, web, text):
    assert api.get("/opportunities", as_="priya", query_string={"q": text}).status_code == 200
    assert api.get("/insights", as_="priya", query_string={"q": text}).status_code == 200
    lotte = web("lotte")
    for page in ("/opportunities", "/evidence", "/board"):
        assert lotte.get(page, query_string={"q": text}).status_code == 200, page


def test_a_too_long_search_is_refused_with_a_message(api, web):
    text = "porting " * (MAX_SEARCH_LENGTH // 4)
    error = assert_error(api.get("/opportunities", as_="priya", query_string={"q": text}), 422, "invalid_input")
    assert "q" in error["message"]  # the API's schema bounds q (200 characters), as the query layer does
    assert_error(api.get("/insights", as_="priya", query_string={"q": text}), 422, "invalid_input")
    lotte = web("lotte")
    for page in ("/opportunities", "/evidence", "/board"):
        response = lotte.get(page, query_string={"q": text})
        assert response.status_code in (200, 400), page  # the page, with the message by the filters
        assert "the search is too long" in response.get_data(as_text=True), page


def test_more_words_add_no_statement(example_db, api):
    def statements(q):
        with StatementCounter(example_db.engine) as counter:
            assert api.get("/opportunities", as_="priya", query_string={"q": q}).status_code == 200
        return counter.count

    statements("porting")  # the first request of the test warms the per-process caches
    assert statements("porting") == statements(" ".join(["ports", "porting", "ported", "port"] * 3))
