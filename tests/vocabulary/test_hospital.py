"""A second organisation end to end: St. Elsewhere Hospital (tests/fixtures/hospital) with its own words, a Chief
Medical Officer role, a named approver and a clinical safety check, through the CLI, the API, the web app, Slack and
the playbook. Nothing in the engine is telecom-shaped."""

from __future__ import annotations

import re
from pathlib import Path

from govern.cli.support import DEMO_PASSWORD
from govern.integrations.slack.commands import Invocation, run
from govern.policy import Actor
from govern.services.people import set_password
from tests.api.conftest import ApiClient
from tests.conftest import cli_invoker
from tests.web.conftest import WebClient

HOSPITAL = Path(__file__).resolve().parents[1] / "fixtures" / "hospital" / "govern.yaml"
# The identifiers of the states the hospital gave titles of its own (`done` keeps its name): `safety_review` anywhere;
# the others are also English words ("evaluate whether the KPIs moved"), so where a state would stand.
_IDS = r"(?:discover|safety_review|deliver|evaluate|dropped)"
RENAMED_STATE = re.compile(rf"\bsafety_review\b|\b{_IDS}\s*(?:→|,\s*{_IDS}\s*→)|→\s*\**{_IDS}\b|\(to {_IDS}\)"
                           rf"|\b[Ii]n {_IDS}\b|\|\s*{_IDS}\s*\|")
SAFETY_CASE = "https://docs.elsewhere.example/safety/DCB0129-77"


class _Directory:
    """Slack user id → person, as the identity directory answers for the fixture's people."""

    def __init__(self, ids):
        self.ids = ids

    def person_id_for(self, db, user_id):
        return self.ids.get(user_id)


def visible_text(markdown: str) -> str:
    """What a reader sees: no code spans (identifiers), link targets or anchors."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"<a id=\"[^\"]*\"></a>", "", text)


def test_a_hospital_runs_end_to_end_in_its_own_words(app, db, tmp_path):
    govern = cli_invoker(db, tmp_path)
    applied = govern("apply", str(HOSPITAL))
    assert applied.exit_code == 0, applied.output
    with db.session_scope() as s:
        for handle in ("hana", "omar", "ines", "tariq", "okafor"):
            set_password(s, Actor.system_actor("test"), handle, DEMO_PASSWORD, commit=False)
        s.commit()
    api = ApiClient(app, db)

    # Patient feedback of the hospital's own kinds, on two pathways, and an improvement idea built on it.
    keys = [api.post("/insights", as_="ines", json={"text": text, "source": "PALS", "kind": "complaint",
                                                    "steps": [step]}).json["key"]
            for text, step in (("Nobody told me where the labour ward was", "giving-birth/labour-ward"),
                               ("Four hours in triage without an update", "emergency-visit/triage"))]
    unknown_kind = api.post("/insights", as_="ines", json={"text": "x", "source": "y", "kind": "survey"})
    assert unknown_kind.status_code == 422 and "complaint, incident_report, prem" in unknown_kind.json["error"]["message"]
    opp = api.post("/opportunities", as_="ines", json={
        "title": "How might we keep patients informed while they wait?", "journeys": ["giving-birth",
                                                                                   "emergency-visit"],
        "insights": keys}).json["key"]

    # Only a coordinator or the manager may ask for the safety review (not even the lead); the CLI moves it. The
    # CMO may request nothing at all, and is told so in the hospital's words.
    # The web page offers the transition by the title the lifecycle gives it.
    ines_page = WebClient(app.test_client()).sign_in("ines").get(f"/opportunities/{opp}").get_data(as_text=True)
    assert "Request clinical safety review" in ines_page and "Request safety review" not in ines_page
    refused = govern("opp", "move", opp, "request_safety_review", "--as", "hana")
    assert refused.exit_code != 0 and "the lifecycle lets only coordinator or manager request it" in refused.output
    assert "may not move an improvement idea" in govern("opp", "move", opp, "request_safety_review",
                                                        "--as", "okafor").output
    moved = govern("opp", "move", opp, "request_safety_review", "--as", "ines")
    assert moved.exit_code == 0, moved.output
    assert f"{opp} moved from Gathering feedback to Clinical safety review" in moved.output

    # Delivery needs a change and the clinical safety case: the refusal is in the hospital's words.
    blocked = api.post(f"/opportunities/{opp}/transitions", as_="ines", json={"trigger": "approve_for_delivery"})
    assert blocked.status_code == 409
    assert blocked.json["error"]["details"]["unmet"] == ["needs 1 change, has 0",
                                                         "needs “Clinical safety case attached” ticked"]
    assert api.post(f"/opportunities/{opp}/solutions", as_="ines",
                    json={"title": "Waiting-time screens in triage"}).status_code == 201

    # The Chief Medical Officer ticks the safety case from the web page, with its link.
    okafor = WebClient(app.test_client()).sign_in("okafor")
    page = okafor.get(f"/opportunities/{opp}").get_data(as_text=True)
    assert "Improvement idea" in page or "improvement idea" in page
    assert okafor.post(f"/opportunities/{opp}/checks/safety_case", {"link": SAFETY_CASE}).status_code == 302

    # Requested by the pathway lead; it waits for the named approver and the lead.
    requested = api.post(f"/opportunities/{opp}/transitions", as_="ines", json={"trigger": "approve_for_delivery"})
    assert requested.status_code == 202
    assert requested.json["approval"]["waiting_for"] == ["Dr Ada Okafor (named approver)", "the lead (Hana Berg)"]

    # Slack speaks the hospital's words too.
    directory = _Directory({"U0OKAFOR1": _person_id(db, "okafor")})
    help_text = str(run(db, directory, Invocation(user_id="U0OKAFOR1", text="help", command="/care")))
    assert "improvement idea" in help_text and "opportunit" not in help_text.lower()

    # The named approver and the lead approve; it moves to deliver.
    request_id = requested.json["request"]["id"]
    assert api.post(f"/approvals/{request_id}/approve", as_="okafor", json={}).status_code in (200, 202)
    done = api.post(f"/approvals/{request_id}/approve", as_="hana", json={})
    assert done.status_code == 200 and done.json["state"] == "deliver", done.json

    # Slack and the council's agenda name states by the hospital's titles, never by the identifiers it renamed.
    status = run(db, directory, Invocation(user_id="U0OKAFOR1", text=f"status {opp}", command="/care"))
    agenda = govern("rituals", "agenda", "--format", "md")
    for said in (visible_text(str(status)), visible_text(agenda.output)):
        assert not RENAMED_STATE.search(said), RENAMED_STATE.search(said)
    assert "On the wards" in str(status)

    # The playbook never says customer or opportunity, and does not describe Jira when it is off.
    out = tmp_path / "playbook"
    built = govern("playbook", "build", "--out", str(out), "--format", "md")
    assert built.exit_code == 0, built.output
    for page_path in sorted(out.rglob("*.md")):
        text = visible_text(page_path.read_text(encoding="utf-8")).lower()
        for word in ("customer", "opportunit", "epic"):
            assert word not in text, f"{page_path.relative_to(out)} says {word!r}"
        raw = RENAMED_STATE.search(visible_text(page_path.read_text(encoding="utf-8")).replace("\\_", "_"))
        assert raw is None, f"{page_path.relative_to(out)} shows the state identifier {raw.group(0)!r}"
    roles = (out / "roles.md").read_text(encoding="utf-8")
    assert "Chief Medical Officer (`cmo`)" in roles
    lifecycle = (out / "lifecycle.md").read_text(encoding="utf-8")
    assert "“Clinical safety case attached” is ticked" in lifecycle
    assert "Dr Ada Okafor" in lifecycle


def _person_id(db, handle):
    from govern.services.common import get_person

    with db.session_scope() as s:
        return get_person(s, handle).id
