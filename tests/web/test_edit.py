"""Editing an opportunity and its solutions in place, recording outcomes and evaluating (Flask test client)."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import Opportunity, Solution
from govern.services.opportunities import update_opportunity
from tests.conftest import actor


def _form(opp_key: str, client, **changes) -> dict:
    html = client.get(f"/opportunities/{opp_key}/edit").get_data(as_text=True)
    import re

    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    seen = re.search(r'name="seen" value="(\d+)"', html).group(1)
    data = {"title": "How might we keep switchers informed while their number ports?", "description": "",
            "owner": "lotte", "journeys": ["switching-providers", "moving-house"],
            "insights": ["INS-1", "INS-2", "INS-3", "INS-4"], "kpis": ["porting-csat", "porting-tickets"],
            "version": version, "seen": seen}
    data.update(changes)
    return data


def test_an_edit_saves_and_is_described_in_words_in_the_history(web, example_db):
    lotte = web("lotte")
    response = lotte.post("/opportunities/OPP-1/edit", _form("OPP-1", lotte, title="How might we tell switchers "
                                                                                  "when their number moves?"))
    assert response.status_code == 302
    html = lotte.get("/opportunities/OPP-1").get_data(as_text=True)
    assert "Lotte de Vries</strong> edited it" in html and "statement:" in html
    assert "opportunity.updated" not in html


def test_a_stale_edit_is_refused_with_who_changed_what_and_the_typed_text_kept(web, example_db):
    lotte = web("lotte")
    data = _form("OPP-1", lotte, title="How might we tell switchers when their number moves?")
    with example_db.session_scope() as s:
        update_opportunity(s, actor(s, "marco"), "OPP-1", owner="femke")
    response = lotte.post("/opportunities/OPP-1/edit", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Marco Rossi" in html and "Femke Jansen" in html
    assert "How might we tell switchers when their number moves?" in html
    assert '<option value="femke" selected>' in html  # she did not touch the owner: theirs is shown
    with example_db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 1))
        assert opp.title.startswith("How might we keep switchers informed")  # nothing of hers written yet


def test_an_edit_with_no_journey_names_the_field_and_keeps_the_input(web):
    lotte = web("lotte")
    response = lotte.post("/opportunities/OPP-1/edit", _form("OPP-1", lotte, journeys=[], title="Kept text"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="journeys-error"' in html and "Kept text" in html


def test_a_supporter_cannot_open_the_edit_form(web):
    response = web("priya").get("/opportunities/OPP-3/edit")
    assert response.status_code == 403


def test_a_solution_is_marked_delivered_and_a_bad_state_is_refused(web, example_db):
    femke = web("femke")
    with example_db.session_scope() as s:
        solution_id = s.scalar(sa.select(Solution.id).join(Opportunity).where(Opportunity.number == 3).limit(1))
    assert femke.post(f"/opportunities/OPP-3/solutions/{solution_id}", {"state": "done"}).status_code == 302
    response = femke.post(f"/opportunities/OPP-3/solutions/{solution_id}", {"state": "shipped"})
    assert response.status_code == 422 and "one of todo, in_progress, done" in response.get_data(as_text=True)
    assert femke.post("/opportunities/OPP-1/solutions/999999", {"state": "done"}).status_code == 404
    with example_db.session_scope() as s:
        assert s.get(Solution, solution_id).state == "done"


def test_a_measurement_for_a_kpi_the_opportunity_does_not_target_is_refused(web):
    noah = web("noah")
    response = noah.post("/opportunities/OPP-4/measurements", {"kpi": "porting-csat", "value": "4"})
    assert response.status_code == 422 and "does not target" in response.get_data(as_text=True)
    response = noah.post("/opportunities/OPP-4/measurements", {"kpi": "help-ces", "value": "lots"})
    assert response.status_code == 422 and "lots" in response.get_data(as_text=True)
