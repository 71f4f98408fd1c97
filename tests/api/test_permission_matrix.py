"""Every role × every action in govern.policy.ACTIONS, through the REST API, against the example organisation.

For each action there is one HTTP request that exercises it (ACTION_REQUESTS; a new action without a request fails
test_every_action_has_a_request). Each person of Telco Nova (plus an admin-only person and a seatless viewer) sends
it; scoped actions are sent against two journeys: `setting-up-direct-debit` (owner tom, inside femke's coordinator
and tom's supporter seats) and `getting-help` (owner noah, coordinator noah, supporter iris).

What is expected is read from the policy table itself, with the roles each person holds computed here from the data
(seats, ownership, admin flag), independently of govern.services.common.load_actor: allowed ↔ 2xx, denied ↔ 403 in
the one error shape.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Callable

import pytest
import sqlalchemy as sa

from govern import notifications
from govern.orgfile.load import examples_dir
from govern.model import (
    ApprovalRequest, CouncilSeat, Journey, Opportunity, OutboxMessage, Person, Ritual, RitualOccurrence,
)
from govern.policy import ACTIONS, ROLES, Scope
from govern.services.common import get_journey, load_actor
from govern.services.evidence import record_evidence
from govern.services.opportunities import create_opportunity
from govern.services.people import create_person, set_password

from .conftest import ApiClient, assert_error

# The people who walk the matrix: the example organisation, an admin who holds nothing else, and a plain viewer.
PEOPLE = ["ana", "ada", "marco", "lotte", "femke", "sam", "noah", "priya", "tom", "iris", "vera"]
# Two journeys with different owners, coordinators and supporters, for the scoped roles.
TARGETS = ["setting-up-direct-debit", "getting-help"]
# The KPI of each target journey (kpi.measure is scoped to the KPI's journey).
TARGET_KPI = {"setting-up-direct-debit": "direct-debit-share", "getting-help": "first-contact-resolution"}


@dataclass
class Case:
    """One request to send: made by `build(ctx)`, after `setup(ctx)` prepared what it needs (as the operator)."""

    handle: str
    journey: str
    n: int
    db: object
    made: dict = field(default_factory=dict)

    def key(self, prefix: str) -> str:
        return f"{prefix}{self.n}"


def _operator():
    from govern.policy import Actor

    return Actor.system_actor("matrix-setup")


def _opportunity_on(case: Case) -> str:
    """A fresh opportunity touching only the target journey, in research."""
    with case.db.session_scope() as s:
        opp = create_opportunity(s, _operator(), title=f"How might we test permissions #{case.n}?",
                                 journeys=[case.journey])
        return opp.key


def _setup_opportunity(case: Case) -> None:
    case.made["opp"] = _opportunity_on(case)


def _setup_new_person(case: Case) -> None:
    with case.db.session_scope() as s:
        create_person(s, _operator(), handle=case.key("newcomer"), name="New Comer")


def _setup_orphan_insight(case: Case) -> None:
    with case.db.session_scope() as s:
        case.made["insight"] = record_evidence(s, _operator(), text="A duplicate note", source="matrix",
                                               kind="other").key


# A step of each target journey (evidence.curate is scoped to the journeys of the insight's steps).
TARGET_STEP = {"setting-up-direct-debit": "setting-up-direct-debit/enter-iban", "getting-help": "getting-help/search-help"}


def _setup_insight_on_journey(case: Case) -> None:
    with case.db.session_scope() as s:
        case.made["insight"] = record_evidence(s, _operator(), text="The IBAN field rejects spaces", source="matrix",
                                               kind="other", steps=[TARGET_STEP[case.journey]]).key


def _setup_approval_request(case: Case) -> None:
    """A pending request whose rule names exactly who the policy lets approve (any lead, any manager, the owner of
    every journey it touches); quorums of two keep one approval from completing it (no guards involved)."""
    key = _opportunity_on(case)
    with case.db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == int(key.split("-")[1])))
        request = ApprovalRequest(opportunity_id=opp.id, trigger="prioritise", from_state=opp.state,
                                  to_state="prioritise", requested_by_id=None, reason="matrix",
                                  rule={"all_of": [{"quorum": {"role": "lead", "n": 2}},
                                                   {"quorum": {"role": "manager", "n": 2}},
                                                   {"owners": "all"}]},
                                  status="pending")
        s.add(request)
        s.commit()
        case.made["request"] = request.id


def _setup_dead_message(case: Case) -> None:
    """A message from a real producer (an admin resets a newcomer's password: the newcomer is notified), which the
    chat tool then refused for good (a fault injected on the producer's own row)."""
    with case.db.session_scope() as s:
        newcomer = create_person(s, _operator(), handle=case.key("reset"), name="Reset Newcomer").handle
        set_password(s, load_actor(s, "ada"), newcomer, "a-new-password-for-the-matrix")
        message = s.scalar(sa.select(OutboxMessage).where(OutboxMessage.topic == notifications.TOPIC)
                           .order_by(OutboxMessage.id.desc()).limit(1))
        assert message.payload["about"] == {"person": newcomer}
        message.status, message.last_error = "dead", "channel_not_found"
        s.commit()
        case.made["message"] = message.id


def _setup_occurrence(case: Case) -> None:
    with case.db.session_scope() as s:
        ritual = s.scalar(sa.select(Ritual).where(Ritual.key == "weekly-council-review"))
        occurrence = RitualOccurrence(ritual_id=ritual.id, status="planned",
                                      scheduled_at=dt.datetime(2030, 1, 1, 9) + dt.timedelta(days=7 * case.n))
        s.add(occurrence)
        s.commit()
        case.made["occurrence"] = occurrence.id


def _setup_ritual_feed(case: Case) -> None:
    from govern.rituals.services import create_calendar_token

    with case.db.session_scope() as s:
        case.made["feed"] = create_calendar_token(s, _operator(), ritual="weekly-council-review").token.id


@dataclass(frozen=True)
class ActionRequest:
    method: str
    path: Callable[[Case], str]
    body: Callable[[Case], dict | None] = lambda c: None
    setup: Callable[[Case], None] | None = None
    scoped_by_journey: bool = False  # the action is checked against the target journey


ACTION_REQUESTS: dict[str, ActionRequest] = {
    "read": ActionRequest("GET", lambda c: "/opportunities?state=research"),
    "token.manage_own": ActionRequest("POST", lambda c: "/tokens", lambda c: {"name": f"laptop {c.n}"}),
    "person.manage": ActionRequest("POST", lambda c: "/people",
                                   lambda c: {"handle": c.key("person"), "name": "Ruben Newcomer"}),
    "council.manage": ActionRequest("POST", lambda c: "/council/seats",
                                    lambda c: {"person": c.key("newcomer"), "role": "supporter",
                                               "journey": "paying-my-bill"}, setup=_setup_new_person),
    "person.grant_admin": ActionRequest("PATCH", lambda c: f"/people/{c.key('newcomer')}",
                                        lambda c: {"is_admin": True}, setup=_setup_new_person),
    "person.set_password": ActionRequest("PUT", lambda c: f"/people/{c.key('newcomer')}/password",
                                         lambda c: {"password": "a temporary one"}, setup=_setup_new_person),
    "council.seat_lead": ActionRequest("POST", lambda c: "/council/seats",
                                       lambda c: {"person": c.key("newcomer"), "role": "lead"},
                                       setup=_setup_new_person),
    "council.seat_manager": ActionRequest("POST", lambda c: "/council/seats",
                                          lambda c: {"person": c.key("newcomer"), "role": "manager"},
                                          setup=_setup_new_person),
    "journey.manage": ActionRequest("POST", lambda c: "/journeys",
                                    lambda c: {"key": c.key("journey"), "name": "Upgrading my router",
                                               "level": "micro", "parent": "getting-connected"}),
    "journey.edit": ActionRequest("POST", lambda c: f"/journeys/{c.journey}/stages",
                                  lambda c: {"key": c.key("stage"), "name": "Afterwards"}, scoped_by_journey=True),
    "persona.manage": ActionRequest("POST", lambda c: "/personas",
                                    lambda c: {"key": c.key("persona"), "name": "The night owl"}),
    "kpi.manage": ActionRequest("POST", lambda c: "/kpis",
                                lambda c: {"key": c.key("kpi"), "name": "Repeat calls", "kind": "business",
                                           "scale": "count", "min": 0, "max": 1000, "journey": c.journey}),
    "kpi.measure": ActionRequest("POST", lambda c: f"/kpis/{TARGET_KPI[c.journey]}/measurements",
                                 lambda c: {"value": 50 + c.n % 40,
                                            "measured_at": (dt.date(2027, 1, 1) + dt.timedelta(days=c.n)).isoformat()},
                                 scoped_by_journey=True),
    "evidence.record": ActionRequest("POST", lambda c: "/insights",
                                     lambda c: {"text": "I could not find the outage map", "source": "interview",
                                                "kind": "interview", "steps": ["getting-help/search-help"]}),
    "evidence.link": ActionRequest("POST", lambda c: "/insights/INS-7/steps",
                                   lambda c: {"steps": ["getting-help/search-help"]}),
    "evidence.curate": ActionRequest("PATCH", lambda c: f"/insights/{c.made['insight']}",
                                     lambda c: {"volume": 2 + c.n}, setup=_setup_insight_on_journey,
                                     scoped_by_journey=True),
    "evidence.delete": ActionRequest("POST", lambda c: f"/insights/{c.made['insight']}/redaction",
                                     lambda c: {"reason": "personal data"}, setup=_setup_orphan_insight),
    "opportunity.create": ActionRequest("POST", lambda c: "/opportunities",
                                        lambda c: {"title": "How might we answer before the customer asks?",
                                                   "journeys": [c.journey]}),
    "opportunity.edit": ActionRequest("PATCH", lambda c: f"/opportunities/{c.made['opp']}",
                                      lambda c: {"description": "sharper statement"}, setup=_setup_opportunity,
                                      scoped_by_journey=True),
    "opportunity.score": ActionRequest("POST", lambda c: f"/opportunities/{c.made['opp']}/score/inputs",
                                       lambda c: {"inputs": {"reach": 1000 + c.n}}, setup=_setup_opportunity,
                                       scoped_by_journey=True),
    "solution.manage": ActionRequest("POST", lambda c: f"/opportunities/{c.made['opp']}/solutions",
                                     lambda c: {"title": "Proactive SMS"}, setup=_setup_opportunity,
                                     scoped_by_journey=True),
    "transition.request": ActionRequest("POST", lambda c: f"/opportunities/{c.made['opp']}/transitions",
                                        lambda c: {"to": "parked", "reason": "waiting for the new app"},
                                        setup=_setup_opportunity, scoped_by_journey=True),
    "transition.approve": ActionRequest("POST", lambda c: f"/approvals/{c.made['request']}/approve",
                                        lambda c: {"reason": "agreed"}, setup=_setup_approval_request,
                                        scoped_by_journey=True),
    "transition.withdraw": ActionRequest("POST", lambda c: f"/approvals/{c.made['request']}/withdraw",
                                         lambda c: {"reason": "asked twice"}, setup=_setup_approval_request),
    "ritual.manage": ActionRequest("DELETE", lambda c: f"/calendar-tokens/{c.made['feed']}",
                                   setup=_setup_ritual_feed),
    "ritual.record": ActionRequest("POST", lambda c: f"/occurrences/{c.made['occurrence']}/skip",
                                   lambda c: {"reason": "half the council is away"}, setup=_setup_occurrence),
    "outbox.manage": ActionRequest("POST", lambda c: f"/outbox/messages/{c.made['message']}/retry",
                                   setup=_setup_dead_message),
    "integration.sync": ActionRequest("POST", lambda c: "/integrations/jira/sync", lambda c: {"dry_run": True}),
    "config.apply": ActionRequest("POST", lambda c: "/config/apply",
                                  lambda c: {"yaml": (examples_dir() / "telecom" / "govern.yaml").read_text(),
                                             "dry_run": True}),
}


# --- the oracle: roles and their reach, straight from the data ----------------------------------------------------------


def held_roles(session, handle: str) -> dict[str, set[int] | None]:
    """role → journey ids it covers (None: everywhere), computed from seats, ownership and the admin flag."""
    person = session.scalar(sa.select(Person).where(Person.handle == handle))
    parents = dict(session.execute(sa.select(Journey.id, Journey.parent_id)).all())

    def subtree(root: int) -> set[int]:
        out = {root}
        changed = True
        while changed:
            changed = False
            for jid, parent in parents.items():
                if parent in out and jid not in out:
                    out.add(jid)
                    changed = True
        return out

    roles: dict[str, set[int] | None] = {"viewer": None}
    if person.is_admin:
        roles["admin"] = None
    for seat in session.scalars(sa.select(CouncilSeat).where(CouncilSeat.person_id == person.id)):
        if seat.journey_id is None or roles.get(seat.role, set()) is None:
            roles[seat.role] = None
        else:
            roles.setdefault(seat.role, set()).update(subtree(seat.journey_id))
    owned = set(session.scalars(sa.select(Journey.id).where(Journey.owner_id == person.id)))
    if owned:
        roles["owner"] = owned
    return roles


def expected_allowed(roles: dict[str, set[int] | None], action: str, journey_id: int | None) -> bool:
    for role, reach in roles.items():
        scope = ACTIONS[action][1].get(role)
        if scope is Scope.ALL:
            return True
        if scope is Scope.SCOPED and journey_id is not None and (reach is None or journey_id in reach):
            return True
    return False


# --- the test -----------------------------------------------------------------------------------------------------------


def test_every_action_has_a_request():
    """A new action in the policy table must come with a request here, or this fails."""
    missing = sorted(set(ACTIONS) - set(ACTION_REQUESTS))
    assert not missing, f"add an HTTP request to ACTION_REQUESTS for: {', '.join(missing)}"
    assert not set(ACTION_REQUESTS) - set(ACTIONS), "ACTION_REQUESTS names actions the policy does not have"


def test_the_matrix_people_cover_every_role(matrix_people):
    with matrix_people.session_scope() as s:
        covered = set().union(*(held_roles(s, h) for h in PEOPLE))
    assert covered == set(ROLES)


@pytest.fixture
def matrix_people(example_db):
    with example_db.session_scope() as s:
        operator = _operator()
        create_person(s, operator, handle="ada", name="Ada Admin", is_admin=True)
        create_person(s, operator, handle="vera", name="Vera Viewer")
    return example_db


@pytest.fixture
def jira_standin():
    from tests.standins.jira import JiraStandIn

    fake = JiraStandIn("Cloud")
    fake.serve()
    yield fake
    fake.stop()


def _served(app, method: str, path: str) -> bool:
    adapter = app.url_map.bind("localhost")
    try:
        adapter.match(f"/api/v1{path.split('?')[0]}", method=method)
    except Exception:  # noqa: BLE001 - NotFound / MethodNotAllowed
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_role_by_action(action, matrix_people, tmp_path, request):
    from govern.app import create_app
    from tests.conftest import make_config

    db = matrix_people
    spec = ACTION_REQUESTS[action]
    overrides = {}
    if action == "integration.sync":
        fake = request.getfixturevalue("jira_standin")
        overrides = {"jira_url": fake.base_url, "jira_user": fake.user, "jira_token": fake.token}
    app = create_app(make_config(db, tmp_path, **overrides), db=db)
    api = ApiClient(app, db)
    counter = itertools.count(1)
    probe = Case("ana", TARGETS[0], 0, db)
    if spec.setup is None and not _served(app, spec.method, spec.path(probe)):
        pytest.fail(f"{action}: {spec.method} {spec.path(probe)} is not served, so the action cannot be checked")
    with db.session_scope() as s:
        journey_ids = {key: get_journey(s, key).id for key in TARGETS}
        roles = {h: held_roles(s, h) for h in PEOPLE}
    targets = TARGETS if spec.scoped_by_journey else TARGETS[:1]
    outcomes, wrong = [], []
    for handle in PEOPLE:
        for journey in targets:
            case = Case(handle, journey, next(counter), db)
            if spec.setup:
                spec.setup(case)
            path = spec.path(case)
            if not _served(app, spec.method, path):
                pytest.fail(f"{action}: {spec.method} {path} is not served, so the action cannot be checked")
            response = api.call(spec.method, path, as_=handle, json=spec.body(case))
            allowed = expected_allowed(roles[handle], action, journey_ids[journey] if spec.scoped_by_journey
                                       else None)
            outcomes.append((handle, journey, allowed, response.status_code))
            if allowed and not 200 <= response.status_code < 300:
                wrong.append(f"{handle} on {journey}: expected 2xx, got {response.status_code} "
                             f"{response.get_data(as_text=True)[:300]}")
            elif not allowed:
                if response.status_code != 403:
                    wrong.append(f"{handle} on {journey}: expected 403, got {response.status_code} "
                                 f"{response.get_data(as_text=True)[:300]}")
                else:
                    error = assert_error(response, 403, "forbidden")
                    assert handle in error["message"]
    assert not wrong, f"{action}:\n" + "\n".join(wrong)
    # Both answers occur for every action except those everyone may do.
    everyone = all(ACTIONS[action][1].get(r) is Scope.ALL for r in ROLES)
    assert any(o[2] for o in outcomes)
    assert everyone or any(not o[2] for o in outcomes)
