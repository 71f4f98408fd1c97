"""Every entry point reads states the lifecycle's way on the hospital organisation, whose state names are not the
default's (intake, safety_review, …, on_hold parked, closed and declined final): board columns, agenda sections,
maturity, the API's filters and the playbook."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from govern.maturity import maturity_reading
from govern.model import Ritual
from govern.rituals import agenda as agenda_mod
from tests.api.conftest import ApiClient
from tests.web.conftest import WebClient

OPEN_ROLES = ("in_intake", "awaiting_design_approval", "in_pilot", "in_outcome_review")


def test_api_filters_open_opportunities_and_journey_subtrees(hospital_app, hospital_db, hospital_keys):
    api = ApiClient(hospital_app, hospital_db)

    def keys(path):
        response = api.get(path, as_="lin")
        assert response.status_code == 200, response.get_data(as_text=True)
        return {o["key"] for o in response.get_json()}

    assert keys("/opportunities?open=true") == {hospital_keys[r] for r in OPEN_ROLES}
    assert keys("/opportunities") == set(hospital_keys.values())
    assert keys("/opportunities?journey=going-home") == {
        hospital_keys[r] for r in ("in_pilot", "in_outcome_review", "on_hold", "closed")}  # and the letter below
    assert keys("/opportunities?state=on_hold") == {hospital_keys["on_hold"]}
    assert api.get("/opportunities?journey=no-such-journey", as_="lin").status_code == 404


def test_board_columns_are_the_lifecycle_states_in_order(hospital_app, hospital_keys):
    web = WebClient(hospital_app.test_client()).sign_in("grace")
    html = web.get("/board").get_data(as_text=True)
    assert re.findall(r'data-state="([a-z_]+)"', html) == [
        "intake", "safety_review", "design", "pilot", "outcome_review", "on_hold", "closed", "declined"]


def test_agenda_sections_know_open_parked_and_final_states(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        ritual = s.scalar(sa.select(Ritual).where(Ritual.key == "weekly-safety-huddle"))
        ritual.settings = {"stale_after_days": 1}
        s.commit()
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10)
        agenda = agenda_mod.build_agenda(s, ritual, later, now=later)
    sections = {x["key"]: [i.get("ref") for i in x["items"]] for x in agenda["sections"]}
    assert set(sections["stale"]) == {hospital_keys[r] for r in OPEN_ROLES}  # never on_hold, closed or declined
    assert sections["approvals"] == [hospital_keys["awaiting_design_approval"]]
    assert sections["evaluations_due"] == []  # the outcome review is due in 30 days, not 10


def test_maturity_counts_open_opportunities_by_state_kind(hospital_db):
    with hospital_db.session_scope() as s:
        reading = maturity_reading(s)
    assert reading.counts["open_opportunities"]["total"] == len(OPEN_ROLES)


def test_playbook_lists_open_opportunities_and_names_states_by_title(hospital_db, hospital_keys):
    from govern.playbook.build import build_markdown
    from govern.playbook.data import collect

    with hospital_db.session_scope() as s:
        pb = collect(s, as_of=dt.datetime.now(dt.timezone.utc))
    assert pb.open_states == ["intake", "safety_review", "design", "pilot", "outcome_review"]
    assert pb.open_count == len(OPEN_ROLES)
    lifecycle = build_markdown(pb)["lifecycle.md"].decode()
    assert "Clinical safety review" in lifecycle and "put aside for now" in lifecycle


def test_state_badges_and_chart_colours_follow_state_kinds_not_names(hospital_app, hospital_keys):
    web = WebClient(hospital_app.test_client()).sign_in("grace")
    html = web.get("/opportunities").get_data(as_text=True)
    badges = dict((title, classes) for classes, title in re.findall(r'<span class="state ([^"]+)">([^<]+)</span>', html))
    classes = set(badges.values())
    assert {"state-kind-active state-nth-0", "state-kind-evaluation state-nth-0", "state-kind-parked state-nth-0",
            "state-kind-final state-nth-0"} <= classes
    assert not any(name in c for c in classes for name in ("on_hold", "closed", "intake"))
    charts = web.get("/charts").get_data(as_text=True)
    assert "#6d4c41" in charts  # the parked state's colour, though no state here is called "parked"


def test_slack_lists_show_state_titles_with_their_kinds_emoji(hospital_db, hospital_keys):
    from govern.integrations.slack import blocks
    from govern.model import Opportunity
    from govern.queries.states import state_catalog

    with hospital_db.session_scope() as s:
        opps = list(s.scalars(sa.select(Opportunity).order_by(Opportunity.number)))
        lines = {o.key: blocks.opportunity_line(o, state_catalog(s)) for o in opps}
    assert ":parking: On hold" in lines[hospital_keys["on_hold"]]
    assert ":bar_chart:" in lines[hospital_keys["in_outcome_review"]]
    assert ":checkered_flag:" in lines[hospital_keys["closed"]]
    assert ":hammer_and_wrench:" in lines[hospital_keys["in_intake"]]
    assert not any("on_hold" in line or "outcome_review" in line for line in lines.values())  # titles, not names
