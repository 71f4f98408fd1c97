"""The organisation's own council roles, named approvers and who may request a transition (govern.yaml `roles:`,
`approval: {person: …}`, `requesters:`), through govern apply, the lifecycle services and the playbook."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml

from govern.orgfile.load import apply_text
from govern.errors import InvalidInput, PermissionDenied
from govern.playbook import build
from govern.playbook.data import collect
from govern.policy import Actor
from govern.services.common import load_actor
from govern.workflows import services

EXAMPLE = Path(__file__).resolve().parents[2] / "govern" / "examples" / "telecom" / "govern.yaml"
DEFAULT_LIFECYCLE = Path(__file__).resolve().parents[2] / "govern" / "workflows" / "definitions" / "default.yaml"
CMO = {"key": "cmo", "name": "Chief Medical Officer", "description": "signs off what touches patient safety",
       "permissions": {"transition.approve": "all", "evidence.record": "all"}}


def organisation(**changes) -> dict:
    """The example organisation with a Chief Medical Officer seat and the default lifecycle written inline."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["roles"] = [copy.deepcopy(CMO)]
    doc["people"].append({"handle": "okafor", "name": "Dr Ada Okafor", "email": "ada.okafor@telconova.example"})
    doc["council"].append({"person": "okafor", "role": "cmo"})
    doc["lifecycle"] = yaml.safe_load(DEFAULT_LIFECYCLE.read_text(encoding="utf-8"))
    transitions = {t["trigger"]: t for t in doc["lifecycle"]["transitions"]}
    for trigger, change in changes.items():
        transitions[trigger].update(change)
    return doc


def apply(db, doc: dict) -> None:
    with db.session_scope() as s:
        apply_text(s, Actor.system_actor("test"), yaml.safe_dump(doc, sort_keys=False))


def test_a_named_approver_decides_and_nobody_else(example_db):
    apply(example_db, organisation(prioritise={"approval": {"person": "okafor"}}))
    with example_db.session_scope() as s:
        result = services.request_transition(s, load_actor(s, "lotte"), "OPP-1", "prioritise")
        assert result.approval.waiting_for() == ["Dr Ada Okafor (named approver)"]
        with pytest.raises(PermissionDenied, match="you are not an approver for this request"):
            services.approve_request(s, load_actor(s, "ana"), result.request.id)
        done = services.approve_request(s, load_actor(s, "okafor"), result.request.id)
        assert done.moved and done.opportunity.state == "prioritise"


def test_an_organisations_own_role_approves_with_the_permissions_it_declares(example_db):
    apply(example_db, organisation(prioritise={"approval": {"role": "cmo"}}))
    with example_db.session_scope() as s:
        okafor = load_actor(s, "okafor")
        assert okafor.can("transition.approve") and okafor.can("evidence.record")
        assert not okafor.can("opportunity.create")
        request = services.request_transition(s, load_actor(s, "lotte"), "OPP-1", "prioritise").request
        assert services.approve_request(s, okafor, request.id).moved


def test_only_the_listed_requesters_may_request_a_transition(example_db):
    apply(example_db, organisation(park={"requesters": ["manager"]}))
    with example_db.session_scope() as s:
        with pytest.raises(PermissionDenied, match="the lifecycle lets only manager request it"):
            services.request_transition(s, load_actor(s, "lotte"), "OPP-1", "park", reason="not now")
        park = next(t for t in services.available_transitions(s, load_actor(s, "lotte"), "OPP-1")
                    if t["trigger"] == "park")
        assert park["requesters"] == ["manager"] and park["may_request"] is False
        assert services.request_transition(s, load_actor(s, "marco"), "OPP-1", "park", reason="not now").moved


@pytest.mark.parametrize(("change", "problem"), [
    ({"prioritise": {"approval": {"role": "coordinator"}}},
     "role 'coordinator' may not approve transitions in the permission table (transition.approve is for lead, "
     "manager, owner, cmo)"),
    ({"prioritise": {"approval": {"person": "priya"}}},
     "priya holds no council seat whose role may approve transitions"),
    ({"prioritise": {"approval": {"quorum": {"role": "chair", "n": 2}}}}, "unknown council role 'chair'"),
    ({"park": {"requesters": [{"person": "nobody"}]}}, "unknown person 'nobody'"),
    ({"park": {"requesters": ["cmo"]}}, "role 'cmo' may not request transitions in the permission table"),
])
def test_apply_refuses_approvers_and_requesters_the_permission_table_does_not_allow(example_db, change, problem):
    with pytest.raises(InvalidInput) as refused:
        apply(example_db, organisation(**change))
    assert any(message.startswith(problem) for message in refused.value.details.values()), refused.value.details


def test_a_seat_in_an_undeclared_role_is_refused(example_db):
    doc = organisation()
    doc["roles"] = []
    with pytest.raises(InvalidInput) as refused:
        apply(example_db, doc)
    assert refused.value.details[f"council[{len(doc['council']) - 1}].role"].startswith("unknown council role 'cmo'")


def test_the_playbook_prints_the_organisations_own_roles_and_what_they_may_do(example_db):
    apply(example_db, organisation(prioritise={"approval": {"role": "cmo"}}))
    with example_db.session_scope() as s:
        pb = collect(s, as_of=dt.datetime(2026, 11, 23, 9, tzinfo=dt.timezone.utc))
    roles = build.build(pb, "md")["roles.md"].decode()
    assert "## <a id=\"role-cmo\"></a>Chief Medical Officer (`cmo`)" in roles
    assert "Signs off what touches patient safety." in roles
    assert "[Dr Ada Okafor](people/okafor.md)" in roles
    header = next(line for line in roles.splitlines() if line.startswith("| Action |"))
    assert header.endswith(" cmo |")
    approve = next(line for line in roles.splitlines() if line.startswith("| `transition.approve` |"))
    assert approve.endswith("✓ everywhere |")
    raci_header = next(line for line in roles.splitlines() if line.startswith("| | lead |"))
    assert "cmo |" in raci_header
    prioritise = next(line for line in roles.splitlines() if "transition-prioritise" in line and "| " in line)
    assert prioritise.rstrip().endswith("| A, C |")  # approves; records evidence for it


def test_the_playbook_says_who_may_request_a_limited_transition(example_db):
    apply(example_db, organisation(park={"requesters": ["coordinator", {"person": "marco"}]}))
    with example_db.session_scope() as s:
        pb = collect(s, as_of=dt.datetime(2026, 11, 23, 9, tzinfo=dt.timezone.utc))
    page = build.build(pb, "md")["lifecycle.md"].decode()
    assert "- Requested only by: [coordinator](roles/coordinator.md), [Marco Rossi](people/marco.md)\n- A reason" \
        in page
