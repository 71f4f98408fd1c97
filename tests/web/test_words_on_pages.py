"""Single wording defects the sweep cannot name generically (issue 28, part 5): a KPI's scale by its label, solution
states in one vocabulary (history included), the organisation on the calendar page."""

from __future__ import annotations

import re

import sqlalchemy as sa

from govern.model import Kpi, Opportunity
from govern.workflows.services import record_solution_progress
from tests.conftest import actor
from tests.web.conftest import WebClient


def test_the_kpi_page_names_the_scale_by_its_label(example_app, example_db):
    with example_db.session_scope() as s:
        key = s.scalar(sa.select(Kpi.key).where(Kpi.scale == "csat5").limit(1))
    assert key is not None
    page = WebClient(example_app.test_client()).sign_in("lotte").get(f"/kpis/{key}/measurements").get_data(as_text=True)
    assert "CSAT (1-5)" in page and "scale csat5" not in page


def test_solution_states_read_the_same_on_the_page_and_in_the_history(example_app, example_db):
    with example_db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.solutions.any(), Opportunity.state == "implement")
                       .limit(1))
        key, solution = opp.key, next(x for x in opp.solutions if x.state == "todo")
        record_solution_progress(s, actor(s, "marco"), solution.id, "in_progress")
    page = WebClient(example_app.test_client()).sign_in("marco").get(f"/opportunities/{key}").get_data(as_text=True)
    text = re.sub(r"<[^>]+>", " ", page)
    assert "To do → In progress" in re.sub(r"\s+", " ", text)
    assert "Todo" not in text


def test_the_calendar_page_names_the_organisation(example_app):
    page = WebClient(example_app.test_client()).sign_in("lotte").get("/playbook/calendar").get_data(as_text=True)
    assert "Telco Nova" in page
