"""The permission table has the last word: a lifecycle cannot make a role an approver that the table does not trust.

`govern apply` refuses such a lifecycle (naming the transition and the role), so no request can wait forever for an
approver who may not approve; and a request is still decided under the table at decision time. (The organisation's
own roles and named approvers: tests/vocabulary/test_decision_rights.py.)"""

from pathlib import Path

import pytest
import yaml

from govern.orgfile.load import apply_file, examples_dir
from govern.errors import InvalidInput, PermissionDenied
from govern.policy import Actor
from govern.workflows.services import approve_request, request_transition

DEFAULT = Path(__file__).resolve().parents[2] / "govern" / "workflows" / "definitions" / "default.yaml"


def example_with(tmp_path, approval):
    """The example's govern.yaml with its own lifecycle file beside it, as `govern apply FILE` reads them."""
    definition = yaml.safe_load(DEFAULT.read_text())
    definition["name"] = "custom"
    definition["transitions"][0]["approval"] = approval
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(definition))
    path = tmp_path / "govern.yaml"
    path.write_text((examples_dir() / "telecom" / "govern.yaml").read_text().replace(
        "lifecycle: default", "lifecycle: {file: mine.yaml}"))
    return path


@pytest.mark.parametrize("approval, where, role", [
    ({"role": "supporter"}, "approval.role", "supporter"),
    ({"quorum": {"role": "coordinator", "n": 2}}, "approval.quorum.role", "coordinator"),
    ({"all_of": [{"owners": "all"}, {"role": "supporter"}]}, "approval.all_of[1].role", "supporter"),
])
def test_apply_refuses_a_lifecycle_naming_approvers_the_permission_table_forbids(example_db, tmp_path, approval,
                                                                                 where, role):
    with example_db.session_scope() as s, pytest.raises(InvalidInput) as refused:
        apply_file(s, Actor.system_actor("test"), example_with(tmp_path, approval))
    (key, message), = [(k, v) for k, v in refused.value.details.items() if k.startswith("lifecycle")]
    assert key.endswith(f"transitions[0].{where}")
    assert f"role {role!r} may not approve transitions" in message
    assert "in transition 'prioritise' (research → prioritise)" in message


def test_apply_accepts_approvers_the_permission_table_allows(example_db, tmp_path):
    for approval in ({"role": "lead"}, {"quorum": {"role": "manager", "n": 2}}, {"owners": "any"}):
        with example_db.session_scope() as s:
            apply_file(s, Actor.system_actor("test"), example_with(tmp_path, approval), dry_run=True)


def test_a_supporter_is_refused_at_decision_time_too(org, session):
    opp = org.opportunity(state="research")
    result = request_transition(session, org.actor("lotte"), opp.key, "prioritise")
    with pytest.raises(PermissionDenied) as denied:
        approve_request(session, org.actor("ruben"), result.request.id)
    assert "ruben" in denied.value.message and "approve or reject transition requests" in denied.value.message
    session.expire_all()
    assert opp.state == "research"
