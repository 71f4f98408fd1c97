"""Finding 7: coordinators escape their scope. Every scoped write × moving its target out of the actor's scope.

Scoped writes (the `Scope.SCOPED` grants of govern.policy.ACTIONS) are checked against the journeys the target
touches before the edit AND after it; a scoped role may not change what ranks or routes a journey.
"""

from __future__ import annotations

import pytest

from govern.policy import ACTIONS, Scope
from govern.services.evidence import record_evidence
from govern.services.opportunities import update_opportunity

from .conftest import OPERATOR, assert_error, new_opportunity

# (person, a journey their scoped roles cover, a step on it, a journey outside their scope, a step on that one)
SCOPED_PEOPLE = [
    ("lotte", "switching-providers", "switching-providers/compare-offers", "getting-help", "getting-help/search-help"),
    ("noah", "getting-help", "getting-help/search-help", "switching-providers", "switching-providers/compare-offers"),
]


def _opportunity_of(api, journey, owner):
    return new_opportunity(api.db, [journey], owner=owner)


def escape_opportunity_journeys(api, who, mine, mine_step, outside, outside_step):
    key = _opportunity_of(api, mine, who)
    assert_error(api.patch(f"/opportunities/{key}", as_=who, json={"journeys": [outside]}), 403)
    assert api.get(f"/opportunities/{key}", as_=who).get_json()["journeys"] == [mine]


def pull_in_an_opportunity_from_outside(api, who, mine, mine_step, outside, outside_step):
    key = _opportunity_of(api, outside, None)
    assert_error(api.patch(f"/opportunities/{key}", as_=who, json={"journeys": [mine]}), 403)


def reroute_the_journey_channel(api, who, mine, mine_step, outside, outside_step):
    assert_error(api.patch(f"/journeys/{mine}", as_=who, json={"slack_channel": "#attacker"}), 403)


def change_the_journey_scoring_model(api, who, mine, mine_step, outside, outside_step):
    assert_error(api.patch(f"/journeys/{mine}", as_=who, json={"scoring_model": "ice"}), 403)


def move_the_journey_under_another(api, who, mine, mine_step, outside, outside_step):
    assert_error(api.patch(f"/journeys/{mine}", as_=who, json={"parent": outside}), 403)


def move_evidence_out_when_removing_a_step(api, who, mine, mine_step, outside, outside_step):
    with api.db.session_scope() as s:
        record_evidence(s, OPERATOR, text="Attack evidence", source="test", steps=[mine_step])
    journey, step = mine_step.split("/")
    assert_error(api.delete(f"/journeys/{journey}/steps/{step}?move_evidence_to={outside_step}", as_=who), 403)


def act_on_an_opportunity_moved_out_by_the_council(api, who, mine, mine_step, outside, outside_step):
    key = _opportunity_of(api, mine, who)
    with api.db.session_scope() as s:
        update_opportunity(s, OPERATOR, key, journeys=[outside])
    assert_error(api.patch(f"/opportunities/{key}", as_=who, json={"title": "How might we still edit this?"}), 403)
    assert_error(api.post(f"/opportunities/{key}/score/inputs", as_=who, json={"inputs": {"reach": 10}}), 403)
    assert_error(api.post(f"/opportunities/{key}/solutions", as_=who, json={"title": "Sneaky"}), 403)
    assert_error(api.post(f"/opportunities/{key}/transitions", as_=who,
                          json={"to": "parked", "reason": "out of scope"}), 403)


def curate_evidence_across_the_scope(api, who, mine, mine_step, outside, outside_step):
    with api.db.session_scope() as s:
        inside_key = record_evidence(s, OPERATOR, text="Evidence on my journey", source="test", steps=[mine_step]).key
        outside_key = record_evidence(s, OPERATOR, text="Evidence elsewhere", source="test", steps=[outside_step]).key
    assert_error(api.post(f"/insights/{inside_key}/merge", as_=who, json={"into": outside_key}), 403)
    assert_error(api.post(f"/insights/{outside_key}/merge", as_=who, json={"into": inside_key}), 403)
    assert_error(api.patch(f"/insights/{outside_key}", as_=who, json={"text": "Rewritten from outside"}), 403)
    assert api.get(f"/insights/{outside_key}", as_=who).get_json()["text"] == "Evidence elsewhere"


ESCAPES = {
    "evidence.curate": [curate_evidence_across_the_scope],
    "opportunity.edit": [escape_opportunity_journeys, pull_in_an_opportunity_from_outside],
    "journey.edit": [reroute_the_journey_channel, change_the_journey_scoring_model, move_the_journey_under_another,
                     move_evidence_out_when_removing_a_step],
    "opportunity.score": [act_on_an_opportunity_moved_out_by_the_council],
    "solution.manage": [act_on_an_opportunity_moved_out_by_the_council],
    "transition.request": [act_on_an_opportunity_moved_out_by_the_council],
    # kpi.measure: a KPI's journey is changed only with kpi.manage (council); transition.approve: the approvers are
    # fixed when the request is made (test_approval_binding.py).
    "kpi.measure": [],
    "transition.approve": [],
}


def test_every_scoped_write_has_its_escapes_listed():
    scoped = {action for action, (_, grants) in ACTIONS.items() if Scope.SCOPED in grants.values()}
    assert scoped == set(ESCAPES), scoped ^ set(ESCAPES)


@pytest.mark.parametrize("person", SCOPED_PEOPLE, ids=[p[0] for p in SCOPED_PEOPLE])
@pytest.mark.parametrize("attack", sorted({fn for fns in ESCAPES.values() for fn in fns}, key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_a_scoped_role_cannot_move_a_target_out_of_its_scope(api, person, attack):
    attack(api, *person)
