"""The permission table has the last word: a lifecycle cannot make a role an approver that the table does not trust."""

from pathlib import Path

import pytest
import yaml

from govern.errors import PermissionDenied
from govern.model import CouncilSeat
from tests.workflows.conftest import use_lifecycle
from govern.workflows.services import approve_request, request_transition

DEFAULT = Path(__file__).resolve().parents[2] / "workflows" / "definitions" / "default.yaml"


def test_supporter_named_as_approver_by_a_lifecycle_is_still_refused(org, session):
    definition = yaml.safe_load(DEFAULT.read_text())
    definition["name"] = "supporters_approve"
    definition["transitions"][0]["approval"] = {"role": "supporter"}
    use_lifecycle(session, definition)
    session.add(CouncilSeat(person_id=org.person("ruben").id, role="supporter",
                            journey_id=org.journeys["switching-providers"].id))
    session.commit()
    opp = org.opportunity(lifecycle="supporters_approve", state="research")
    result = request_transition(session, org.actor("lotte"), opp.key, "prioritise")
    assert result.request is not None and not result.moved
    with pytest.raises(PermissionDenied) as denied:
        approve_request(session, org.actor("ruben"), result.request.id)
    assert "ruben (supporter)" in denied.value.message
    assert "approve or reject transition requests" in denied.value.message
    session.expire_all()
    assert opp.state == "research"
