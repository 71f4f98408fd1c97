"""The permission section agrees with enforcement: generated from govern.policy.ACTIONS, and cross-checked against
`Actor.can` and the services for the real people of the example organisation, for every role × action."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from govern.errors import PermissionDenied
from govern.model import Journey
from govern.policy import ACTIONS, ROLES, Actor, Scope
from govern.services.common import load_actor
from govern.playbook import build

from .conftest import make_playbook

ROW = re.compile(r"^\| `(?P<action>[a-z_.]+)` \| (?P<description>.*?) \|(?P<cells>.*)$", re.M)


def table_rows(page: str) -> dict[str, list[str]]:
    rows = {}
    for match in ROW.finditer(page):
        rows[match["action"]] = [c.strip() for c in match["cells"].strip().strip("|").split(" | ")]
    return rows


def expected_cell(scope, role):
    return {Scope.ALL: "✓ everywhere", Scope.SCOPED: "✓ journeys they own" if role == "owner" else
            "✓ their journeys", None: "✗"}[scope]


def test_permission_table_is_the_policy_for_every_role_and_action(markdown_files):
    rows = table_rows(markdown_files["roles.md"].split("## <a id=\"permissions\">")[1].split("## ")[0])
    assert list(rows) == list(ACTIONS)
    for action, (description, grants) in ACTIONS.items():
        assert rows[action] == [expected_cell(grants.get(role), role) for role in ROLES], action


def _journey_ids(session) -> dict[str, int]:
    return dict(session.execute(sa.select(Journey.key, Journey.id)).all())


def test_each_persons_page_agrees_with_actor_can_for_every_action(example_db, markdown_files):
    with example_db.session_scope() as session:
        journeys = _journey_ids(session)
        handles = [p.split("/")[1][:-3] for p in markdown_files if p.startswith("people/")]
        assert len(handles) == 9
        for handle in handles:
            actor = load_actor(session, handle)
            rows = table_rows(markdown_files[f"people/{handle}.md"])
            assert list(rows) == list(ACTIONS)
            for action, (cell,) in rows.items():
                if cell == "✓ everywhere":
                    assert actor.can(action), (handle, action)
                elif cell.startswith("✓ for "):
                    listed = set(re.findall(r"framework\.md#journey-([a-z0-9-]+)", cell))
                    assert not actor.can(action) and listed, (handle, action)
                    for key, jid in journeys.items():
                        assert actor.can(action, [jid]) == (key in listed), (handle, action, key)
                else:
                    assert cell.startswith("✗ (for "), cell
                    assert not any(actor.can(action, [jid]) for jid in journeys.values()), (handle, action)


HOLDERS = {"lead": "ana", "manager": "marco", "coordinator": "lotte", "supporter": "priya", "owner": "tom"}


@pytest.mark.parametrize("role", sorted(HOLDERS))
def test_each_role_page_agrees_with_a_real_holder_of_that_role_alone(example_db, markdown_files, role):
    """The role page's ✓/✗ per action, checked with the real person's scope for that one role."""
    with example_db.session_scope() as session:
        journeys = _journey_ids(session)
        real = load_actor(session, HOLDERS[role])
        assert role in real.roles
        alone = Actor(real.person_id, real.handle, frozenset({role}), {role: real.scopes.get(role, frozenset())})
    page = markdown_files[f"roles/{role}.md"]
    allowed = table_rows(page.split("## <a id=\"may-not\">")[0])
    refused = set(re.findall(r"\(`([a-z_.]+)`\): this is for", page))
    assert set(allowed) | refused == set(ACTIONS) and not set(allowed) & refused
    inside = next(iter(alone.scopes[role])) if alone.scopes.get(role) else None
    outside = next((j for j in journeys.values() if j not in alone.scopes.get(role, ())), None)
    for action in ACTIONS:
        if action in refused:
            assert not any(alone.can(action, [j]) for j in journeys.values()), (role, action)
        elif allowed[action] == ["✓ everywhere"]:
            assert alone.can(action), (role, action)
        else:
            assert not alone.can(action) and alone.can(action, [inside]), (role, action)
            assert outside is None or not alone.can(action, [outside]), (role, action)


def test_services_refuse_and_allow_what_the_supporters_page_says(example_db, markdown_files):
    """Calling the services as Priya (supporter of Switching providers): what her page allows works, what it
    refuses is refused with a message naming who may."""
    from govern.services.evidence import record_evidence
    from govern.services.opportunities import create_opportunity
    from govern.workflows.services import approve_request, request_transition

    rows = table_rows(markdown_files["people/priya.md"])
    assert rows["evidence.record"] == ["✓ everywhere"]
    assert rows["opportunity.create"][0].startswith("✗")
    assert rows["transition.approve"][0].startswith("✗")
    with example_db.session_scope() as session:
        priya = load_actor(session, "priya")
        record_evidence(session, priya, text="Porting SMS arrives after the port", source="Survey", kind="survey",
                        observed_on="2026-11-20", steps=["switching-providers/port-number"])
        with pytest.raises(PermissionDenied) as refused:
            create_opportunity(session, priya, title="How might we test?", journeys=["switching-providers"])
        assert "this is for: admin, lead, manager, owner, coordinator" in refused.value.message
        result = request_transition(session, load_actor(session, "lotte"), "OPP-1", "prioritise")
        assert result.request is not None
        with pytest.raises(PermissionDenied) as denied:
            approve_request(session, load_actor(session, "priya"), result.request.id)
        assert "ana" in denied.value.message
    page = build.build(make_playbook(example_db), "md")["people/priya.md"].decode()
    assert "**You cannot approve transition requests**" in page
    assert "[Prioritise](../lifecycle.md#transition-prioritise) (Research → Prioritise): the lead: [Ana Silva](ana.md)" \
        in page
    ana = build.build(make_playbook(example_db), "md")["people/ana.md"].decode()
    assert "Awaiting your decision:" in ana and "`OPP-1` How might we keep switchers informed" in ana


def test_the_playbooks_roles_and_scopes_are_load_actors_for_every_person(example_db, example_playbook):
    """The playbook computes everyone's roles and scopes in one pass; they must be exactly what the services use."""
    from govern.playbook.data import permissions_of

    with example_db.session_scope() as session:
        journey_keys = {jid: key for key, jid in _journey_ids(session).items()}
        for person in example_playbook.people:
            real = load_actor(session, person.handle)
            assert person.roles == [r for r in ROLES if r in real.roles and r != "viewer"], person.handle
            assert person.permissions == permissions_of(real, journey_keys), person.handle
