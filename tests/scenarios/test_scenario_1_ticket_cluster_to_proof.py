"""Scenario 1 (SCENARIOS.md): from a support-ticket cluster to a shipped fix, and proof it worked.

One test walks the whole story on the example organisation (Telco Nova) through the real entry points only: the REST
API with bearer tokens, signed Slack slash commands and button presses, the ritual scheduler on a hand-set clock, the
outbox worker delivering to the Slack and Jira stand-ins, the signed Jira webhook, the `govern kpi import` command,
and finally the audit trail. Nothing is written to the database directly; the only service-level calls are reads.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from click.testing import CliRunner

from govern import audit, notifications
from govern.cli.root import cli
from govern.model import ApprovalRequest, OutboxMessage
from govern.integrations.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from govern.rituals.cadence import occurrences_between
from govern.rituals.scheduler import ManualClock, RitualScheduler
from tests.api.test_browser_session_writes import sign_in
from tests.scenarios.conftest import JIRA_WEBHOOK_SECRET, deliver
from tests.slack.support import buttons, said

LOTTE, ANA, SAM = "U0LOTTE01", "U0ANA0001", "U0SAM0001"
UTC = dt.timezone.utc
TITLE = "How might we keep switchers informed while their number ports?"
TWO_JOURNEYS = ["switching-providers", "moving-house"]
PORT_STEPS = ["switching-providers/port-number", "moving-house/port-number"]


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:800])
    return response.get_json()


def last_council_review(now: dt.datetime) -> dt.datetime:
    """The latest weekly council review (Wednesdays 10:00 Amsterdam) that has begun: minutes are only taken for a
    meeting that happened, and the API records them on the real clock."""
    return occurrences_between("cron", "0 10 * * WED", "Europe/Amsterdam", now - dt.timedelta(days=8), now)[-1]


def request_message(workspace, channel_name: str, key: str, transition: str) -> tuple[str, dict]:
    """The approval request the outbox posted to a channel (with its Approve/Reject buttons)."""
    channel = workspace.channel_id(channel_name)
    found = [m for m in workspace.messages[channel]
             if key in said(m) and transition in said(m) and buttons(m) == [APPROVE_ACTION, REJECT_ACTION]]
    assert len(found) == 1, [said(m)[:200] for m in workspace.messages[channel]]
    return channel, found[0]


def press_approve(slack, client, workspace, user_id: str, channel: str, message: dict) -> None:
    value = next(e["value"] for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"]
                 if e["action_id"] == APPROVE_ACTION)
    status, _, _ = slack.press(client, user_id=user_id, channel_id=channel, message_ts=message["ts"],
                               action_id=APPROVE_ACTION, value=value)
    assert status == 200


def test_a_ticket_cluster_becomes_a_shipped_fix_with_proof_and_a_complete_audit_trail(
        scenario_app, api, slack, workspace, jira_standin, example_db, tmp_path):
    client = scenario_app.test_client()
    now = dt.datetime.now(UTC)
    today = now.date()
    with example_db.session_scope() as s:
        first_event = s.scalar(sa.select(sa.func.max(audit.AuditEvent.id)))

    # 1. Monday. Lotte records the ticket cluster and links it to "Port my number" in both journeys (the API the
    #    web app's forms use).
    cluster = ok(api.post("/insights", as_="lotte", json={
        "text": "212 tickets in October ask why the number has not moved yet", "source": "Zendesk cluster PORT-WAIT",
        "kind": "ticket", "observed_on": (today - dt.timedelta(days=1)).isoformat(), "steps": PORT_STEPS}), 201)
    assert cluster["journeys"] == sorted(TWO_JOURNEYS) and cluster["created_by"] == "lotte"

    # 2. She creates the opportunity, linked to both journeys and three insights; it starts in research.
    opp = ok(api.post("/opportunities", as_="lotte", json={
        "title": TITLE, "journeys": TWO_JOURNEYS, "insights": [cluster["key"], "INS-2", "INS-3"],
        "kpis": ["porting-csat", "porting-tickets"]}), 201)
    key = opp["key"]
    assert (opp["state"], opp["owner"]["handle"], opp["journeys"]) == ("research", "lotte", TWO_JOURNEYS)
    assert opp["insights"] == [cluster["key"], "INS-2", "INS-3"]
    # ... and adds a quote from Slack, as she would for any existing opportunity.
    status, answer, _ = slack.command(client, f'evidence {key} "Porting took 9 days, nobody told me why" tickets',
                                      user_id=LOTTE)
    assert status == 200 and f"on {key}" in said(answer) and "Recorded INS-" in said(answer)
    slack_insight = ok(api.get(f"/insights?opportunity={key}&sort=-number", as_="lotte"))[0]
    assert (slack_insight["text"], slack_insight["source"], slack_insight["kind"], slack_insight["created_by"]) == (
        "Porting took 9 days, nobody told me why", "tickets", "ticket", "lotte")
    # She scores it with the organisation's model (RICE plus evidence strength).
    ok(api.post(f"/opportunities/{key}/score/inputs", as_="lotte", json={"inputs": {
        "reach": 18000, "impact": 2, "confidence": 80, "effort": 3, "customer_need": 9, "business_value": 7}}))

    # 3. She asks to move it to prioritise: two pieces of evidence from at least two journeys, met.
    options = {o["trigger"]: o for o in ok(api.get(f"/opportunities/{key}/transitions", as_="lotte"))}
    assert options["prioritise"]["ok"] is True and options["prioritise"]["unmet"] == []
    assert options["prioritise"]["approval_text"] == "the lead"
    status, answer, _ = slack.command(client, f"move {key} prioritise porting delays show up in two journeys",
                                      user_id=LOTTE)
    assert f"Requested prioritise for {key}" in said(answer) and "the lead (Ana Silva)" in said(answer)
    assert deliver(scenario_app, notifications.TOPIC) == {"delivered": 1}  # the request, posted to each journey's channel
    council_channel, council_request = request_message(workspace, "cx-council", key, "Research → Prioritise")
    request_message(workspace, "cx-switching", key, "Research → Prioritise")

    # 4. Wednesday, weekly council review. The scheduler posts the agenda to #cx-council an hour before.
    meeting = last_council_review(now)
    with example_db.session_scope() as s:  # the story's clock: the request was made before that meeting
        s.execute(sa.update(ApprovalRequest).where(ApprovalRequest.status == "pending")
                  .values(created_at=(meeting - dt.timedelta(hours=2)).replace(tzinfo=None)))
        s.commit()
    scheduler = RitualScheduler(example_db, clock=ManualClock(meeting - dt.timedelta(minutes=60)),
                                instance_path=tmp_path, name="scenario-scheduler")
    try:
        report = scheduler.tick()
    finally:
        scheduler.stop()
    assert report.leader and len(report.fired) >= 1
    deliver(scenario_app, notifications.TOPIC)
    agendas = [m for m in workspace.messages[council_channel] if "Weekly council review" in said(m)]
    assert len(agendas) == 1, "the agenda is posted once"
    ranking = {row["key"]: row for row in ok(api.get("/ranking?explain=false", as_="marco"))}
    mine = ranking[key]
    agenda = ok(api.get(f"/rituals/weekly-council-review/agenda?at={meeting:%Y-%m-%dT%H:%M:%SZ}", as_="marco"))
    approvals = next(s for s in agenda["sections"] if s["key"] == "approvals")["items"]
    [item] = [i for i in approvals if i["ref"] == key]
    assert (item["score"], item["rank"]) == (mine["score"], mine["rank"]) and item["rank"] >= 1
    assert item["to_state"] == "prioritise" and "the lead" in item["approvers"]
    posted = said(agendas[0])
    assert key in posted and f"(rank {mine['rank']})" in posted and "score" in posted

    # The council lead approves in the meeting, from the button on the request in #cx-council ...
    press_approve(slack, client, workspace, ANA, council_channel, council_request)
    assert ok(api.get(f"/opportunities/{key}", as_="marco"))["state"] == "prioritise"
    # ... and the manager records the decision in the minutes: the approval the lead gave, attributed to her.
    [request] = [r for r in ok(api.get(f"/opportunities/{key}/approvals", as_="marco")) if r["to"] == "prioritise"]
    assert request["status"] == "approved" and [v["person"] for v in request["votes"]] == ["ana"]
    request_id = request["id"]
    occurrence = next(o for o in ok(api.get("/rituals/weekly-council-review/occurrences", as_="marco"))
                      if o["scheduled_at"] == f"{meeting:%Y-%m-%dT%H:%M:%SZ}")
    before_meeting = meeting - dt.timedelta(minutes=60)
    assert (occurrence["fired_by"], occurrence["agenda_built_at"]) == (
        "scenario-scheduler", f"{before_meeting:%Y-%m-%dT%H:%M:%SZ}")  # built and queued an hour before
    occurrence_id = occurrence["id"]
    minutes = ok(api.post(f"/occurrences/{occurrence_id}/hold", as_="marco", json={
        "attendance": {"ana": True, "marco": True, "lotte": True, "femke": True, "sam": True, "noah": False},
        "notes": "Porting is the top pain of switchers this quarter.",
        "decisions": [{"text": f"The lead approved moving {key} to prioritise", "opportunity": key,
                       "request": request_id, "outcome": "approve",
                       "follow_ups": [{"text": "Draft the porting status SMS", "owner": "lotte",
                                       "due_on": (today + dt.timedelta(days=14)).isoformat()}]}]}))
    assert minutes["occurrence"]["status"] == "held"
    [decision] = minutes["decisions"]
    assert (decision["decided_by"], decision["opportunity"], decision["outcome"]) == ("ana", key, "approved")

    # 5. The owner of "Switching providers" moves it to implement; the owner of every touched journey must approve.
    for title in ("Status SMS during porting", "Porting tracker page"):
        ok(api.post(f"/opportunities/{key}/solutions", as_="lotte", json={"title": title}), 201)
    # The KPIs as they stand before implementation (the monthly figures Priya keeps).
    for kpi, value in (("porting-csat", 3.1), ("porting-tickets", 420)):
        ok(api.post(f"/kpis/{kpi}/measurements", as_="priya", json={
            "value": value, "measured_at": (today - dt.timedelta(days=2)).isoformat(), "source": "monthly figures"}),
           201)
    moved = ok(api.post(f"/opportunities/{key}/transitions", as_="lotte",
                        json={"to": "implement", "reason": "council agreed; solutions are scoped"}), 202)
    assert moved["moved"] is False and "the owner of Moving house (Sam Okafor)" in moved["message"]
    deliver(scenario_app, notifications.TOPIC)
    channel, implement_request = request_message(workspace, "cx-council", key, "Prioritise → Implement")
    press_approve(slack, client, workspace, SAM, channel, implement_request)  # Sam owns "Moving house"
    assert ok(api.get(f"/opportunities/{key}", as_="lotte"))["state"] == "implement"
    baselines = {k["kpi"]: k for k in ok(api.get(f"/opportunities/{key}/kpis", as_="lotte"))}
    assert (baselines["porting-csat"]["baseline"], baselines["porting-tickets"]["baseline"]) == (3.1, 420)

    # Entering implement created two epics in OPS, one per solution, each linked back.
    with example_db.session_scope() as s:
        queued = list(s.scalars(sa.select(OutboxMessage.kind).where(OutboxMessage.topic == "jira")))
    assert queued == ["create_issue", "create_issue"]
    assert deliver(scenario_app, "jira").get("delivered") == 2
    solutions = ok(api.get(f"/opportunities/{key}/solutions", as_="lotte"))
    epics = {s["external_key"]: s for s in solutions}
    assert len(epics) == 2 and all(k and k.startswith("OPS-") for k in epics)
    assert len(jira_standin.issues) == 2
    for epic_key, solution in epics.items():
        issue = jira_standin.issues[epic_key]
        assert issue.summary == solution["title"] and issue.issuetype_id == "10000"  # an Epic in OPS
        assert f"/opportunities/{key}" in str(issue.description)  # linked back
    assert deliver(scenario_app, "jira") == {}  # each epic exactly once

    # 6. Six weeks later both epics are Done in Jira; the webhook arrives; the opportunity moves on to evaluate.
    for epic_key in epics:
        body, headers = jira_standin.webhook_request(jira_standin.move_issue(epic_key, "Done", by="lotte"),
                                                     JIRA_WEBHOOK_SECRET)
        response = client.post("/jira/webhook", data=body, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
    assert {s["state"] for s in ok(api.get(f"/opportunities/{key}/solutions", as_="lotte"))} == {"done"}
    assert ok(api.get(f"/opportunities/{key}", as_="lotte"))["state"] == "evaluate"

    # 7. The KPIs right after go-live do not count: evaluate wants a measurement at least 28 days after it (the
    #    lifecycle's measure_after_days), and says which measurements exist and the earliest date that counts.
    counts_from = (today + dt.timedelta(days=28)).isoformat()
    env = {"GOVERN_DATABASE_URL": example_db.url, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance")}
    early = tmp_path / "porting-kpis-early.csv"
    early.write_text(f"kpi,value,measured_at,source\nporting-csat,3.5,{today.isoformat()},pulse survey\n")
    run = CliRunner().invoke(cli, ["kpi", "import", str(early), "--as", "priya"], env=env)
    assert run.exit_code == 0, run.output
    refused = api.post(f"/opportunities/{key}/evaluation", as_="lotte")
    assert refused.status_code == 422, refused.get_data(as_text=True)
    message = refused.get_json()["error"]["message"]
    assert f"the earliest date that counts is {counts_from}" in message
    assert f"3.5 on {today.isoformat()}" in message  # the measurement inside the window, named and not used

    #    Monthly KPI review four weeks later: CSAT 3.9 (target 4), tickets 180 (target 200), imported with
    #    `govern kpi import`.
    figures = tmp_path / "porting-kpis.csv"
    figures.write_text(f"kpi,value,measured_at,source\nporting-csat,3.9,{counts_from},monthly survey\n"
                       f"porting-tickets,180,{counts_from},zendesk\n")
    run = CliRunner().invoke(cli, ["kpi", "import", str(figures), "--as", "priya"], env=env)
    assert run.exit_code == 0, run.output
    assert run.output.strip() == "imported 2 measurement(s): porting-csat 1, porting-tickets 1"
    evaluation = ok(api.post(f"/opportunities/{key}/evaluation", as_="lotte"))
    assert (evaluation["overall"], evaluation["overall_words"]) == ("short_of_target", "improved, target not met")
    outcomes = {o["kpi"]: o for o in evaluation["outcomes"]}
    assert {k: (o["verdict"], o["baseline"], o["value"]) for k, o in outcomes.items()} == {
        "porting-csat": ("short_of_target", 3.1, 3.9), "porting-tickets": ("target_met", 420, 180)}
    assert (outcomes["porting-tickets"]["target_met"], outcomes["porting-csat"]["target_met"]) == (True, False)
    assert outcomes["porting-csat"]["window"]["counts_from"] == counts_from  # which window it used
    assert outcomes["porting-csat"]["measured_at"].startswith(counts_from)  # which measurement

    # It reads "improved, target not met" everywhere: the CLI's JSON, the opportunity page, Slack and the agenda.
    run = CliRunner().invoke(cli, ["kpi", "evaluate", key, "--json", "--as", "lotte"], env=env)
    assert run.exit_code == 0, run.output
    cli_result = json.loads(run.output)
    assert cli_result["overall"] == "short_of_target"
    assert [o["verdict"] for o in cli_result["outcomes"]] == ["short_of_target", "target_met"]
    sign_in(client, example_db, "lotte")
    page = client.get(f"/opportunities/{key}").get_data(as_text=True)
    assert "improved, target not met" in page and "target met" in page
    status, answer, _ = slack.command(client, f"status {key}", user_id=LOTTE)
    assert status == 200 and "Porting CSAT: 3.1 → 3.9, improved, target not met (target 4)" in said(answer)
    review = occurrences_between("rrule", "FREQ=MONTHLY;BYDAY=1TU;BYHOUR=14;BYMINUTE=0", "Europe/Amsterdam",
                                 dt.datetime.fromisoformat(counts_from).replace(tzinfo=UTC),
                                 dt.datetime.fromisoformat(counts_from).replace(tzinfo=UTC) + dt.timedelta(days=40))[0]
    scheduler = RitualScheduler(example_db, clock=ManualClock(review - dt.timedelta(minutes=60)),
                                instance_path=tmp_path, name="scenario-scheduler")
    try:
        scheduler.tick()
    finally:
        scheduler.stop()
    deliver(scenario_app, notifications.TOPIC)
    [kpi_agenda] = [m for m in workspace.messages[council_channel] if "Monthly KPI review" in said(m)]
    assert "→ 3.9, improved, target not met (target 4)" in said(kpi_agenda)

    # Improved but short of its target: the lifecycle sends it back to research (it refused to, before).
    options = {o["trigger"]: o for o in ok(api.get(f"/opportunities/{key}/transitions", as_="lotte"))}
    assert options["research_again"]["ok"] is True, options["research_again"]
    again = ok(api.post(f"/opportunities/{key}/transitions", as_="lotte",
                        json={"to": "research", "reason": "CSAT 3.9 is short of 4: research what still hurts"}))
    assert again["moved"] is True and again["state"] == "research"

    # The audit trail shows every step, who did it and on what evidence; the chain is intact.
    events = ok(api.get(f"/audit/events?after_id={first_event}&page_size=1000", as_="marco"))
    trail = [(e["action"], e["actor"], e["entity_id"]) for e in events]

    def did(action: str, actor: str, entity: str | None = None) -> bool:
        return any(a == action and who == actor and (entity is None or e == entity) for a, who, e in trail)

    insight_keys = [cluster["key"], slack_insight["key"]]
    assert did("evidence.recorded", "lotte", insight_keys[0]) and did("evidence.recorded", "lotte", insight_keys[1])
    assert did("opportunity.created", "lotte", key) and did("opportunity.evidence_linked", "lotte", key)
    assert did("opportunity.scored", "lotte", key)
    assert did("transition.requested", "lotte", key)
    assert did("approval.approved", "ana") and did("approval.approved", "sam")
    assert did("ritual.agenda_built", "scheduler (system)")
    assert did("ritual.held", "marco") and did("ritual.decision", "marco")
    assert did("solution.added", "lotte") and did("kpi.measured", "priya")
    assert did("kpi.measurements_imported", "priya")
    assert did("opportunity.kpi_baseline_recorded", "sam", key)
    assert did("solution.updated", "jira (system)", key)  # the webhook: each epic Done
    [linked] = [e for e in events if e["action"] == "solution.backlog_items_linked"]
    assert sorted(linked["after"].values()) == sorted(epics)  # which solution became which epic
    assert did("opportunity.outcome_recorded", "lotte", key)
    movers = [who for a, who, e in trail if a == "opportunity.transitioned" and e == key]
    assert movers == ["ana", "sam", "jira (system)", "lotte"]
    transitions = [(e["after"] or {}).get("to") or (e["after"] or {}).get("state") for e in events
                   if e["action"] == "opportunity.transitioned" and e["entity_id"] == key]
    assert transitions == ["prioritise", "implement", "evaluate", "research"], transitions
    created = next(e for e in events if e["action"] == "opportunity.created" and e["entity_id"] == key)
    assert set(created["after"]["insights"]) == {cluster["key"], "INS-2", "INS-3"}  # on what evidence

    history = ok(api.get(f"/opportunities/{key}/history", as_="lotte"))
    assert [(h["action"], h["actor"]) for h in history][0] == ("opportunity.created", "lotte")
    assert ok(api.get("/audit/verify", as_="marco"))["ok"] is True
    with example_db.session_scope() as s:
        assert audit.verify(s).ok
        assert [e.action for e in audit.history(s, "opportunity", key)][-1] == "opportunity.transitioned"
