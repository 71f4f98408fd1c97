"""Triage and curation in the web app: the triage page with suggested steps and one-click linking (in Chromium and
through the test client), counts on the evidence page, the edit page (edit, merge, delete refused naming the
opportunity) and the double-submitted form that must not make two identical insights (INS-33/INS-34)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from govern.model import Insight
from govern.services.evidence import record_evidence

from tests.conftest import actor

WAITING = "My number transfer is still pending after a week, the donor operator says nothing"


def _waiting(example_db, who="lotte", text=WAITING) -> str:
    with example_db.session_scope() as s:
        return record_evidence(s, actor(s, who), text=text, source="Zendesk ticket 901", kind="ticket").key


def _count(example_db) -> int:
    with example_db.session_scope() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Insight))


@pytest.mark.browser
def test_a_coordinator_links_a_triage_item_to_a_suggested_step_in_one_click(page_as, example_db):
    key = _waiting(example_db)
    page = page_as("lotte")
    page.goto("/evidence")
    page.locator("#triage-link").click()
    page.wait_for_url("**/evidence/triage")
    item = page.locator(f"li#{key}")
    button = item.get_by_role("button", name=re.compile(r"Link to .*Port my number"))
    assert "suggestion" in item.inner_text()
    button.first.click()
    page.wait_for_url("**/evidence/triage?page=1")
    assert page.locator(f"li#{key}").count() == 0
    assert f"{key} is linked to" in page.inner_text("body")
    assert not page.console_errors
    with example_db.session_scope() as s:
        insight = s.scalar(sa.select(Insight).where(Insight.number == int(key.split("-")[1])))
        assert [st.key for st in insight.steps] == ["port-number"]


def test_the_evidence_page_counts_what_waits_in_triage(web, example_db):
    _waiting(example_db)
    html = web("lotte").get("/evidence").get_data(as_text=True)
    assert re.search(r'id="triage-link">Triage <span class="count">1</span>', html)
    assert web("tom").get("/evidence").get_data(as_text=True).count('<span class="count">0</span>') == 1


def test_a_double_submitted_form_does_not_silently_make_two_identical_insights(web, example_db):
    lotte = web("lotte")
    form = {"text": "The porting SMS never came", "source": "Porting survey", "kind": "survey",
            "observed_on": "2026-10-01", "then": "list", "steps": "switching-providers/port-number"}
    before = _count(example_db)
    assert lotte.post("/evidence/new", form).status_code == 302
    again = lotte.post("/evidence/new", form)  # the second click of a double-click
    assert again.status_code == 409
    assert 'id="duplicate-warning"' in again.get_data(as_text=True)
    assert _count(example_db) == before + 1
    assert lotte.post("/evidence/new", {**form, "duplicate_ok": "1"}).status_code == 302  # "Record anyway"
    assert _count(example_db) == before + 2


def test_the_edit_page_edits_merges_and_refuses_to_delete_an_opportunitys_only_evidence(web, example_db):
    marco = web("marco")
    a, b = _waiting(example_db), _waiting(example_db, text=WAITING + "!")
    page = marco.get(f"/evidence/{a}/edit")
    assert page.status_code == 200 and "suggestion" in page.get_data(as_text=True)
    saved = marco.post(f"/evidence/{a}/edit", {"text": WAITING, "source": "Zendesk ticket 901", "kind": "ticket",
                                               "observed_on": "2026-10-02", "url": "", "volume": "7",
                                               "sentiment": "-1", "tags": "porting", "personas": "switcher"})
    assert saved.status_code == 302
    bad = marco.post(f"/evidence/{a}/edit", {"text": WAITING, "source": "Zendesk ticket 901", "kind": "ticket",
                                             "observed_on": "2026-10-02", "volume": "lots", "sentiment": "9"})
    assert bad.status_code == 422 and 'id="volume-error"' in bad.get_data(as_text=True)
    merged = marco.post(f"/evidence/{a}/merge", {"into": b})
    assert merged.status_code == 302 and merged.headers["Location"].endswith(f"/evidence/{b}/edit")
    assert marco.post(f"/evidence/{a}/merge", {"into": a}).status_code in (409, 422)
    refused = marco.post("/evidence/INS-22/delete", {"reason": "duplicate"})
    assert refused.status_code == 409 and "only evidence of OPP-" in refused.get_data(as_text=True)
    assert marco.get("/evidence/INS-9999/edit").status_code == 404
    with example_db.session_scope() as s:
        survivor = s.scalar(sa.select(Insight).where(Insight.number == int(b.split("-")[1])))
        assert survivor.volume == 8


def test_a_supporter_cannot_delete_someone_elses_insight_in_the_web_app(web, example_db):
    key = _waiting(example_db, who="lotte")
    tom = web("tom")
    assert "Delete" not in tom.get(f"/evidence/{key}/edit").get_data(as_text=True).split("<h2>")[-1][:20]
    assert tom.post(f"/evidence/{key}/delete", {"reason": "not mine"}).status_code == 403
    assert _count(example_db) > 0 and web("lotte").post(f"/evidence/{key}/delete",
                                                         {"reason": "typo"}).status_code == 302


def test_the_themes_page_groups_evidence_and_links_a_theme_in_one_post(web, example_db):
    keys = [_waiting(example_db, text=t) for t in (
        "Porting my number took two weeks", "The number porting is stuck", "Porting failed twice, number lost",
        "My invoice doubled this month", "The bill shows charges I do not understand", "Invoice charges are wrong")]
    lotte = web("lotte")
    html = lotte.get("/evidence/themes").get_data(as_text=True)
    assert "suggestion" in html and "grouped" in html
    linked = lotte.post("/evidence/themes/link", {"insights": keys[:3], "step": "switching-providers/port-number"})
    assert linked.status_code == 302
    with example_db.session_scope() as s:
        steps = {i.key: [st.key for st in i.steps] for i in s.scalars(
            sa.select(Insight).where(Insight.number.in_([int(k.split("-")[1]) for k in keys])))}
    assert all(steps[k] == ["port-number"] for k in keys[:3]) and all(not steps[k] for k in keys[3:])
