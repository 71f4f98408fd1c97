"""Everything the playbook prints, read once from the live configuration and database into plain, ordered data.

`collect(session, as_of=...)` never reads the clock: the moment the playbook describes ("next rituals", evidence
freshness, the maturity reading's 90-day window) is passed in, so the same database and `as_of` give the same bytes.
Every list is in a stable order (keys, handles, positions), never in the database's order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import maturity as maturity_mod
from govern import scoring
from govern.scoring import inputs as scoring_inputs
from govern.model import (
    COUNCIL_ROLES, CouncilSeat, Insight, Journey, Kpi, KpiMeasurement, Opportunity, Person, Persona, Ritual, Stage,
    Step, insight_step, journey_persona, opportunity_insight, opportunity_journey, volume_weight_sql,
)
from govern.policy import ACTIONS, ROLES, ROLES_SETTING, Actor, CustomRole, Scope, custom_roles_from, who_may
from govern.queries.states import state_catalog
from govern.queries.reference import reference
from govern.services.common import get_setting, load_actors
from govern.vocabulary import DEFAULT as DEFAULT_WORDS, Vocabulary, vocabulary_of
from govern.integrations.slack.parsing import USAGES as SLACK_USAGES
from govern.playbook import words
from govern.rituals import cadence as cadence_mod
from govern.rituals.calendar import attends
from govern.rituals.config import AGENDA_SECTION_TITLES
from govern.workflows import approvals as approvals_mod
from govern.kpis.verdicts import VERDICTS, verdict_words
from govern.workflows.diagrams import to_mermaid, to_svg
from govern.workflows.effects import EFFECTS
from govern.queries.requests import pending_requests
from govern.workflows.services import approval_status, lifecycle_of

# The roles that get an onboarding page: the council's standing roles and the journey owner.
ONBOARDING_ROLES = (*COUNCIL_ROLES, "owner")
ROLE_TITLES = {"admin": "Administrator", "lead": "Council lead", "manager": "Journey manager",
               "coordinator": "Journey coordinator", "supporter": "Journey supporter", "owner": "Journey owner",
               "viewer": "Viewer"}
UPCOMING_PER_RITUAL = 3
MAX_LISTED_JOURNEYS = 12  # a permission scope longer than this is counted, not listed


@dataclass
class KpiInfo:
    key: str
    name: str
    kind: str
    scale: str
    unit: str | None
    direction: str
    target: float | None
    journey_key: str | None
    step_name: str | None
    latest: float | None = None
    latest_on: dt.date | None = None


@dataclass
class StageInfo:
    name: str
    steps: list[dict[str, Any]]


@dataclass
class JourneyInfo:
    id: int
    key: str
    name: str
    level: str
    description: str
    parent_key: str | None
    depth: int
    owner: str | None  # handle
    slack_channel: str | None
    details_step: str | None
    children: list[str] = field(default_factory=list)
    personas: list[str] = field(default_factory=list)
    stages: list[StageInfo] = field(default_factory=list)
    kpis: list[KpiInfo] = field(default_factory=list)
    open_opportunities: list["OppInfo"] = field(default_factory=list)


@dataclass
class OppInfo:
    id: int
    key: str
    number: int
    title: str
    state: str
    owner: str | None
    journeys: list[str] = field(default_factory=list)


@dataclass
class Permission:
    action: str
    description: str
    everywhere: bool
    journeys: list[str]  # journey keys a scoped role reaches (empty when `everywhere` or not allowed)
    who_may: list[str]

    @property
    def allowed(self) -> bool:
        return self.everywhere or bool(self.journeys)


@dataclass
class PendingInfo:
    id: int
    opportunity: str
    title: str
    trigger: str
    from_state: str
    to_state: str
    requested_by: str | None
    rule_text: str
    waiting_for: list[str]
    eligible: list[str]  # handles who may approve now
    journeys: list[str]


@dataclass
class Occurrence:
    at_utc: dt.datetime
    local: str


@dataclass
class RitualInfo:
    key: str
    name: str
    purpose: str
    cadence: str
    cadence_raw: str
    timezone: str
    duration_minutes: int
    scope: str
    scope_journeys: list[str] | None
    attendee_roles: list[str]
    attendee_people: list[str]
    attendees: list[str]  # handles of everyone who attends
    slack_channel: str | None
    agenda: list[tuple[str, str]]  # (section, title)
    agenda_lead_minutes: int
    piggyback_on: str | None
    upcoming: list[Occurrence] = field(default_factory=list)


@dataclass
class PersonInfo:
    id: int
    handle: str
    name: str
    title: str | None
    department: str | None
    email: str | None
    slack_id: str | None
    is_admin: bool
    seats: list[tuple[str, str | None]]  # (role, journey key or None for the whole council)
    owned: list[str]
    roles: list[str]  # every role the policy sees (incl. derived owner, admin), without viewer
    permissions: list[Permission] = field(default_factory=list)
    journeys: list[str] = field(default_factory=list)  # journeys they own or whose seat covers them (with subtrees)
    council_wide: bool = False
    rituals: list[str] = field(default_factory=list)
    awaiting_me: list[int] = field(default_factory=list)  # pending request ids this person may approve now
    on_my_journeys: list[int] = field(default_factory=list)  # pending request ids touching their journeys
    can_approve: bool = False

    @property
    def headline(self) -> str:
        return ", ".join(self.roles) if self.roles else "viewer"


@dataclass
class TransitionInfo:
    trigger: str
    sources: list[str]
    dest: str
    description: str
    guards: list[str]  # plain words
    guard_labels: list[str]
    approval: str | None  # plain words
    approval_roles: list[str]  # policy roles that approve (owner, lead, manager …)
    approvers_now: list[str]  # handles holding an approving council role (owners are per opportunity)
    requires_reason: bool
    auto: bool
    effects: list[str]
    effect_names: list[str]
    requesters: list[str] = field(default_factory=list)  # roles and person:handle, when the lifecycle limits them
    # What people call the transition and its states (the lifecycle's titles; identifiers stay in the fields above).
    title: str = ""
    source_titles: list[str] = field(default_factory=list)
    dest_title: str = ""


@dataclass
class Playbook:
    as_of: dt.datetime
    base_url: str | None
    organisation: dict[str, Any]
    levels: list[str]
    terminology: list[dict[str, str]]
    people: list[PersonInfo]
    journeys: list[JourneyInfo]  # depth-first, in the organisation's order
    personas: list[dict[str, Any]]
    kpis: list[KpiInfo]
    lifecycle: dict[str, Any]
    transitions: list[TransitionInfo]
    rituals: list[RitualInfo]
    pending: list[PendingInfo]
    scoring: dict[str, Any]
    maturity: dict[str, Any]
    slack: dict[str, Any]
    jira: dict[str, Any]
    role_holders: dict[str, list[tuple[str, str | None]]]  # role -> [(handle, journey key)]
    opportunity_count: int = 0
    open_count: int = 0
    state_counts: dict[str, int] = field(default_factory=dict)
    open_states: list[str] = field(default_factory=list)
    words: Vocabulary = DEFAULT_WORDS  # the organisation's words for the product's nouns
    custom_roles: dict[str, CustomRole] = field(default_factory=dict)  # govern.yaml `roles:`, by key

    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)  # rendering caches

    def person(self, handle: str) -> PersonInfo:
        return self._people[handle]

    def journey(self, key: str) -> JourneyInfo:
        return self._journeys[key]

    def request(self, request_id: int) -> PendingInfo:
        return self._pending[request_id]

    def index(self) -> None:
        self._people = {p.handle: p for p in self.people}
        self._journeys = {j.key: j for j in self.journeys}
        self._pending = {r.id: r for r in self.pending}

    @property
    def org_name(self) -> str:
        return self.organisation.get("name") or "your organisation"


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def local_time(at_utc: dt.datetime, tz_name: str) -> str:
    local = _utc(at_utc).astimezone(ZoneInfo(tz_name))
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"


# --- journeys -----------------------------------------------------------------------------------------------------------


def _journeys(session: Session, handles: dict[int, str], as_of: dt.datetime
              ) -> tuple[list[JourneyInfo], list[KpiInfo], dict[int, list[int]]]:
    rows = session.execute(sa.select(
        Journey.id, Journey.key, Journey.name, Journey.level, Journey.description, Journey.parent_id,
        Journey.owner_id, Journey.slack_channel, Journey.parent_step_id, Journey.position)).all()
    by_id = {r.id: r for r in rows}
    children: dict[int | None, list[int]] = {}
    for r in rows:
        parent = r.parent_id if r.parent_id in by_id else None
        children.setdefault(parent, []).append(r.id)
    for ids in children.values():
        ids.sort(key=lambda i: (by_id[i].position, by_id[i].key))
    step_names = dict(session.execute(sa.select(Step.id, Step.name)).all())

    ordered: list[JourneyInfo] = []
    infos: dict[int, JourneyInfo] = {}

    def walk(jid: int, depth: int) -> None:
        r = by_id[jid]
        info = JourneyInfo(
            id=r.id, key=r.key, name=r.name, level=r.level, description=r.description or "",
            parent_key=by_id[r.parent_id].key if r.parent_id in by_id else None, depth=depth,
            owner=handles.get(r.owner_id), slack_channel=r.slack_channel,
            details_step=step_names.get(r.parent_step_id),
            children=[by_id[c].key for c in children.get(jid, [])])
        infos[jid] = info
        ordered.append(info)
        for child in children.get(jid, []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)

    persona_keys = dict(session.execute(sa.select(Persona.id, Persona.key)).all())
    for jid, pid in session.execute(sa.select(journey_persona.c.journey_id, journey_persona.c.persona_id)):
        if jid in infos:
            infos[jid].personas.append(persona_keys[pid])
    for info in ordered:
        info.personas.sort()

    stages: dict[int, StageInfo] = {}
    for sid, jid, name in session.execute(sa.select(Stage.id, Stage.journey_id, Stage.name)
                                          .order_by(Stage.journey_id, Stage.position, Stage.id)):
        stages[sid] = StageInfo(name, [])
        infos[jid].stages.append(stages[sid])
    loose: dict[int, StageInfo] = {}
    for jid, stage_id, key, name, channel, touchpoint, mtm, emotion in session.execute(
            sa.select(Step.journey_id, Step.stage_id, Step.key, Step.name, Step.channel, Step.touchpoint,
                      Step.moment_that_matters, Step.emotion_score)
            .order_by(Step.journey_id, Step.position, Step.id)):
        step = {"key": key, "name": name, "channel": channel, "touchpoint": touchpoint, "moment": bool(mtm),
                "emotion": emotion}
        if stage_id in stages:
            stages[stage_id].steps.append(step)
        else:
            if jid not in loose:
                loose[jid] = StageInfo("Steps", [])
                infos[jid].stages.append(loose[jid])
            loose[jid].steps.append(step)

    # Latest measurement of each KPI at the playbook's moment.
    cutoff = _utc(as_of).replace(tzinfo=None)
    newest = (sa.select(KpiMeasurement.kpi_id, sa.func.max(KpiMeasurement.measured_at).label("at"))
              .where(KpiMeasurement.measured_at <= cutoff).group_by(KpiMeasurement.kpi_id).subquery())
    latest = {kid: (value, at) for kid, value, at in session.execute(
        sa.select(KpiMeasurement.kpi_id, KpiMeasurement.value, KpiMeasurement.measured_at)
        .join(newest, sa.and_(newest.c.kpi_id == KpiMeasurement.kpi_id, newest.c.at == KpiMeasurement.measured_at)))}
    step_journey = dict(session.execute(sa.select(Step.id, Step.journey_id)).all())
    kpis: list[KpiInfo] = []
    for k in session.scalars(sa.select(Kpi).order_by(Kpi.key)):
        jid = k.journey_id if k.journey_id is not None else step_journey.get(k.step_id)
        value, at = latest.get(k.id, (None, None))
        info = KpiInfo(k.key, k.name, k.kind, k.scale, k.unit, k.direction, k.target,
                       infos[jid].key if jid in infos else None, step_names.get(k.step_id), value,
                       at.date() if at else None)
        kpis.append(info)
        if jid in infos:
            infos[jid].kpis.append(info)
    return ordered, kpis, {k: v for k, v in children.items() if k is not None}


def _subtree(children: dict[int, list[int]], root: int) -> list[int]:
    out, todo = [], [root]
    seen: set[int] = set()
    while todo:
        jid = todo.pop()
        if jid in seen:
            continue
        seen.add(jid)
        out.append(jid)
        todo.extend(children.get(jid, ()))
    return out


# --- the lifecycle ------------------------------------------------------------------------------------------------------


def _approval_roles(rule: Any) -> list[str]:
    (kind, value), = rule.items()
    if kind == "owners":
        return ["owner"]
    if kind == "role":
        return [value]
    if kind == "quorum":
        return [value["role"]]
    if kind == "person":
        return []
    out: list[str] = []
    for sub in value:
        out.extend(r for r in _approval_roles(sub) if r not in out)
    return out


def _approval_people(rule: Any) -> list[str]:
    """The handles a rule names as approvers (`{person: okafor}`)."""
    (kind, value), = rule.items()
    if kind == "person":
        return [value]
    if kind == "all_of":
        return [h for sub in value for h in _approval_people(sub)]
    return []


def _lifecycle(session: Session, role_holders: dict[str, list[tuple[str, str | None]]]
               ) -> tuple[dict[str, Any], list[TransitionInfo]]:
    lifecycle = lifecycle_of(session)
    vocabulary = vocabulary_of(session)
    jira_on = jira_enabled(get_setting(session, "jira", {}) or {})
    d = lifecycle.definition
    names = {p.handle: p.name for p in reference(session).people}  # approvers named, not by handle
    info = {
        "name": d.name, "title": d.title, "description": d.description, "initial": d.initial,
        "final": list(d.final),
        "states": [{"name": s.name, "title": s.title, "kind": s.kind, "description": s.description,
                    "final": s.final, "initial": s.name == d.initial} for s in d.states.values()],
        "svg": "\n".join(line for line in to_svg(d, words=vocabulary, names=names).splitlines() if line.strip()),
        "mermaid": to_mermaid(d, words=vocabulary, names=names),
        "measure_after_days": d.measure_after_days,
        "verdicts": [{"name": v, "words": verdict_words(v)} for v in VERDICTS],
    }
    transitions = []
    for t in d.transitions:
        roles = _approval_roles(t.approval) if t.approval else []
        now = sorted({h for r in roles if r != "owner" for h, _ in role_holders.get(r, [])}
                     | set(_approval_people(t.approval) if t.approval else []))
        transitions.append(TransitionInfo(
            trigger=t.trigger, sources=list(t.sources), dest=t.dest, description=t.description,
            guards=[words.guard_words(g.name, g.params, vocabulary) for g in t.guards],
            guard_labels=[g.label(vocabulary) for g in t.guards],
            approval=approvals_mod.describe_rule(t.approval, names) if t.approval else None,
            approval_roles=roles, approvers_now=now, requires_reason=t.requires_reason, auto=t.auto,
            effects=[_effect_words(e, vocabulary, jira_on) for e in t.effects],
            effect_names=[e.name for e in t.effects], requesters=list(t.requesters),
            title=t.display_title, source_titles=[lifecycle.title_of(x) for x in t.sources],
            dest_title=lifecycle.title_of(t.dest)))
    return info, transitions


def _effect_words(effect: Any, vocabulary: Vocabulary = DEFAULT_WORDS, jira_on: bool = True) -> str:
    if effect.name == "create_backlog_items" and not jira_on:
        return vocabulary.fill("nothing outside the engine: Jira is not configured, so {solutions} are tracked here")
    text = vocabulary.fill(EFFECTS[effect.name].description)
    if effect.name == "notify":
        channel = effect.params.get("channel")
        return ("post it in the Slack channel of each journey it touches" if channel == "journey"
                else f"post it in {channel}")
    for key, value in sorted(effect.params.items()):
        text = text.replace(f"`{key}`", str(value))
    return text.replace("`", "")


# --- scoring and maturity -----------------------------------------------------------------------------------------------


def _scoring(session: Session, today: dt.date, open_states: list[str]) -> dict[str, Any]:
    config = scoring.scoring_config(session)
    described = config.describe()
    ranking = scoring.rank_portfolio(session, state=open_states or None, limit=10, today=today)
    example = next((row for row in ranking if row.get("score") is not None), None)
    evidence = None
    if example is not None:
        opp_id = session.scalar(sa.select(Opportunity.id).where(Opportunity.number == example["number"]))
        linked = (sa.select(opportunity_insight.c.insight_id)
                  .join(Insight, Insight.id == opportunity_insight.c.insight_id)
                  .where(opportunity_insight.c.opportunity_id == opp_id, Insight.merged_into_id.is_(None)))
        insights, sources, newest, weighted = session.execute(
            sa.select(sa.func.count(Insight.id), sa.func.count(sa.distinct(sa.func.lower(sa.func.trim(Insight.source)))),
                      sa.func.max(Insight.observed_on), sa.func.sum(volume_weight_sql(Insight.volume)))
            .where(Insight.id.in_(linked))).one()
        journeys = session.scalar(
            sa.select(sa.func.count(sa.distinct(Step.journey_id)))
            .select_from(insight_step.join(Step, Step.id == insight_step.c.step_id))
            .where(insight_step.c.insight_id.in_(linked))) or 0
        if isinstance(newest, str):
            newest = dt.date.fromisoformat(newest[:10])
        signals = scoring.EvidenceSignals(insights or 0, journeys, sources or 0, newest, int(weighted or 0))
        parts = scoring.evidence_parts(signals, today)
        evidence = {"insights": signals.insights, "journeys": signals.journeys, "sources": signals.sources,
                    "newest": newest, "age_days": signals.age_days(today), "parts": parts,
                    "strength": scoring.evidence_strength(signals, today)}
    inputs = {name: {"min": spec.minimum, "max": spec.maximum, "description": spec.description}
              for name, spec in sorted(config.input_specs.items())}
    builtin = {}
    for model in config.models.values():
        for name in model.recorded_inputs:
            spec = model.spec(name)
            if spec is not None and name not in builtin:
                builtin[name] = spec.description
    declared = list((get_setting(session, scoring.SCORING_SETTING, {}) or {}).get("models", {}) or {})
    w = vocabulary_of(session)
    # The rule is written with the product's nouns; say it with the organisation's.
    evidence_rule = (described["evidence_rule"].replace("min(insights,", f"min({w.many('insight')},")
                     .replace("newest insight", f"newest {w.one('insight')}"))
    return {"default": config.default, "declared": [m for m in declared if m != config.default],
            "models": described["models"], "evidence_rule": evidence_rule,
            "inputs": inputs, "input_descriptions": builtin, "ranking": ranking, "example": example,
            "input_titles": {name: (m.spec(name).label if m.spec(name) else scoring_inputs.input_title(name))
                             for m in config.models.values() for name in m.inputs},
            "evidence": evidence}


def _maturity(session: Session, as_of: dt.datetime) -> dict[str, Any]:
    """The maturity reading at the playbook's moment (`govern.maturity` works in naive UTC, like the database)."""
    return maturity_mod.maturity_reading(session, now=_utc(as_of).replace(tzinfo=None)).as_dict()


# --- people and permissions ---------------------------------------------------------------------------------------------


def permissions_of(actor: Actor, journey_keys: dict[int, str]) -> list[Permission]:
    """What this actor may do, action by action, exactly as `Actor.can` decides it (the services' check)."""
    out = []
    for action, (description, grants) in ACTIONS.items():
        everywhere = actor.can(action)
        reach: set[int] = set()
        if not everywhere:
            for role in sorted(actor.roles):
                if (grants.get(role) or actor.grants.get(role, {}).get(action)) is Scope.SCOPED:
                    reach |= actor.scopes.get(role, frozenset())
        out.append(Permission(action, description, everywhere,
                              sorted(journey_keys[j] for j in reach if j in journey_keys), who_may(action)))
    return out


RACI_ROLES = ("lead", "manager", "coordinator", "supporter", "owner")
RACI_LEGEND = {
    "R": "responsible: may do it (for a transition: may request it; for a ritual: holds and minutes it)",
    "A": "accountable: approves it (the lifecycle's approval rule; without one, the journey owner) or, for a ritual, "
         "defines and schedules it",
    "C": "consulted: feeds it with evidence and data, or attends the ritual",
    "I": "informed: told in Slack when it happens, or receives the ritual's agenda",
}


def _granted(action: str, custom: dict[str, CustomRole] | None = None) -> set[str]:
    return ({role for role in RACI_ROLES if ACTIONS[action][1].get(role) is not None}
            | {key for key, role in (custom or {}).items() if action in role.permissions})


def raci_roles(pb: "Playbook") -> list[str]:
    """The RACI columns: the practice's roles and the organisation's own."""
    return [*RACI_ROLES, *pb.custom_roles]


def raci(pb: "Playbook") -> list[dict[str, Any]]:
    """The RACI matrix for the lifecycle's transitions and the rituals, derived from the permission table, the
    lifecycle's approval rules and effects, and the rituals' attendees."""
    rows = []
    columns = raci_roles(pb)
    may_request = _granted("transition.request", pb.custom_roles)
    feeds = (_granted("evidence.record", pb.custom_roles) | _granted("kpi.measure", pb.custom_roles)) - may_request
    for t in pb.transitions:
        cells: dict[str, list[str]] = {r: [] for r in columns}
        listed = {r for r in t.requesters if not r.startswith("person:")}
        for role in sorted(may_request & listed if t.requesters else may_request):
            cells[role].append("R")
        for role in (t.approval_roles if t.approval else ["owner"]):
            if role in cells:
                cells[role].append("A")
        if t.guards:
            for role in sorted(feeds):
                cells[role].append("C")
        if "notify" in t.effect_names:
            for role, letters in cells.items():
                if not letters:
                    letters.append("I")
        rows.append({"kind": "transition", "key": t.trigger,
                     "label": f"{t.title or t.trigger}: {', '.join(t.source_titles or t.sources)} → "
                              f"{t.dest_title or t.dest}",
                     "cells": {r: ", ".join(v) for r, v in cells.items()}})
    record, manage = _granted("ritual.record", pb.custom_roles), _granted("ritual.manage", pb.custom_roles)
    for r in pb.rituals:
        cells = {role: [] for role in columns}
        for role in columns:
            if role in record:
                cells[role].append("R")
            if role in manage:
                cells[role].append("A")
            if not cells[role] and role in r.attendee_roles:
                cells[role].append("C")
            if not cells[role] and r.slack_channel:
                cells[role].append("I")
        rows.append({"kind": "ritual", "key": r.key, "label": r.name,
                     "cells": {role: ", ".join(v) for role, v in cells.items()}})
    return rows


def role_grants(role: str) -> list[tuple[str, str, Scope | None]]:
    """(action, description, scope or None) for one role, straight from the permission table."""
    return [(action, desc, grants.get(role)) for action, (desc, grants) in ACTIONS.items()]


# --- collect ------------------------------------------------------------------------------------------------------------


def collect(session: Session, *, as_of: dt.datetime, base_url: str | None = None) -> Playbook:
    """Read the configuration and data the playbook prints, at the moment `as_of` (aware or naive UTC)."""
    as_of = _utc(as_of)
    today = as_of.date()
    people_rows = list(session.scalars(sa.select(Person).where(Person.active.is_(True)).order_by(Person.handle)))
    handles = {p.id: p.handle for p in session.scalars(sa.select(Person))}
    journeys, kpis, children = _journeys(session, handles, as_of)
    by_key = {j.key: j for j in journeys}
    journey_keys = {j.id: j.key for j in journeys}

    seats = session.execute(sa.select(CouncilSeat.person_id, CouncilSeat.role, CouncilSeat.journey_id)
                            .order_by(CouncilSeat.person_id, CouncilSeat.role, CouncilSeat.journey_id)).all()
    active_ids = {p.id for p in people_rows}
    role_holders: dict[str, list[tuple[str, str | None]]] = {r: [] for r in ROLES}
    for pid, role, jid in seats:
        if pid in active_ids:
            role_holders.setdefault(role, []).append((handles[pid], journey_keys.get(jid)))
    active_handles = {p.handle for p in people_rows}
    for j in journeys:
        if j.owner and j.owner in active_handles:
            role_holders["owner"].append((j.owner, j.key))
    for p in people_rows:
        if p.is_admin:
            role_holders["admin"].append((p.handle, None))
    for role in role_holders:
        role_holders[role].sort(key=lambda item: (item[0], item[1] or ""))

    custom_roles = custom_roles_from(get_setting(session, ROLES_SETTING))
    lifecycle, transitions = _lifecycle(session, role_holders)
    catalog = state_catalog(session)
    open_states = catalog.open_states

    # Opportunities (open ones are listed per journey).
    opps: dict[int, OppInfo] = {}
    count = 0
    for oid, number, title, state, owner_id in session.execute(
            sa.select(Opportunity.id, Opportunity.number, Opportunity.title, Opportunity.state, Opportunity.owner_id)
            .order_by(Opportunity.number)):
        count += 1
        if catalog.is_open(state):
            opps[oid] = OppInfo(oid, f"OPP-{number}", number, title, state, handles.get(owner_id))
    for oid, jid in session.execute(sa.select(opportunity_journey.c.opportunity_id, opportunity_journey.c.journey_id)
                                    .order_by(opportunity_journey.c.opportunity_id, opportunity_journey.c.journey_id)):
        if oid in opps and jid in journey_keys:
            opps[oid].journeys.append(journey_keys[jid])
            by_key[journey_keys[jid]].open_opportunities.append(opps[oid])
    for j in journeys:
        j.open_opportunities.sort(key=lambda o: o.number)

    # Pending approval requests, with who may decide each.
    pending = []
    for request in pending_requests(session):
        status = approval_status(session, request)
        opp = request.opportunity
        pending.append(PendingInfo(
            id=request.id, opportunity=opp.key, title=opp.title, trigger=request.trigger,
            from_state=request.from_state, to_state=request.to_state,
            requested_by=handles.get(request.requested_by_id),
            rule_text=approvals_mod.describe_rule(request.rule) if request.rule else "",
            waiting_for=status.waiting_for(), eligible=sorted(handles[p] for p in status.eligible() if p in handles),
            journeys=sorted(j.key for j in opp.journeys)))
    pending.sort(key=lambda r: r.id)

    # Rituals.
    rituals = []
    seats_by_person: dict[int, list[tuple[str, int | None]]] = {}
    for pid, role, jid in seats:
        seats_by_person.setdefault(pid, []).append((role, jid))
    person_ids = {h: pid for pid, h in handles.items()}
    owned_by_person: dict[int, set[int]] = {}
    for j in journeys:
        if j.owner is not None:
            owned_by_person.setdefault(person_ids[j.owner], set()).add(j.id)
    for r in session.scalars(sa.select(Ritual).where(Ritual.active.is_(True)).order_by(Ritual.key)):
        scope_ids: set[int] | None = None
        if r.scope_kind != "council" and r.scope_journey_id is not None:
            scope_ids = {r.scope_journey_id} if r.scope_kind == "journey" else set(_subtree(children, r.scope_journey_id))
        scope_key = journey_keys.get(r.scope_journey_id)
        if scope_ids is None:
            scope = "the whole council"
        elif r.scope_kind == "journey":
            scope = f"the journey {by_key[scope_key].name}" if scope_key else "one journey"
        else:
            scope = f"{by_key[scope_key].name} and the journeys below it" if scope_key else "a journey subtree"
        who = [p.handle for p in people_rows if attends(
            attendee_roles=r.attendee_roles or [], attendee_people=r.attendee_people or [],
            scope_journey_ids=scope_ids, handle=p.handle, seats=seats_by_person.get(p.id, []),
            owned_journey_ids=owned_by_person.get(p.id, set()))]
        upcoming = []
        try:
            for at in cadence_mod.iter_occurrences(r.cadence_kind, r.cadence, r.timezone, as_of):
                upcoming.append(Occurrence(at, local_time(at, r.timezone)))
                if len(upcoming) >= UPCOMING_PER_RITUAL:
                    break
        except cadence_mod.CadenceError:
            upcoming = []
        rituals.append(RitualInfo(
            key=r.key, name=r.name, purpose=r.purpose or "",
            cadence=words.cadence_words(r.cadence_kind, r.cadence, r.timezone), cadence_raw=r.cadence,
            timezone=r.timezone, duration_minutes=r.duration_minutes, scope=scope,
            scope_journeys=sorted(journey_keys[i] for i in scope_ids) if scope_ids is not None else None,
            attendee_roles=list(r.attendee_roles or []), attendee_people=sorted(r.attendee_people or []),
            attendees=who, slack_channel=r.slack_channel,
            agenda=[(s, vocabulary_of(session).fill(AGENDA_SECTION_TITLES.get(s, s))) for s in (r.agenda_sections or [])],
            agenda_lead_minutes=r.agenda_lead_minutes, piggyback_on=r.piggyback_on, upcoming=upcoming))

    # People.
    order = {j.key: n for n, j in enumerate(journeys)}
    people = []
    actors = load_actors(session, people_rows)  # the services' own rule, for everyone at once
    for p in people_rows:
        actor = actors[p.id]
        my_seats = [(role, journey_keys.get(jid)) for role, jid in seats_by_person.get(p.id, [])]
        my_seats.sort(key=lambda s: (COUNCIL_ROLES.index(s[0]) if s[0] in COUNCIL_ROLES else 9, s[1] or ""))
        owned = [j.key for j in journeys if j.owner == p.handle]
        council_wide = any(jk is None for _, jk in my_seats)
        reach: list[str] = []
        for role, jk in my_seats:
            if jk is not None:
                reach.extend(journey_keys[i] for i in _subtree(children, by_key[jk].id))
        reach.extend(owned)
        mine = sorted(set(reach), key=order.__getitem__)
        info = PersonInfo(
            id=p.id, handle=p.handle, name=p.name, title=p.title, department=p.department, email=p.email,
            slack_id=p.slack_id, is_admin=p.is_admin, seats=my_seats, owned=owned,
            roles=[r for r in ROLES if r in actor.roles and r != "viewer"],
            permissions=permissions_of(actor, journey_keys), journeys=mine, council_wide=council_wide,
            rituals=[r.key for r in rituals if p.handle in r.attendees],
            awaiting_me=[r.id for r in pending if p.handle in r.eligible],
            on_my_journeys=[r.id for r in pending if council_wide or set(r.journeys) & set(mine)])
        info.can_approve = any(perm.allowed for perm in info.permissions if perm.action == "transition.approve")
        people.append(info)

    personas = []
    journeys_of_persona: dict[str, list[str]] = {}
    for j in journeys:
        for key in j.personas:
            journeys_of_persona.setdefault(key, []).append(j.key)
    for persona in session.scalars(sa.select(Persona).order_by(Persona.key)):
        personas.append({"key": persona.key, "name": persona.name, "description": persona.description or "",
                         "needs": list(persona.needs or []), "journeys": journeys_of_persona.get(persona.key, [])})

    organisation = get_setting(session, "organisation", {}) or {}
    levels = list(organisation.get("levels") or sorted({j.level for j in journeys}))
    terminology = [t for t in (get_setting(session, "terminology", []) or []) if isinstance(t, dict)]
    playbook = Playbook(
        as_of=as_of, base_url=base_url.rstrip("/") if base_url else None, organisation=dict(organisation),
        levels=levels, terminology=terminology, people=people, journeys=journeys, personas=personas, kpis=kpis,
        lifecycle=lifecycle, transitions=transitions, rituals=rituals, pending=pending,
        scoring=_scoring(session, today, open_states), maturity=_maturity(session, as_of),
        slack=_slack(session), jira=dict(get_setting(session, "jira", {}) or {}), role_holders=role_holders,
        opportunity_count=count, open_count=len(opps), open_states=open_states, words=vocabulary_of(session),
        custom_roles=custom_roles,
        state_counts=dict(session.execute(sa.select(Opportunity.state, sa.func.count())
                                          .group_by(Opportunity.state)).all()))
    playbook.index()
    return playbook


def jira_enabled(settings: dict[str, Any]) -> bool:
    """Whether the organisation pushes solutions to Jira (a `jira:` section with a project, not switched off)."""
    return bool(settings.get("enabled", True) and settings.get("project"))


def _slack(session: Session) -> dict[str, Any]:
    settings = dict(get_setting(session, "slack", {}) or {})
    return {"command": settings.get("command") or "/journey", "council_channel": settings.get("council_channel"),
            "evidence_author": settings.get("evidence_author") is True,
            "usages": {name: (usage, vocabulary_of(session).fill(does))
                       for name, (usage, does) in SLACK_USAGES.items()}}

