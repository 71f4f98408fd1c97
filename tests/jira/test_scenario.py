"""Scenario 1, steps 5-6, through the real entry points on the example organisation: entering implement creates one
epic per solution in the OPS project, linked back; when both are Done in Jira the webhook arrives and the opportunity
asks to move to evaluate."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import Opportunity, OutboxMessage
from govern.policy import Actor
from govern.services.common import get_opportunity, load_actor
from govern.integrations.worker import OutboxWorker, build_deliverers

SECRET = "scenario-secret"


def test_entering_implement_creates_epics_and_done_epics_move_the_opportunity_on(example_db, standin, tmp_path):
    from govern.app import create_app
    from tests.conftest import make_config
    from govern.workflows.services import approve_request, request_transition

    config = make_config(example_db, tmp_path, jira_url=standin.base_url, jira_user=standin.user,
                         jira_token=standin.token, jira_webhook_secret=SECRET)
    app = create_app(config, db=example_db)
    runtime = app.extensions["govern"]
    assert runtime.adapters["jira"] is not None

    with example_db.session_scope() as session:
        result = request_transition(session, Actor.system_actor("manager"), "OPP-2", "implement")
        request_id = result.request.id
        owners = sorted({j.owner.handle for j in get_opportunity(session, "OPP-2").journeys if j.owner})
    for handle in owners:
        with example_db.session_scope() as session:
            approve_request(session, load_actor(session, handle), request_id)
    with example_db.session_scope() as session:
        opp = get_opportunity(session, "OPP-2")
        assert opp.state == "implement"
        titles = [s.title for s in opp.solutions]
        kinds = list(session.scalars(sa.select(OutboxMessage.kind).where(OutboxMessage.topic == "jira")))
    assert kinds == ["create_issue"] * len(titles)

    OutboxWorker(example_db, build_deliverers(runtime), name="scenario").drain(["jira"])
    with example_db.session_scope() as session:
        opp = get_opportunity(session, "OPP-2")
        keys = [s.external_key for s in opp.solutions]
    assert all(keys) and len(standin.issues) == len(titles)
    for key, title in zip(keys, titles):
        issue = standin.issues[key]
        assert issue.summary == title and issue.issuetype_id == "10000"  # Epic, in OPS
        assert "/opportunities/OPP-2" in issue.description  # linked back

    client = app.test_client()
    for key in keys:
        body, headers = standin.webhook_request(standin.move_issue(key, "Done", by="lotte"), SECRET)
        response = client.post("/jira/webhook", data=body, headers=headers)
        assert response.status_code == 200, response.json
    with example_db.session_scope() as session:
        opp = session.scalar(sa.select(Opportunity).where(Opportunity.number == 2))
        assert {s.state for s in opp.solutions} == {"done"}
        assert opp.state == "evaluate"  # the default lifecycle's auto transition, requested by the sync
