"""One number, one meaning (issue 28, part 3): what backs an opportunity is counted by the rule its guards use, the
inbox computes the facts it shows, a strength score says it is one, and a model without its inputs scores nothing."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from govern.model import Opportunity, Setting
from govern.scoring import rank_portfolio
from govern.services.evidence import record_evidence
from govern.services.opportunities import create_opportunity
from govern.workflows.services import facts_for, request_transition
from tests.conftest import actor
from tests.web.conftest import WebClient


def test_the_inbox_counts_the_evidence_of_a_request_whose_guards_do_not_read_it(example_app, example_db):
    """OPP-2's implement guards read no evidence; its card said "Evidence 0 pieces"."""
    with example_db.session_scope() as s:
        request_transition(s, actor(s, "marco"), "OPP-2", "implement", reason="agreed in the council review")
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 2))
        pieces = len(opp.insights)
    assert pieces > 0
    page = WebClient(example_app.test_client()).sign_in("femke").get("/approvals").get_data(as_text=True)
    card = re.search(r'data-testid="request-evidence">(.*?)</p>', page, re.S).group(1)
    assert f"<strong>{pieces} pieces of evidence from" in card
    assert "Evidence</span> <strong>0" not in page


def test_the_evidence_header_counts_journeys_as_the_guard_does(example_app, example_db):
    """Evidence from a journey and from a journey nested in it is evidence from one journey, for the guard and for
    the header alike."""
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        keys = [record_evidence(s, lotte, text=text, source=source, steps=[step]).key
                for text, source, step in (("Porting took three days", "survey", "switching-providers/port-number"),
                                           ("The QR code would not scan", "app review", "activating-my-sim/scan-qr"),
                                           ("My number was gone a day", "tickets", "switching-providers/port-number"))]
        opp = create_opportunity(s, lotte, title="How might we make porting painless?",
                                 journeys=["switching-providers"], insights=keys)
        facts = facts_for(s, opp)
        key = opp.key
    assert (facts.evidence_count, facts.evidence_journey_count) == (3, 1)
    page = WebClient(example_app.test_client()).sign_in("lotte").get(f"/opportunities/{key}").get_data(as_text=True)
    header = re.search(r'data-testid="evidence-tally">\((.*?)\)</span>', page).group(1)
    assert header == "3 pieces of evidence from 1 journey"
    assert "a journey inside another counts as that one" in page


def test_the_agenda_labels_evidence_strength_as_a_score_out_of_100(example_db):
    from govern.model import Ritual
    from govern.rituals.agenda import approvals_section

    with example_db.session_scope() as s:
        request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="evidence is in")
        assert s.scalar(sa.select(Ritual.id).limit(1)) is not None
        items = approvals_section(s, None, dt.datetime.now(dt.timezone.utc))
    text = next(i["text"] for i in items if i["ref"] == "OPP-1")
    assert re.search(r"evidence strength \d+/100", text), text
    assert not re.search(r"evidence \d", text)


def _weighted_model_nobody_scored(s) -> None:
    s.execute(sa.update(Setting).where(Setting.key == "scoring").values(value={
        "default": "council", "models": {"council": {"kind": "weighted", "criteria": {
            "time_criticality": 2, "evidence_strength": 1}}}}))
    s.commit()


def test_an_opportunity_missing_an_input_is_not_scored_never_the_middle_of_the_scale(example_app, example_db):
    """No opportunity has a time criticality recorded: the weighted model gave each the default 50 and ranked them."""
    with example_db.session_scope() as s:
        _weighted_model_nobody_scored(s)
        rows = rank_portfolio(s, explain=False)
        explained = rank_portfolio(s)
    assert rows and all(r["score"] is None and r["rank"] is None for r in rows)
    assert all(r["missing"] == ["time_criticality"] for r in rows)
    assert all(r["missing"] == ["time_criticality"] for r in explained)
    web = WebClient(example_app.test_client()).sign_in("lotte")
    board = web.get("/board").get_data(as_text=True)
    assert "not scored" in board and '<span class="score-label">Score</span>' not in board
    page = web.get("/opportunities/OPP-1").get_data(as_text=True)
    assert "Not scored yet: missing Time criticality" in page


def test_the_api_and_the_cli_say_not_scored_and_what_is_missing(example_app, example_db, tmp_path):
    from tests.api.conftest import ApiClient
    from tests.conftest import cli_invoker

    with example_db.session_scope() as s:
        _weighted_model_nobody_scored(s)
    ranking = ApiClient(example_app, example_db).get("/ranking?explain=false", as_="lotte")
    assert ranking.status_code == 200, ranking.json
    assert all(r["score"] is None and r["missing"] == ["time_criticality"] for r in ranking.json)
    output = cli_invoker(example_db, tmp_path)("rank").output
    assert "not scored" in output and "needs time_criticality" in output
