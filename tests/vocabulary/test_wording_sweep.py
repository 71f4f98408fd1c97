"""The organisation's words everywhere a person reads (issue 28, part 5): every page of the web app and of the live
playbook, for Telco Nova and for a hospital with its own words, read as a person sees it (code spans aside): no raw
state, guard, transition, input or permission identifier, no handle where a name belongs, no "customer" where the
organisation renamed it."""

from __future__ import annotations

import re
from pathlib import Path

from govern.cli.support import DEMO_PASSWORD
from govern.policy import ACTIONS, Actor
from govern.services.people import set_password
from govern.workflows.guards import GUARDS
from tests.api.conftest import ApiClient
from tests.conftest import cli_invoker
from tests.vocabulary.sweep import crawl
from tests.web.conftest import WebClient

HOSPITAL = Path(__file__).resolve().parents[1] / "fixtures" / "hospital" / "govern.yaml"
HOSPITAL_PEOPLE = ("hana", "omar", "ines", "tariq", "okafor")


def _identifiers(session) -> set[str]:
    """What must never be read outside code: identifiers with an underscore or a dot (a word alone, like `deliver`,
    is also English), of the applied lifecycle, the guards, the permission table and the scoring inputs."""
    from govern.scoring import scoring_config
    from govern.workflows.services import lifecycle_of

    d = lifecycle_of(session).definition
    names = set(d.states) | {t.trigger for t in d.transitions} | set(GUARDS) | set(ACTIONS) | set(d.checks)
    config = scoring_config(session)
    names |= {n for m in config.models.values() for n in m.inputs}
    return {n for n in names if "_" in n or "." in n}


def _offences(pages: dict[str, str], identifiers: set[str], handles: set[str], renamed_customer: bool) -> list[str]:
    ids = re.compile(r"(?<![\w./-])(" + "|".join(sorted(map(re.escape, identifiers), key=len, reverse=True))
                     + r")(?![\w/-])")
    who = re.compile(r"\b(?:requested by|approved by|owner|owner of)\s+(" + "|".join(map(re.escape, handles))
                     + r")\b")
    customer = re.compile(r"\bcustomers?\b", re.I)
    found = []
    for path, text in sorted(pages.items()):
        for pattern, what in ((ids, "identifier"), (who, "handle")) + (((customer, "customer"),)
                                                                       if renamed_customer else ()):
            for m in pattern.finditer(text):
                found.append(f"{path}: {what} {m.group(0)!r} in …{text[max(0, m.start() - 50):m.end() + 30]}…")
    return found


def _hospital(app, db, tmp_path):
    govern = cli_invoker(db, tmp_path)
    applied = govern("apply", str(HOSPITAL))
    assert applied.exit_code == 0, applied.output
    with db.session_scope() as s:
        for handle in HOSPITAL_PEOPLE:
            set_password(s, Actor.system_actor("test"), handle, DEMO_PASSWORD, commit=False)
        s.commit()
    api = ApiClient(app, db)
    keys = [api.post("/insights", as_="ines", json={"text": text, "source": "PALS", "kind": "complaint",
                                                    "steps": [step]}).json["key"]
            for text, step in (("Nobody told me where the labour ward was", "giving-birth/labour-ward"),
                               ("Four hours in triage without an update", "emergency-visit/triage"))]
    opp = api.post("/opportunities", as_="ines", json={
        "title": "How might we keep patients informed while they wait?",
        "journeys": ["giving-birth", "emergency-visit"], "insights": keys}).json["key"]
    moved = api.post(f"/opportunities/{opp}/transitions", as_="ines", json={"trigger": "request_safety_review"})
    assert moved.status_code in (200, 201, 202), moved.json
    added = api.post(f"/opportunities/{opp}/solutions", as_="ines", json={"title": "Update board in triage"})
    assert added.status_code == 201, added.json


def _sweep(the_app, the_db, reader: str, organisation: str, renamed_customer: bool) -> None:
    import sqlalchemy as sa

    from govern.model import Person

    with the_db.session_scope() as s:
        identifiers = _identifiers(s)
        handles = set(s.scalars(sa.select(Person.handle)))
    web = WebClient(the_app.test_client()).sign_in(reader)
    pages = crawl(web.client)
    read = {p: text for p, text in pages.items() if text}
    assert len(read) > 30, sorted(pages)
    unnamed = [p for p, text in read.items() if organisation not in text]
    assert not unnamed, f"pages that do not name {organisation}: {unnamed}"
    offences = _offences(read, identifiers, handles, renamed_customer)
    assert not offences, "\n".join(offences[:40]) + f"\n({len(offences)} in all)"


def test_every_page_of_telco_nova_reads_in_its_words(example_app, example_db):
    _sweep(example_app, example_db, "ana", "Telco Nova", renamed_customer=False)


def test_every_page_of_the_hospital_reads_in_its_words(app, db, tmp_path):
    _hospital(app, db, tmp_path)
    _sweep(app, db, "hana", "St. Elsewhere Hospital", renamed_customer=True)


# --- Slack ----------------------------------------------------------------------------------------------------------


class _Directory:
    """Slack user id → person id, as the real directory finds them (here: the ids are the handles)."""

    def __init__(self, ids: dict[str, int]):
        self.ids = ids

    def person_id_for(self, _db, user_id: str):
        return self.ids.get(user_id)


def _slack_texts(value) -> list[str]:
    """Every text a person reads in a Slack message body, links shown by their labels, code spans aside."""
    if isinstance(value, dict):
        return [t for k, v in value.items() if k not in ("action_id", "value", "block_id", "url", "type")
                for t in _slack_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _slack_texts(v)]
    if isinstance(value, str):
        text = re.sub(r"<[^|>]+\|([^>]+)>", r"\1", value)
        return [re.sub(r"`[^`]*`", "`…`", text)]
    return []


def _slack_sweep(the_db, reader: str, supporter: str, renamed_customer: bool) -> None:
    import datetime as dt

    import sqlalchemy as sa

    from govern.integrations.slack import blocks
    from govern.integrations.slack.approvals import render_request
    from govern.integrations.slack.commands import Invocation, run
    from govern.integrations.slack.delivery import _person_named
    from govern.model import ApprovalRequest, Journey, Opportunity, OpportunityTransition, Person, Ritual
    from govern.queries.states import state_catalog
    from govern.rituals.agenda import build_agenda
    from govern.workflows.services import approval_status

    with the_db.session_scope() as s:
        identifiers = _identifiers(s)
        people = {p.handle: p for p in s.scalars(sa.select(Person))}
        ids = {handle: p.id for handle, p in people.items()}
        opportunities = [o.key for o in s.scalars(sa.select(Opportunity).order_by(Opportunity.number))]
        journeys = [j.key for j in s.scalars(sa.select(Journey).order_by(Journey.key))]
        messages: dict[str, list[str]] = {}
        for request in s.scalars(sa.select(ApprovalRequest).order_by(ApprovalRequest.id)):
            messages[f"approval request #{request.id}"] = _slack_texts(render_request(s, request))
            if request.status == "pending":
                refusal = approval_status(s, request).refusal(ids[supporter], decision="approve")
                messages[f"refusal #{request.id}"] = [refusal or ""]
        for step in s.scalars(sa.select(OpportunityTransition).limit(20)):
            opp = s.get(Opportunity, step.opportunity_id)
            body = blocks.transition_notice(opp, step.from_state, step.to_state, states=state_catalog(s, opp.lifecycle),
                                            actor=_person_named(s, reader), reason="because")
            messages[f"transition of {opp.key}"] = _slack_texts(body)
        now = dt.datetime.now(dt.timezone.utc)
        for ritual in s.scalars(sa.select(Ritual)):
            messages[f"agenda {ritual.key}"] = _slack_texts(blocks.agenda_blocks(build_agenda(s, ritual, now, now=now)))
    directory = _Directory(ids)
    commands = (["help", "list", "mine", "agenda"] + [f"status {k}" for k in opportunities]
                + [f"owner {k}" for k in journeys])
    for handle in (reader, supporter):
        for text in commands:
            messages[f"/govern {text} as {handle}"] = _slack_texts(run(the_db, directory, Invocation(handle, text)))
        for key in opportunities:
            for text in (f"approve {key}", f"reject {key} not now"):
                if handle == supporter:  # a refusal, without changing anything
                    messages[f"/govern {text} as {handle}"] = _slack_texts(
                        run(the_db, directory, Invocation(handle, text)))
    read = {where: "\n".join(texts) for where, texts in messages.items()}
    assert len(read) > 15 and any(k.startswith("/govern status") for k in read), sorted(read)
    offences = _offences(read, identifiers, set(people), renamed_customer)
    named = re.compile(r"\((" + "|".join(map(re.escape, sorted(people, key=len, reverse=True))) + r")(?:, [^)]*)?\)")
    offences += [f"{where}: handle {m.group(0)!r}" for where, text in read.items() for m in named.finditer(text)]
    assert not offences, "\n".join(offences[:40]) + f"\n({len(offences)} in all)"


def test_every_slack_text_of_telco_nova_reads_in_its_words(example_app, example_db):
    from govern.workflows.services import request_transition
    from tests.conftest import actor

    with example_db.session_scope() as s:  # a request waiting for the lead, one for the owners
        request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready")
        request_transition(s, actor(s, "femke"), "OPP-2", "implement", reason="scored")
    _slack_sweep(example_db, "ana", "priya", renamed_customer=False)


def test_every_slack_text_of_the_hospital_reads_in_its_words(app, db, tmp_path):
    _hospital(app, db, tmp_path)
    _slack_sweep(db, "hana", "okafor", renamed_customer=True)
