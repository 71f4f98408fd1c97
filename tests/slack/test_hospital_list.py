"""`/journey list` on the hospital organisation: open means a state of kind active or evaluation in its lifecycle
(no fallback to the default's state names), and a journey means that journey and the journeys below it."""

from __future__ import annotations

import pytest

from tests.slack.support import said

KOFI, LIN, VISITOR = "U0KOFI001", "U0LIN0001", "U0VISITOR"


@pytest.fixture
def hospital_slack(hospital_db, shared_slack_app, slack_standin):
    from tests.standins.slack import SlackSide

    assert shared_slack_app.extensions["govern"].db is hospital_db
    for handle, user_id in (("kofi", KOFI), ("lin", LIN), ("visitor", VISITOR)):
        slack_standin.add_user(f"{handle}@riverside.example", handle, user_id=user_id)
    slack_standin.add_channel("general", members=(KOFI, LIN, VISITOR))
    adapter = shared_slack_app.extensions["govern"].adapters["slack"]
    adapter.directory.forget()
    adapter.inline_budget = 10.0
    yield SlackSide(slack_standin, "8f742231b10e8888abcd99yyyzzz85a5", channel_id=slack_standin.channel_id("general"))
    adapter.wait_idle()


def listed(slack, app, text, user=KOFI) -> str:
    status, answer, _ = slack.command(app.test_client(), text, user_id=user)
    assert status == 200
    return said(answer)


def test_list_shows_open_opportunities_by_state_kind(hospital_slack, shared_slack_app, hospital_keys):
    text = listed(hospital_slack, shared_slack_app, "list", user=VISITOR)  # no person: the whole open portfolio
    for role in ("in_intake", "awaiting_design_approval", "in_pilot", "in_outcome_review"):
        assert hospital_keys[role] in text, role
    for role in ("on_hold", "closed"):
        assert hospital_keys[role] not in text, role


def test_list_of_a_journey_covers_the_journeys_below_it(hospital_slack, shared_slack_app, hospital_keys):
    text = listed(hospital_slack, shared_slack_app, "list going-home")
    assert hospital_keys["in_pilot"] in text and hospital_keys["in_outcome_review"] in text
    assert hospital_keys["in_intake"] not in text and hospital_keys["on_hold"] not in text


def test_mine_lists_my_open_opportunities(hospital_slack, shared_slack_app, hospital_keys):
    text = listed(hospital_slack, shared_slack_app, "list mine")
    assert hospital_keys["in_pilot"] in text and hospital_keys["awaiting_design_approval"] not in text
