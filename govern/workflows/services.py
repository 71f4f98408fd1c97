"""Lifecycle use cases: request, approve, reject and withdraw transitions; what awaits whom; history; the facts.

Every entry point (REST API, web UI, CLI, Slack, the Jira sync, rituals) calls these functions; they hold the rules.
Each function takes `(session, actor, ...)`, checks permissions, validates, writes, records audit events (with the guard
results at that moment), queues outside effects as outbox messages in the same transaction and commits once.

Concurrency: opportunities and approval requests carry a version column (SQLAlchemy `version_id_col`). A caller that
passes `expected_version` and is behind gets PreconditionFailed (HTTP 412); two writers racing on the same row: one
wins, the other gets Conflict (HTTP 409) with what happened, never a lost update.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager, joinedload, object_session
from sqlalchemy.orm.attributes import flag_modified, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from govern import audit, kpis, notifications, outbox, scoring
from govern.kpis.verdicts import IMPROVED_VERDICTS, MET_VERDICTS
from govern.db import core_connection
from govern.errors import Conflict, GuardsUnmet, InvalidInput, NotFound, PermissionDenied, PreconditionFailed
from govern.model import (
    ApprovalRequest, ApprovalVote, ChecklistTick, CouncilSeat, EvidenceSummary, Journey, Opportunity,
    OpportunityKpi, OpportunityTransition, OutboxMessage, Person, ScoreInput, Solution, opportunity_journey, utcnow,
)
from govern.notifications import Audience
from govern.policy import Actor
from govern.queries.cards import EvidenceCounts, OpportunityCard, journey_ids_of
from govern.queries.evidence import journey_breadth_rule as _journey_breadth_rule
from govern.queries.evidence import nested_evidence_journeys as _nested_evidence_journeys
from govern.queries.evidence import nested_evidence_journeys_many as _nested_evidence_journeys_many
from govern.queries.reference import reference
from govern.queries.requests import pending_request
from govern.queries.states import state_catalog
from govern.queries.rights import decision_refusal, withdraw_refusal
from govern.services.common import get_opportunity, get_setting
from govern.vocabulary import vocabulary_of
from govern.workflows import approvals
from govern.workflows.approvals import ApprovalContext, ApprovalStatus
from govern.workflows.definition import TransitionDef, definition_from_section
from govern.workflows.engine import (
    Check, Lifecycle, cached_lifecycle, get_lifecycle, lifecycle_for, lifecycle_from_data,
)
from govern.workflows.guards import FACT_GROUPS, OpportunityFacts, facts_needed
from govern.services.opportunities import set_solution_state

log = logging.getLogger(__name__)

LIFECYCLE_SETTING = "lifecycle.current"

# The backlog effect's outbox topic and kind (delivered by integrations/jira). What people are told goes out as
# notification events (govern.notifications), rendered by each chat adapter.
JIRA = "jira"
KIND_CREATE_BACKLOG_ITEM = "create_issue"


# --- which lifecycle --------------------------------------------------------------------------------------------------


def applied_lifecycle(session: Session) -> Lifecycle:
    """The lifecycle `govern apply` configured: the `lifecycle.current` setting holds the whole validated definition
    (and its digest, so the shared machine is found without parsing); older databases fall back to the raw
    `lifecycle` section, and an organisation that never applied a file gets the default."""
    current = get_setting(session, LIFECYCLE_SETTING) or {}
    if current.get("definition"):
        cached = cached_lifecycle(current.get("digest"))
        return cached or lifecycle_from_data(current["definition"], f"the applied lifecycle {current.get('name')!r}",
                                             current.get("digest"))
    section = get_setting(session, "lifecycle")
    if section is not None:
        return lifecycle_for(definition_from_section(section))
    return get_lifecycle(current.get("name", "default"))


def lifecycle_of(session: Session, opportunity: Opportunity | None = None) -> Lifecycle:
    """The lifecycle an opportunity lives in: the applied one, or the shipped one of the opportunity's `lifecycle`
    name when the organisation has since switched to another."""
    applied = applied_lifecycle(session)
    if opportunity is None or opportunity.lifecycle in (None, applied.name):
        return applied
    return get_lifecycle(opportunity.lifecycle)


# --- facts ------------------------------------------------------------------------------------------------------------


def facts_for(session: Session, opportunity: Opportunity, needs: Iterable[str] | None = None) -> OpportunityFacts:
    """The guard facts of one opportunity, computed from the database now (see OpportunityFacts for the rules).

    `needs` limits the work to the groups of facts some guards read (`workflows.guards.facts_needed`); facts outside
    it keep their zero defaults. One statement (plus the scoring model when asked).
    """
    return _facts_and(session, opportunity, needs)[0]


def _facts_and(session: Session, opportunity: Opportunity, needs: Iterable[str] | None = None,
               extra: dict[str, Any] | None = None, params: dict[str, Any] | None = None
               ) -> tuple[OpportunityFacts, dict[str, Any]]:
    """The facts, and the `extra` scalar subqueries (name → select) read in the same statement; `params` are the
    values of bound parameters the extras use (the opportunity's id is `FACTS_OPPORTUNITY`, bound here)."""
    groups = frozenset(FACT_GROUPS if needs is None else needs)
    oid = opportunity.id
    nested = "evidence" in groups and _journey_breadth_rule(session) == "independent"
    columns = _fact_columns(groups, nested)
    extra = extra or {}
    values: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    if columns or extra:
        statement = _facts_statement(columns, tuple(extra.items()))
        row = core_connection(session, autoflush=True).execute(
            statement, {FACTS_OPPORTUNITY.key: oid, **(params or {})}).one()._mapping
        values = {c.name: (row[c.name] or 0) for c in columns}
        extras = {k: row[k] for k in extra}
    if _NESTED in values:  # a journey nested in another evidenced journey counts as that one
        values["evidence_journey_count"] = max(0, values["evidence_journey_count"] - values.pop(_NESTED))
    if _RECORDED in values:  # the names of the recorded scoring inputs; the opportunity's model says which it needs
        names = values.pop(_RECORDED)
        recorded = dict.fromkeys(names.split(",")) if names else {}
        values["missing_score_inputs"] = tuple(scoring.model_for_opportunity(session, opportunity).missing(recorded))
    if "checks" in groups and lifecycle_of(session, opportunity).definition.checks:
        values["checks_ticked"] = frozenset(session.scalars(sa.select(ChecklistTick.check).where(
            ChecklistTick.opportunity_id == oid)))
    facts = OpportunityFacts(opportunity_id=oid, owner_id=opportunity.owner_id,
                             journey_ids=tuple(sorted(j.id for j in opportunity.journeys)),
                             words=vocabulary_of(session), **values)
    return facts, extras


# The opportunity whose facts `_facts_and` reads: the statement is built once per set of fact groups with this
# parameter (so it is neither rebuilt nor recompiled per call; the compiled form is cached by SQLAlchemy).
FACTS_OPPORTUNITY = sa.bindparam("facts_opportunity_id", type_=sa.Integer)


@functools.lru_cache(maxsize=None)
def _fact_columns(groups: frozenset[str], nested: bool) -> tuple[Any, ...]:
    """The labelled scalar subqueries reading the groups of facts of the opportunity `FACTS_OPPORTUNITY`."""
    oid = FACTS_OPPORTUNITY
    columns: dict[str, Any] = {}
    if "evidence" in groups:
        # The summary is kept current in the same transaction as every change of the evidence (services.summary).
        mine = EvidenceSummary.opportunity_id == oid
        columns["evidence_count"] = sa.select(EvidenceSummary.insight_count).where(mine)
        columns["evidence_source_count"] = sa.select(EvidenceSummary.source_count).where(mine)
        columns["evidence_journey_count"] = sa.select(EvidenceSummary.journey_count).where(mine)
        if nested:
            columns[_NESTED] = _nested_evidence_journeys(oid)
        columns["unlinked_evidence_count"] = sa.select(EvidenceSummary.unlinked_count).where(mine)
    if "score" in groups:
        columns[_RECORDED] = sa.select(sa.func.aggregate_strings(ScoreInput.name, ",")).where(
            ScoreInput.opportunity_id == oid)
    if "solutions" in groups:
        columns["solution_count"] = sa.select(sa.func.count(Solution.id)).where(Solution.opportunity_id == oid)
        columns["solutions_done"] = sa.select(sa.func.count(Solution.id)).where(
            Solution.opportunity_id == oid, Solution.state == "done")
    if "kpis" in groups:
        mine = OpportunityKpi.opportunity_id == oid
        columns["targeted_kpi_count"] = sa.select(sa.func.count()).select_from(OpportunityKpi).where(mine)
        columns["baselines_recorded"] = sa.select(sa.func.count(OpportunityKpi.baseline_value)).where(mine)
        columns["outcomes_recorded"] = sa.select(sa.func.count(OpportunityKpi.verdict)).where(mine)
        columns["outcomes_improved"] = sa.select(sa.func.count()).select_from(OpportunityKpi).where(
            mine, OpportunityKpi.verdict.in_(IMPROVED_VERDICTS))
        columns["outcomes_met"] = sa.select(sa.func.count()).select_from(OpportunityKpi).where(
            mine, OpportunityKpi.verdict.in_(MET_VERDICTS))
    return tuple(q.scalar_subquery().label(k) for k, q in columns.items())


@functools.lru_cache(maxsize=64)
def _facts_statement(columns: tuple[Any, ...], extra: tuple[tuple[str, sa.Select], ...]) -> sa.Select:
    """The facts statement with the extras riding along. Callers pass extras built once (`_pending_request_id`,
    `audit.head_columns`), so the same statement object is reused and SQLAlchemy neither rebuilds nor re-keys it."""
    return sa.select(*columns, *(q.scalar_subquery().label(k) for k, q in extra))


PENDING_OTHER_THAN = sa.bindparam("pending_other_than", type_=sa.Integer)


@functools.lru_cache(maxsize=None)
def _pending_request_id(other_than: bool = False) -> sa.Select:
    """The oldest pending request of the opportunity `FACTS_OPPORTUNITY` (a subquery for `_facts_and`); with
    `other_than`, one other than the request `PENDING_OTHER_THAN`."""
    query = sa.select(ApprovalRequest.id).where(ApprovalRequest.opportunity_id == FACTS_OPPORTUNITY,
                                                ApprovalRequest.status == "pending")
    if other_than:
        query = query.where(ApprovalRequest.id != PENDING_OTHER_THAN)
    return query.order_by(ApprovalRequest.id).limit(1)


_NESTED = "nested_evidence_journeys"
_RECORDED = "recorded_score_inputs"


# --- approval context -------------------------------------------------------------------------------------------------


def _roles_of(rule: Any) -> set[str] | None:
    """The council roles whose holders a rule can draw on (owners rules fall back to the lead); None: any role."""
    if not isinstance(rule, dict) or len(rule) != 1:
        return None
    (kind, value), = rule.items()
    if kind == "owners":
        return {approvals.FALLBACK_ROLE}
    if kind == "role":
        return {value}
    if kind == "quorum" and isinstance(value, dict):
        return {value.get("role")}
    if kind == "all_of" and isinstance(value, list):
        roles: set[str] = set()
        for sub in value:
            more = _roles_of(sub)
            if more is None:
                return None
            roles |= more
        return roles
    return None


def approval_context(session: Session, opp: Opportunity, requester_id: int | None,
                     rule: Any = None) -> ApprovalContext:
    """Owners of the journeys the opportunity touches and the council's role holders (organisation-wide seats, and
    seats scoped to one of those journeys or an ancestor of it). Inactive people count as absent.

    With the `rule`, only the seats of the roles it can draw on are read: one statement reads them, their holders,
    the owners and the requester (plus the journey tree when a seat is scoped to a journey the opportunity does not
    touch directly), whatever the size of the organisation."""
    return approval_contexts(session, [(opp, requester_id, rule)])[0]


def approval_contexts(session: Session, asks: list[tuple[Opportunity, int | None, Any]]) -> list[ApprovalContext]:
    """`approval_context` of many (opportunity, requester, rule) at once, in the same one or two statements."""
    if not asks:
        return []
    roles: set[str] | None = set()
    for _, _, rule in asks:
        mine = _roles_of(rule) if rule is not None else None
        roles = None if (roles is None or mine is None) else roles | mine
    wanted = {j.owner_id for opp, _, _ in asks for j in opp.journeys if j.owner_id is not None}
    wanted |= {requester for _, requester, _ in asks if requester is not None}
    on = CouncilSeat.person_id == Person.id
    if roles is not None:
        on = sa.and_(on, CouncilSeat.role.in_(sorted(r for r in roles if r)))
    rows = session.execute(
        sa.select(Person.id, Person.handle, Person.active, CouncilSeat.role, CouncilSeat.journey_id, Person.name)
        .outerjoin(CouncilSeat, on)
        .where(sa.or_(sa.and_(CouncilSeat.id.is_not(None), Person.active.is_(True)), Person.id.in_(wanted)))).all()
    names: dict[int, str] = {}
    people: dict[int, str] = {}
    active: set[int] = set()
    seats: list[tuple[str, int, int | None]] = []
    for person_id, handle, is_active, role, journey_id, name in rows:
        names[person_id] = handle
        people[person_id] = name
        if is_active:
            active.add(person_id)
            if role is not None:
                seats.append((role, person_id, journey_id))
    touched = {j.id for opp, _, _ in asks for j in opp.journeys}
    parents: dict[int, int | None] | None = None
    if any(journey_id is not None and journey_id not in touched for _, _, journey_id in seats):
        parents = {j.id: j.parent_id for j in reference(session).journeys}
    out = []
    for opp, requester_id, _ in asks:
        journeys = list(opp.journeys)
        covering = {j.id for j in journeys}
        if parents is not None:
            for j in journeys:
                cursor = parents.get(j.id)
                while cursor is not None and cursor not in covering:
                    covering.add(cursor)
                    cursor = parents.get(cursor)
        holders: dict[str, set[int]] = {}
        for role, person_id, journey_id in seats:
            if journey_id is None or journey_id in covering:
                holders.setdefault(role, set()).add(person_id)
        owners = {j.key: (j.owner_id if j.owner_id in active else None) for j in journeys}
        out.append(ApprovalContext(owners, {r: frozenset(ids) for r, ids in holders.items()}, requester_id, names,
                                   {j.key: j.name for j in journeys}, people))
    return out


def approvers_snapshot(ctx: ApprovalContext) -> dict[str, Any]:
    """The approval context as stored on a request (JSON): fixed when the request is made."""
    return {"journey_owners": dict(ctx.journey_owners),
            "role_holders": {role: sorted(ids) for role, ids in ctx.role_holders.items()},
            "names": {str(pid): name for pid, name in ctx.names.items()},
            "journey_names": dict(ctx.journey_names),
            "people": {str(pid): name for pid, name in ctx.people.items()}}


def context_from_snapshot(snapshot: dict[str, Any], requester_id: int | None) -> ApprovalContext:
    return ApprovalContext(
        {str(k): (int(v) if v is not None else None) for k, v in (snapshot.get("journey_owners") or {}).items()},
        {str(r): frozenset(int(i) for i in ids) for r, ids in (snapshot.get("role_holders") or {}).items()},
        requester_id, {int(k): str(v) for k, v in (snapshot.get("names") or {}).items()},
        {str(k): str(v) for k, v in (snapshot.get("journey_names") or {}).items()},
        {int(k): str(v) for k, v in (snapshot.get("people") or {}).items()})


def request_context(session: Session, request: ApprovalRequest) -> ApprovalContext:
    """Who may approve this request: fixed when it was requested (a later edit of the opportunity's journeys or of the
    council changes nothing). Requests made before approvers were stored are judged against the current ones."""
    if request.approvers:
        return context_from_snapshot(request.approvers, request.requested_by_id)
    return approval_context(session, request.opportunity, request.requested_by_id, request.rule)


def approval_status(session: Session, request: ApprovalRequest, ctx: ApprovalContext | None = None
                    ) -> ApprovalStatus:
    """Where a request stands under its rule and its approvers (both captured when it was requested), given the
    approvals so far. A `ctx` passed in is used only for requests that stored no approvers."""
    if request.approvers or ctx is None:
        ctx = request_context(session, request)
    approvals_so_far = [v.person_id for v in request.votes if v.decision == "approve"]
    return approvals.evaluate(request.rule, ctx, approvals_so_far)


# --- results ----------------------------------------------------------------------------------------------------------


@dataclass
class TransitionResult:
    """What `request_transition` / `approve_request` did: moved now, or an approval request awaits (and for whom)."""

    opportunity: Opportunity
    moved: bool
    check: Check
    request: ApprovalRequest | None = None
    approval: ApprovalStatus | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "opportunity": self.opportunity.key, "state": self.opportunity.state, "version": self.opportunity.version,
            "moved": self.moved, "message": self.message, "check": self.check.to_dict(),
            "request": request_dict(self.request) if self.request is not None else None,
            "approval": self.approval.to_dict() if self.approval is not None else None,
        }


def request_dict(r: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": r.id, "opportunity": r.opportunity.key if r.opportunity else r.opportunity_id, "trigger": r.trigger,
        "from": r.from_state, "to": r.to_state, "status": r.status, "reason": r.reason,
        "requested_by": r.requested_by.handle if r.requested_by else None, "rule": r.rule,
        "rule_text": approvals.describe_rule(r.rule) if r.rule else None,
        "decided_reason": r.decided_reason, "created_at": r.created_at, "decided_at": r.decided_at,
        "version": r.version,
        "votes": [{"person": v.person.handle, "decision": v.decision, "capacity": v.capacity, "reason": v.reason,
                   "at": v.at} for v in r.votes],
    }


# --- helpers ----------------------------------------------------------------------------------------------------------


def _journey_ids(opp: Opportunity) -> list[int]:
    return list(journey_ids_of(opp))


def _check_opp_version(opp: Opportunity, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != opp.version:
        raise PreconditionFailed(
            f"{opp.key} has changed since you loaded it (your version {expected_version}, now {opp.version}); "
            "reload and try again", {"version": opp.version})


def _commit(session: Session, what: str, on_stale=None) -> None:
    """Commit once; a concurrent update of the same row becomes a Conflict that says what to do."""
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        raise (on_stale() if on_stale else Conflict(
            f"{what} was changed by someone else at the same moment; nothing was saved, reload and try again",
            {"reason": "concurrent_update"})) from None


def _flush_guarded(session: Session, what: str, on_stale=None) -> None:
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise (on_stale() if on_stale else Conflict(
            f"{what} was changed by someone else at the same moment; nothing was saved, reload and try again",
            {"reason": "concurrent_update"})) from None


def _perform_effects(session: Session, actor: Actor, opp: Opportunity, t: TransitionDef, from_state: str,
                     transition_id: int, reason: str | None) -> list[dict[str, Any]]:
    """Run a transition's effects inside its transaction: database effects as writes, the rest as outbox messages
    (topics and kinds as in docs/architecture.md; payloads carry a few extra keys for readable messages)."""
    done: list[dict[str, Any]] = []
    journeys = [j.key for j in opp.journeys]
    for effect in t.effects:
        if effect.name == "record_kpi_baseline":
            done.append({"effect": effect.name, "recorded": _record_baselines(session, actor, opp)})
        elif effect.name == "record_outcome":
            done.append({"effect": effect.name, "recorded": _record_outcomes(
                session, actor, opp, effect.params.get("measure_after_days"))})
        elif effect.name == "notify":
            channel = effect.params["channel"]
            msg = notifications.notify(
                session, notifications.OPPORTUNITY_MOVED,
                about={"opportunity": opp.key, "title": opp.title, "journeys": journeys},
                audience=(Audience(journeys=tuple(journeys)) if channel == "journey"
                          else Audience(channels=(channel,))),
                facts={"from": from_state, "to": opp.state, "trigger": t.trigger, "actor": actor.label,
                       "reason": reason, "message": effect.params.get("message"), "transition_id": transition_id},
                dedupe_key=f"transition:{transition_id}:notify:{channel}")
            done.append({"effect": "notify", "channel": channel, "outbox": msg.id if msg else None})
        elif effect.name == "create_backlog_items":
            for solution in opp.solutions:
                if solution.external_key:
                    continue
                msg = outbox.enqueue(session, JIRA, KIND_CREATE_BACKLOG_ITEM, {
                    "solution_id": solution.id, "opportunity": opp.key, "summary": solution.title,
                    "issue_type": effect.params.get("issue_type"),
                }, dedupe_key=f"jira:create:{solution.id}")
                done.append({"effect": effect.name, "solution": solution.key, "outbox": msg.id if msg else None})
        elif effect.name == "schedule_evaluation":
            due = utcnow() + dt.timedelta(days=int(effect.params["after_days"]))
            # Domain state, in this transaction: the agenda, the board and the scheduler's Slack reminder (when the
            # date comes) read it through govern.queries.evaluations; nothing is queued for delivery here.
            opp.evaluation_due_at = due
            done.append({"effect": effect.name, "due_at": due.isoformat()})
    return done


def _record_baselines(session: Session, actor: Actor, opp: Opportunity) -> Any:
    # The metrics services write inside this transaction and never commit: one commit per use case.
    return _jsonable_result(kpis.record_baselines(session, actor, opp))


def _record_outcomes(session: Session, actor: Actor, opp: Opportunity, measure_after_days: int | None) -> Any:
    return _jsonable_result(kpis.record_outcomes(session, actor, opp, measure_after_days=measure_after_days))


def _jsonable_result(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable_result(v) for v in value]
    for attr in ("as_dict", "to_dict"):
        if hasattr(value, attr):
            return getattr(value, attr)()
    return value if isinstance(value, (dict, str, int, float, type(None))) else str(value)


def _move(session: Session, actor: Actor, opp: Opportunity, lifecycle: Lifecycle, t: TransitionDef,
          facts: OpportunityFacts, check: Check, reason: str | None, request: ApprovalRequest | None,
          others_pending: bool = True) -> None:
    """Make the transition: through the shared machine (answering with `check`'s guard results, so guards are
    evaluated once per decision), then the state column, history row, effects and audit. `others_pending=False`: the
    caller knows no other request of this opportunity is pending, so none is looked for to supersede."""
    from_state = opp.state
    new_state = lifecycle.fire(from_state, t.trigger, facts, check)
    before = {"state": from_state, "version": opp.version}
    now = utcnow()
    transition_id = _write_move(session, opp, t.trigger, from_state, new_state, reason, actor.person_id,
                                request.id if request else None, now)
    effects = _perform_effects(session, actor, opp, t, from_state, transition_id, reason)
    # Any other request still pending for this opportunity was made from the old state: it is superseded.
    others = [ApprovalRequest.opportunity_id == opp.id, ApprovalRequest.status == "pending"]
    if request is not None:
        others.append(ApprovalRequest.id != request.id)
    stale = session.scalars(sa.select(ApprovalRequest).where(*others)).all() if others_pending else []
    for other in stale:
        other.status, other.decided_at = "superseded", now
        other.decided_reason = (f"{opp.key} moved from {lifecycle.title_of(from_state)} to "
                                f"{lifecycle.title_of(new_state)}")
    audit.record(session, actor, "opportunity.transitioned", "opportunity", opp.key, before=before,
                 after={"state": new_state, "trigger": t.trigger, "guards": [g.to_dict() for g in check.guard_results],
                        "approval_request": request.id if request else None, "effects": effects,
                        "superseded": [o.id for o in stale]},
                 reason=reason)


_MOVE_TABLE = Opportunity.__table__
# The state change as one versioned UPDATE (a scheduled evaluation belongs to the state it was scheduled for: cleared;
# effects may set it again), and its history row; built once, values bound per move.
_MOVE_UPDATE = (sa.update(_MOVE_TABLE)
                .where(_MOVE_TABLE.c.id == sa.bindparam("move_id"),
                       _MOVE_TABLE.c.version == sa.bindparam("move_old_version"))
                .values(state=sa.bindparam("move_state"), state_reason=sa.bindparam("move_reason"),
                        state_changed_at=sa.bindparam("move_at"), updated_at=sa.bindparam("move_at"),
                        evaluation_due_at=None, version=sa.bindparam("move_new_version")))
_HISTORY_INSERT = sa.insert(OpportunityTransition.__table__).returning(OpportunityTransition.__table__.c.id)


def _write_move(session: Session, opp: Opportunity, trigger: str, from_state: str, new_state: str, reason: str | None,
                actor_id: int | None, request_id: int | None, now: dt.datetime) -> int:
    """Write the move: the versioned UPDATE first (it takes the row on PostgreSQL and surfaces a concurrent move
    before more work: Conflict), then the history row; answers the history row's id. Written as statements of their
    own rather than through the unit of work (the opportunity object is told the values it now holds), as a move is
    on the path of every transition."""
    if sa.inspect(opp).modified:  # changes of the caller's go first, in the ORM's own UPDATE
        _flush_guarded(session, opp.key)
    new_version = opp.version + 1
    connection = core_connection(session, autoflush=False)  # the caller's changes of `opp` were flushed above
    updated = connection.execute(_MOVE_UPDATE, {
        "move_id": opp.id, "move_old_version": opp.version, "move_state": new_state, "move_reason": reason,
        "move_at": now, "move_new_version": new_version})
    if updated.rowcount != 1:
        session.rollback()
        raise Conflict(f"{opp.key} was changed by someone else at the same moment; nothing was saved, reload and "
                       "try again", {"reason": "concurrent_update"})
    for attribute, value in (("state", new_state), ("state_reason", reason), ("state_changed_at", now),
                             ("updated_at", now), ("evaluation_due_at", None), ("version", new_version)):
        set_committed_value(opp, attribute, value)
    return connection.execute(_HISTORY_INSERT, {
        "opportunity_id": opp.id, "trigger": trigger, "from_state": from_state,
        "to_state": new_state, "actor_id": actor_id, "reason": reason, "approval_request_id": request_id,
        "at": now}).scalar_one()


# --- use cases --------------------------------------------------------------------------------------------------------


def request_transition(session: Session, actor: Actor, opportunity_ref: str | int, trigger_or_dest: str,
                       reason: str | None = None, expected_version: int | None = None) -> TransitionResult:
    """Move an opportunity (named by key `OPP-7`, number or id) by trigger (`prioritise`) or destination state.

    - Guards unmet: raises GuardsUnmet; `details["unmet"]` lists every unmet guard in plain words.
    - No approval needed: the opportunity moves now (`moved=True`); effects are queued in the same transaction.
    - Approval needed: an ApprovalRequest is created (`moved=False`, `request`, and `approval.waiting_for`).
    - `reason` is mandatory where the lifecycle says so (InvalidInput, `details={"reason": ...}`).
    - `expected_version` (the opportunity's version the caller saw): stale → PreconditionFailed (412).
    - A concurrent change of the same opportunity → Conflict (409). A pending request already exists → Conflict.
    Permission: `transition.request` on the opportunity's journeys.
    """
    opp = get_opportunity(session, opportunity_ref, with_journeys=True)
    actor.require("transition.request", _journey_ids(opp))
    _check_opp_version(opp, expected_version)
    lifecycle = lifecycle_of(session, opp)
    t = lifecycle.resolve(opp.state, trigger_or_dest)
    if not approvals.may_request(actor, t.requesters, _journey_ids(opp)):
        raise PermissionDenied(
            f"{actor.handle} may not request {t.trigger} for {opp.key}: the lifecycle lets only "
            f"{approvals.describe_requesters(t.requesters)} request it",
            {"trigger": t.trigger, "requesters": list(t.requesters)})
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else None
    if t.requires_reason and not reason:
        raise InvalidInput(f"a reason is required to {t.display_title.lower()} {opp.key} "
                           f"({lifecycle.title_of(opp.state)} → {lifecycle.title_of(t.dest)})",
                           {"reason": "required"})
    # The guard facts and whether a request is pending, in one statement.
    facts, extra = _facts_and(session, opp, facts_needed(g.name for g in t.guards),
                              {"pending": _pending_request_id(), **audit.head_columns(session, may_lock=False)})
    audit.prime(session, extra)
    check = lifecycle.check(opp.state, t.trigger, facts)
    if not check.ok:
        raise GuardsUnmet(f"{opp.key} cannot {t.display_title.lower()} ({lifecycle.title_of(opp.state)} → "
                          f"{lifecycle.title_of(t.dest)}): " + "; ".join(check.unmet),
                          {"unmet": check.unmet, "guards": [g.to_dict() for g in check.guard_results],
                           "opportunity": opp.key, "trigger": t.trigger, "from": opp.state, "to": t.dest})
    if t.approval is None:
        _move(session, actor, opp, lifecycle, t, facts, check, reason, None,
              others_pending=extra["pending"] is not None)
        _commit(session, opp.key)
        return TransitionResult(opp, True, check, message=f"{opp.key} moved from {lifecycle.title_of(check.source)} to "
                                        f"{lifecycle.title_of(opp.state)}")

    if extra["pending"] is not None:
        pending = session.get(ApprovalRequest, extra["pending"])
        raise Conflict(f"{opp.key} already has a pending request (#{pending.id}) to {pending.trigger} "
                       f"({lifecycle.title_of(pending.from_state)} → {lifecycle.title_of(pending.to_state)}); "
                       "approve, reject or withdraw it first",
                       {"request": pending.id})
    # Who may approve is fixed now, with the request: a later edit of scope or seats cannot change it.
    ctx = approval_context(session, opp, actor.person_id, dict(t.approval))  # once: status, names, the snapshot
    request = ApprovalRequest(opportunity=opp, trigger=t.trigger, from_state=opp.state, to_state=t.dest,
                              requested_by_id=actor.person_id, reason=reason, rule=dict(t.approval),
                              approvers=approvers_snapshot(ctx), status="pending", created_at=utcnow(), votes=[])
    session.add(request)
    opp.updated_at = utcnow()  # bumps the version: two concurrent requests cannot both be created
    _flush_guarded(session, opp.key)
    status = approval_status(session, request, ctx)
    audit.record(session, actor, "transition.requested", "opportunity", opp.key,
                 after={"request": request.id, "trigger": t.trigger, "from": opp.state, "to": t.dest,
                        "guards": [g.to_dict() for g in check.guard_results], "approval": request.rule,
                        "waiting_for": status.waiting_for(), "impossible": status.impossible()},
                 reason=reason)
    journeys = [j.key for j in opp.journeys]
    approvers = sorted(ctx.handle(p) for p in status.eligible())  # handles (the audience), fixed when requested
    notifications.notify(
        session, notifications.APPROVAL_REQUESTED,
        about={"request_id": request.id, "opportunity": opp.key, "title": opp.title, "journeys": journeys},
        audience=Audience(journeys=tuple(journeys), people=tuple(approvers)),
        facts={"trigger": t.trigger, "from": opp.state, "to": t.dest, "requested_by": actor.label, "reason": reason,
               "approvers": approvers, "waiting_for": status.waiting_for()},
        dedupe_key=approval_notice_key(request.id, "requested"))
    _commit(session, opp.key)
    message = (f"requested {t.display_title.lower()} for {opp.key} ({lifecycle.title_of(opp.state)} → "
               f"{lifecycle.title_of(t.dest)}); waiting for approval by "
               + (", ".join(status.waiting_for()) or "nobody"))
    if status.impossible():
        message += ". Note: " + "; ".join(status.impossible())
    return TransitionResult(opp, False, check, request, status, message)


def unmet_guards_if_approved(session: Session, request: ApprovalRequest, actor: Actor) -> list[str]:
    """When `actor`'s approval would complete the request: the transition's guards that are unmet now (what
    `approve_request` would refuse with GuardsUnmet), so a caller can refuse before writing anything else."""
    ctx = approval_context(session, request.opportunity, request.requested_by_id)
    so_far = [v.person_id for v in request.votes if v.decision == "approve"]
    if not approvals.evaluate(request.rule, ctx, [*so_far, actor.person_id]).satisfied:
        return []
    opp = request.opportunity
    if opp.state != request.from_state:
        return [f"{opp.key} is no longer in {request.from_state} (now {opp.state})"]
    lifecycle = lifecycle_of(session, opp)
    t = lifecycle.resolve(opp.state, request.trigger)
    return lifecycle.check(opp.state, t.trigger, facts_for(session, opp, facts_needed(g.name for g in t.guards))).unmet


def _guards_now(session: Session, request: ApprovalRequest) -> list[dict[str, Any]] | None:
    """The request's guard results at this moment, for the audit record (None once the opportunity moved on)."""
    opp = request.opportunity
    if opp.state != request.from_state:
        return None
    lifecycle = lifecycle_of(session, opp)
    t = lifecycle.resolve(opp.state, request.trigger)
    check = lifecycle.check(opp.state, t.trigger, facts_for(session, opp, facts_needed(g.name for g in t.guards)))
    return [g.to_dict() for g in check.guard_results]


def approval_notice_key(request_id: int, what: str) -> str:
    """The dedupe key of a request's notification ("requested" or "decided"): one of each per request, and how a
    chat adapter finds the message it posted for the request when the decision comes."""
    return f"approval:{request_id}:{what}"


def _approval_outcome(session: Session, request: ApprovalRequest, actor: Actor) -> None:
    opp = request.opportunity
    journeys = [j.key for j in opp.journeys]
    notifications.notify(
        session, notifications.APPROVAL_DECIDED,
        about={"request_id": request.id, "opportunity": opp.key, "title": opp.title, "journeys": journeys},
        audience=Audience(journeys=tuple(journeys)),
        facts={"status": request.status, "by": actor.label, "reason": request.decided_reason,
               "trigger": request.trigger, "to": request.to_state},
        dedupe_key=approval_notice_key(request.id, "decided"))


def _load_for_decision(session: Session, request_id: int | str) -> ApprovalRequest:
    """The request, its votes, its opportunity and the opportunity's journeys, read in one statement that takes the
    opportunity's row (PostgreSQL; SQLite writers queue anyway) in the same order as a direct move (opportunity, then
    requests, then the audit chain), so decisions queue instead of deadlocking; a decision that just committed is
    seen and reported, not overwritten (and the request's version column catches anything else)."""
    try:
        rid = int(str(request_id).lstrip("#"))
    except ValueError:
        raise NotFound(f"unknown approval request '{request_id}'", {"request": request_id}) from None
    row = session.execute(
        sa.select(ApprovalRequest, Opportunity)
        .join(Opportunity, Opportunity.id == ApprovalRequest.opportunity_id)
        # The journeys as a plain chain of outer joins (see `common._opportunity_query`: joinedload's nested join
        # makes SQLite read every opportunity's links).
        .outerjoin(opportunity_journey, opportunity_journey.c.opportunity_id == Opportunity.id)
        .outerjoin(Journey, Journey.id == opportunity_journey.c.journey_id)
        .where(ApprovalRequest.id == rid)
        .order_by(Journey.id)
        .options(joinedload(ApprovalRequest.votes).joinedload(ApprovalVote.person),
                 contains_eager(Opportunity.journeys))
        .with_for_update(of=Opportunity)
        .execution_options(populate_existing=True)).unique().first()
    if row is None:
        raise NotFound(f"unknown approval request #{rid}", {"request": rid})
    request, opp = row
    set_committed_value(request, "opportunity", opp)  # read above: no second statement for the relationship
    return request


def _get_request(session: Session, request_id: int | str) -> ApprovalRequest:
    try:
        rid = int(str(request_id).lstrip("#"))
    except ValueError:
        raise NotFound(f"unknown approval request '{request_id}'", {"request": request_id}) from None
    request = session.get(ApprovalRequest, rid)
    if request is None:
        raise NotFound(f"unknown approval request #{rid}", {"request": rid})
    return request


def _already_decided(request: ApprovalRequest) -> Conflict:
    when = request.decided_at.strftime("%Y-%m-%d %H:%M UTC") if request.decided_at else "earlier"
    by = [v.person.name for v in request.votes if v.decision == ("reject" if request.status == "rejected"
                                                                  else "approve")]
    who = f" by {', '.join(by)}" if by and request.status in ("approved", "rejected") else ""
    extra = f" ({request.decided_reason})" if request.decided_reason else ""
    states = state_catalog(object_session(request), request.opportunity.lifecycle)
    step = f"{states.title_of(request.from_state)} → {states.title_of(request.to_state)}"
    return Conflict(f"request #{request.id} ({request.opportunity.key}, {step}) was already "
                    f"{request.status}{who} at {when}{extra}; nothing changed",
                    {"request": request.id, "status": request.status})


def _stale_request(session: Session, request_id: int):
    """After a lost race on a request: say what happened, in the words of whoever won."""
    def make() -> Conflict:
        session.expire_all()
        request = session.get(ApprovalRequest, request_id)
        if request is not None and request.status != "pending":
            return _already_decided(request)
        return Conflict(f"request #{request_id} was decided on by someone else at the same moment; nothing was "
                        "saved, look again and retry", {"request": request_id, "reason": "concurrent_update"})
    return make


def _require_decider(status: ApprovalStatus, actor: Actor, request: ApprovalRequest, decision: str) -> None:
    """Raise unless `actor` may take this decision (the core's decision rights: permission table and rule)."""
    refusal = decision_refusal(actor, request, status, decision)
    if refusal is None:
        return
    if refusal.conflict:
        raise Conflict(refusal.message, {"request": request.id})
    raise PermissionDenied(refusal.message, {"request": request.id, "waiting_for": status.waiting_for()})


def approve_request(session: Session, actor: Actor, request_id: int | str, reason: str | None = None,
                    expected_version: int | None = None, *, commit: bool = True) -> TransitionResult:
    """Approve a pending request as `actor`; when the rule is then met, the transition happens in the same commit.

    - The approval rule captured on the request decides who may approve (separation of duties: never the requester;
      the local operator / system actor never approves). Others get PermissionDenied naming who can.
    - Already decided (approved, rejected, withdrawn, superseded), or a second press by the same person: Conflict
      saying what happened. Two approvers racing: one counts, the other gets Conflict telling them.
    - If the opportunity no longer meets the guards when the rule is met: GuardsUnmet, and the approval is not kept.
    - `expected_version` is the request's version the caller saw (stale → PreconditionFailed).
    - `commit=False`: flush only, for a composite use case (a meeting's several decisions) that commits once.
    """
    request = _load_for_decision(session, request_id)
    opp = request.opportunity
    if request.status != "pending":
        raise _already_decided(request)
    if expected_version is not None and int(expected_version) != request.version:
        raise PreconditionFailed(f"request #{request.id} has changed since you loaded it (your version "
                                 f"{expected_version}, now {request.version}); reload and try again",
                                 {"version": request.version})
    ctx = request_context(session, request)  # once per decision
    status = approval_status(session, request, ctx)
    _require_decider(status, actor, request, "approve")
    capacity = status.capacity_of(actor.person_id)
    # Where the request stands with this approval counted (nothing else changes it: the opportunity is locked).
    approved_by = [v.person_id for v in request.votes if v.decision == "approve"] + [actor.person_id]
    status = approvals.evaluate(request.rule, ctx, approved_by)
    lifecycle = lifecycle_of(session, opp)
    audit_after = {"request": request.id, "capacity": capacity, "satisfied": status.satisfied,
                   "waiting_for": status.waiting_for()}
    on_stale = _stale_request(session, request.id)
    completes = status.satisfied
    if completes and opp.state != request.from_state:
        # On PostgreSQL the opportunity was re-read when its lock was granted, the request as it was before: a
        # decision that committed meanwhile is told as such rather than as an out-of-date request.
        session.refresh(request)
        if request.status != "pending":
            raise _already_decided(request)
        raise Conflict(f"{opp.key} is no longer in {request.from_state} (now {opp.state}); the request is out of date",
                       {"request": request.id})
    t = lifecycle.resolve(request.from_state, request.trigger)
    # The guards once, before anything is written; with whether another request is pending (to supersede it).
    facts, extra = _facts_and(session, opp, facts_needed(g.name for g in t.guards),
                              {"other": _pending_request_id(other_than=True),
                               **audit.head_columns(session, may_lock=True)},  # the opportunity is locked already
                              {PENDING_OTHER_THAN.key: request.id})
    audit.prime(session, extra)
    check = lifecycle.check(request.from_state, t.trigger, facts)
    audit_after["guards"] = [g.to_dict() for g in check.guard_results]
    if completes and not check.ok:
        raise GuardsUnmet(f"your approval completes the request, but {opp.key} no longer meets its guards: "
                          + "; ".join(check.unmet) + "; the approval was not recorded",
                          {"unmet": check.unmet, "request": request.id})
    session.add(ApprovalVote(request=request, person_id=actor.person_id, decision="approve", reason=reason,
                             capacity=capacity, at=utcnow()))
    if completes:
        request.status, request.decided_at = "approved", utcnow()
    else:
        flag_modified(request, "status")  # every vote bumps the request's version: concurrent votes serialise
    try:
        _flush_guarded(session, f"request #{request.id}", on_stale)
    except IntegrityError:
        session.rollback()
        raise Conflict("you have already approved this request", {"request": request.id}) from None
    audit.record(session, actor, "approval.approved", "opportunity", opp.key, after=audit_after, reason=reason)
    if not completes:
        (_commit if commit else _flush_guarded)(session, f"request #{request.id}", on_stale)
        return TransitionResult(opp, False, check, request, status,
                                f"approval recorded ({capacity}); still waiting for " + ", ".join(status.waiting_for()))
    _move(session, actor, opp, lifecycle, t, facts, check, request.reason, request,
          others_pending=extra["other"] is not None)
    _approval_outcome(session, request, actor)
    (_commit if commit else _flush_guarded)(session, f"request #{request.id}", on_stale)
    return TransitionResult(opp, True, check, request, status,
                            f"approved; {opp.key} moved from {lifecycle.title_of(request.from_state)} to "
                            f"{lifecycle.title_of(opp.state)}")


def reject_request(session: Session, actor: Actor, request_id: int | str, reason: str,
                   expected_version: int | None = None, *, commit: bool = True) -> ApprovalRequest:
    """Reject a pending request (any person the rule names as approver may; never the requester). Reason mandatory."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a reason is required to reject a request", {"reason": "required"})
    request = _load_for_decision(session, request_id)
    if request.status != "pending":
        raise _already_decided(request)
    if expected_version is not None and int(expected_version) != request.version:
        raise PreconditionFailed(f"request #{request.id} has changed since you loaded it; reload and try again",
                                 {"version": request.version})
    status = approval_status(session, request)
    _require_decider(status, actor, request, "reject")
    now = utcnow()
    session.add(ApprovalVote(request=request, person_id=actor.person_id, decision="reject", reason=reason.strip(),
                             capacity="; ".join(p.part.capacity for p in status.parts
                                                if actor.person_id in p.part.candidates)[:120], at=now))
    request.status, request.decided_reason, request.decided_at = "rejected", reason.strip(), now
    on_stale = _stale_request(session, request.id)
    try:
        _flush_guarded(session, f"request #{request.id}", on_stale)
    except IntegrityError:
        session.rollback()
        raise _stale_request(session, request.id)() from None
    audit.record(session, actor, "approval.rejected", "opportunity", request.opportunity.key,
                 after={"request": request.id, "trigger": request.trigger, "from": request.from_state,
                        "to": request.to_state, "guards": _guards_now(session, request)}, reason=reason.strip())
    _approval_outcome(session, request, actor)
    (_commit if commit else _flush_guarded)(session, f"request #{request.id}", on_stale)
    return request


def withdraw_request(session: Session, actor: Actor, request_id: int | str, reason: str | None = None
                     ) -> ApprovalRequest:
    """Withdraw a pending request: its requester may, and so may whoever holds `transition.withdraw`."""
    request = _load_for_decision(session, request_id)
    if request.status != "pending":
        raise _already_decided(request)
    refusal = withdraw_refusal(actor, request)
    if refusal is not None:
        raise PermissionDenied(refusal, {"request": request.id})
    request.status, request.decided_at = "withdrawn", utcnow()
    request.decided_reason = reason.strip() if reason and reason.strip() else None
    on_stale = _stale_request(session, request.id)
    _flush_guarded(session, f"request #{request.id}", on_stale)
    audit.record(session, actor, "approval.withdrawn", "opportunity", request.opportunity.key,
                 after={"request": request.id, "trigger": request.trigger, "from": request.from_state,
                        "to": request.to_state, "guards": _guards_now(session, request)},
                 reason=request.decided_reason)
    _approval_outcome(session, request, actor)
    _commit(session, f"request #{request.id}", on_stale)
    return request


@dataclass
class Awaiting:
    """A pending request someone may approve, in which capacity, and how it stands."""

    request: ApprovalRequest
    capacities: list[str]
    status: ApprovalStatus

    def to_dict(self) -> dict[str, Any]:
        return {**request_dict(self.request), "capacities": self.capacities,
                "waiting_for": self.status.waiting_for(), "title": self.request.opportunity.title}


def pending_for(session: Session, person_id: int | Actor) -> list[Awaiting]:
    """"What awaits me": the pending requests this person may approve now, oldest first.

    Bounded whatever the number of requests: the requests with their opportunities, journeys and votes, then the
    approval contexts of them all, in a handful of statements."""
    if isinstance(person_id, Actor):
        person_id = person_id.person_id
    if person_id is None:
        return []
    out = []
    for request, status in zip(*pending_with_status(session)):
        capacities = status.eligible().get(person_id)
        if capacities:
            out.append(Awaiting(request, capacities, status))
    return out


def awaiting_count(session: Session, person_id: int | Actor) -> int:
    """How many pending requests this person may approve now: `len(pending_for(...))`, by the same rule, for the
    header's badge on every signed-in page. One statement of plain rows (each request's rule, stored approvers and
    requester, and who approved it so far) instead of the requests with their opportunities, requesters and votes as
    objects. Requests made before approvers were stored are judged against the current ones: then pending_for counts."""
    if isinstance(person_id, Actor):
        person_id = person_id.person_id
    if person_id is None:
        return 0
    rows = session.execute(
        sa.select(ApprovalRequest.id, ApprovalRequest.rule, ApprovalRequest.approvers, ApprovalRequest.requested_by_id,
                  ApprovalVote.person_id)
        .outerjoin(ApprovalVote, sa.and_(ApprovalVote.request_id == ApprovalRequest.id,
                                         ApprovalVote.decision == "approve"))
        .where(ApprovalRequest.status == "pending")).all()
    standing: dict[int, tuple[Any, Any, int | None, list[int]]] = {}
    for request_id, rule, approvers_stored, requester_id, voter_id in rows:
        entry = standing.setdefault(request_id, (rule, approvers_stored, requester_id, []))
        if voter_id is not None:
            entry[3].append(voter_id)
    if any(not approvers_stored for _, approvers_stored, _, _ in standing.values()):
        return len(pending_for(session, person_id))
    return sum(1 for rule, approvers_stored, requester_id, voters in standing.values()
               if person_id in approvals.evaluate(rule, context_from_snapshot(approvers_stored, requester_id),
                                                  voters).eligible())


def pending_with_status(session: Session, *, with_journeys: bool = False
                        ) -> tuple[list[ApprovalRequest], list[ApprovalStatus]]:
    """Every pending request, oldest first, and where each stands: one statement for them all (the requests with
    their opportunities, requesters and votes), as each request carries the approvers fixed when it was made.
    `with_journeys` loads the opportunities' journeys too, in one more (pages that check decision rights need them).
    Requests made before approvers were stored are judged against the current ones, read for them in bulk."""
    requests = list(session.scalars(
        sa.select(ApprovalRequest).where(ApprovalRequest.status == "pending")
        .order_by(ApprovalRequest.created_at, ApprovalRequest.id)
        .options(joinedload(ApprovalRequest.opportunity), joinedload(ApprovalRequest.requested_by),
                 joinedload(ApprovalRequest.votes).joinedload(ApprovalVote.person))).unique())
    unfixed = [r for r in requests if not r.approvers]
    if with_journeys or unfixed:
        journeys_of = requests if with_journeys else unfixed
        load_journeys(session, [r.opportunity for r in journeys_of])
    contexts = dict(zip((r.id for r in unfixed), approval_contexts(
        session, [(r.opportunity, r.requested_by_id, r.rule) for r in unfixed])))
    return requests, [approval_status(session, r, contexts.get(r.id)) for r in requests]


def load_journeys(session: Session, opportunities: Iterable[Opportunity]) -> None:
    """Load the journeys of many opportunities in one statement, as a `selectinload` would have (those already loaded
    are left as they are)."""
    unloaded = {o.id: o for o in opportunities if "journeys" in sa.inspect(o).unloaded}
    if not unloaded:
        return
    found: dict[int, list[Journey]] = {oid: [] for oid in unloaded}
    for opp_id, journey in session.execute(
            sa.select(opportunity_journey.c.opportunity_id, Journey)
            .join(Journey, Journey.id == opportunity_journey.c.journey_id)
            .where(opportunity_journey.c.opportunity_id.in_(list(unloaded))).order_by(Journey.id)):
        found[opp_id].append(journey)
    for opp_id, journeys in found.items():
        set_committed_value(unloaded[opp_id], "journeys", journeys)


def available_transitions(session: Session, actor: Actor, opportunity_ref: str | int | Opportunity, *,
                          pending_requests: list[ApprovalRequest] | None = None) -> list[dict[str, Any]]:
    """Every transition from the opportunity's state, for the UI and Slack: guards (met or not, in plain words),
    approval rule in words, whether a reason is required, and whether this actor may request it.

    `pending_requests`: the opportunity's pending requests, oldest first, when the caller has read them already
    (`queries.requests.pending_requests_of`); otherwise they are read here."""
    opp = opportunity_ref if isinstance(opportunity_ref, Opportunity) else get_opportunity(session, opportunity_ref)
    actor.require("read")
    lifecycle = lifecycle_of(session, opp)
    facts = facts_for(session, opp)
    may_request = actor.can("transition.request", _journey_ids(opp))
    if pending_requests is None:
        pending = pending_request(session, opp.id)
    else:
        pending = pending_requests[0] if pending_requests else None
    return _offered(actor, lifecycle, opp.state, facts, _journey_ids(opp), pending.id if pending is not None else None,
                    may_request=may_request)


def _offered(actor: Actor, lifecycle: Lifecycle, state: str, facts: OpportunityFacts, journey_ids: list[int],
             pending_id: int | None, *, may_request: bool = True) -> list[dict[str, Any]]:
    """Each transition from `state` as the UI and Slack show it: its check (guards met or not), its title, who may
    request it and whether this actor may, and the pending request that blocks it when it needs approval."""
    transitions = {t.trigger: t for t in lifecycle.definition.transitions_from(state)}
    out = []
    for check in lifecycle.available(state, facts):
        transition = transitions.get(check.trigger)
        item = check.to_dict()
        item["title"] = (transition.title if transition else None) or None  # what the lifecycle calls it, if named
        item["requesters"] = list(transition.requesters if transition else ())
        item["may_request"] = may_request and approvals.may_request(actor, item["requesters"], journey_ids)
        item["blocked_by_request"] = pending_id if check.needs_approval else None
        out.append(item)
    return out


def available_transitions_many(session: Session, actor: Actor, opportunities: Iterable[Opportunity | OpportunityCard]
                               ) -> dict[int, list[dict[str, Any]]]:
    """`available_transitions` of many opportunities (by id), for pages that list them (the board's cards).

    Bounded whatever the number of cards: the facts the lifecycle's guards read are computed for all of them in one
    statement per group of facts, with the pending requests in one more; an actor who may not request transitions on
    an opportunity's journeys gets nothing for it, and nothing is read when that is every card. Cards
    (`govern.queries.cards`) bring their journeys, evidence summary and pending requests, so none of that is read
    again; ORM opportunities should have their journeys loaded (they scope the permission)."""
    actor.require("read")
    opportunities = [o for o in opportunities if actor.can("transition.request", journey_ids_of(o))]
    if not opportunities:
        return {}
    lifecycles = {o.id: lifecycle_of(session, o) for o in opportunities}
    needs = facts_needed(g.name for o in opportunities for t in lifecycles[o.id].definition.transitions_from(o.state)
                         for g in t.guards)
    facts = facts_for_many(session, opportunities, needs)
    pending = {o.id: o.oldest_pending_id for o in opportunities if isinstance(o, OpportunityCard)}
    unread = [o.id for o in opportunities if not isinstance(o, OpportunityCard)]
    if unread:
        pending.update(session.execute(
            sa.select(ApprovalRequest.opportunity_id, sa.func.min(ApprovalRequest.id))
            .where(ApprovalRequest.opportunity_id.in_(unread), ApprovalRequest.status == "pending")
            .group_by(ApprovalRequest.opportunity_id)).all())
    return {o.id: _offered(actor, lifecycles[o.id], o.state, facts[o.id], list(journey_ids_of(o)), pending.get(o.id))
            for o in opportunities}


def facts_for_many(session: Session, opportunities: list[Opportunity | OpportunityCard], needs: Iterable[str]
                   ) -> dict[int, OpportunityFacts]:
    """`facts_for` of many opportunities: one grouped statement per group of facts the guards need, under the same
    rules (the journey breadth of the evidence, the lifecycle's checks).

    What the caller already read is not read again: a card (govern.queries.cards) brings its journeys and evidence
    summary, and the facts are computed from them by the same rules."""
    groups = set(needs)
    ids = [o.id for o in opportunities]
    values: dict[int, dict[str, Any]] = {oid: {} for oid in ids}
    if "evidence" in groups:
        counts = {o.id: o.evidence for o in opportunities if isinstance(o, OpportunityCard)}
        unread = [oid for oid in ids if oid not in counts]
        if unread:
            counts.update((oid, EvidenceCounts(n, j, src, unlinked)) for oid, n, j, src, unlinked in session.execute(
                sa.select(EvidenceSummary.opportunity_id, EvidenceSummary.insight_count,
                          EvidenceSummary.journey_count, EvidenceSummary.source_count,
                          EvidenceSummary.unlinked_count).where(EvidenceSummary.opportunity_id.in_(unread))))
        for oid, (n, j, src, unlinked) in counts.items():
            values[oid].update(evidence_count=n, evidence_journey_count=j, evidence_source_count=src,
                               unlinked_evidence_count=unlinked)
        if _journey_breadth_rule(session) == "independent":
            for oid, nested in _nested_evidence_journeys_many(session, ids).items():
                values[oid]["evidence_journey_count"] = max(0, values[oid]["evidence_journey_count"] - nested)
    if "solutions" in groups:
        for oid, total, done in session.execute(
                sa.select(Solution.opportunity_id, sa.func.count(),
                          sa.func.sum(sa.case((Solution.state == "done", 1), else_=0)))
                .where(Solution.opportunity_id.in_(ids)).group_by(Solution.opportunity_id)):
            values[oid].update(solution_count=total, solutions_done=done or 0)
    if "kpis" in groups:
        for oid, total, baselines, outcomes, improved, met in session.execute(
                sa.select(OpportunityKpi.opportunity_id, sa.func.count(), sa.func.count(OpportunityKpi.baseline_value),
                          sa.func.count(OpportunityKpi.verdict),
                          sa.func.sum(sa.case((OpportunityKpi.verdict.in_(IMPROVED_VERDICTS), 1), else_=0)),
                          sa.func.sum(sa.case((OpportunityKpi.verdict.in_(MET_VERDICTS), 1), else_=0)))
                .where(OpportunityKpi.opportunity_id.in_(ids)).group_by(OpportunityKpi.opportunity_id)):
            values[oid].update(targeted_kpi_count=total, baselines_recorded=baselines, outcomes_recorded=outcomes,
                               outcomes_improved=improved or 0, outcomes_met=met or 0)
    if "score" in groups:
        for oid, missing in scoring.missing_inputs_many(session, opportunities).items():
            values[oid]["missing_score_inputs"] = tuple(missing)
    if "checks" in groups:
        checked = [o.id for o in opportunities if lifecycle_of(session, o).definition.checks]
        if checked:
            ticked: dict[int, set[str]] = {oid: set() for oid in checked}
            for oid, check in session.execute(sa.select(ChecklistTick.opportunity_id, ChecklistTick.check)
                                              .where(ChecklistTick.opportunity_id.in_(checked))):
                ticked[oid].add(check)
            for oid, names in ticked.items():
                values[oid]["checks_ticked"] = frozenset(names)
    words = vocabulary_of(session)
    return {o.id: OpportunityFacts(opportunity_id=o.id, owner_id=o.owner_id,
                                   journey_ids=tuple(sorted(journey_ids_of(o))), words=words, **values[o.id])
            for o in opportunities}


def opportunity_history(session: Session, actor: Actor, opportunity_ref: str | int) -> list[dict[str, Any]]:
    """The opportunity's lifecycle story, oldest first: transitions, requests, approvals, rejections, withdrawals,
    each with who, when, reason and (for requests and transitions) the guard results at that moment."""
    opp = get_opportunity(session, opportunity_ref)
    actor.require("read")
    out = []
    for event in audit.history(session, "opportunity", opp.key):
        if not (event.action.startswith(("transition.", "approval.")) or event.action in (
                "opportunity.transitioned", "opportunity.created")):
            continue
        after = event.after or {}
        out.append({"at": event.at, "actor": event.actor, "action": event.action, "reason": event.reason,
                    "from": (event.before or {}).get("state", after.get("from")),
                    "to": after.get("state", after.get("to")), "trigger": after.get("trigger"),
                    "request": after.get("request", after.get("approval_request")),
                    "guards": after.get("guards"), "waiting_for": after.get("waiting_for"),
                    "audit_id": event.id})
    return out


def transitions_of(session: Session, opportunity: Opportunity) -> list[OpportunityTransition]:
    """The OpportunityTransition rows of one opportunity, oldest first (cumulative-flow charts use these)."""
    return list(session.scalars(sa.select(OpportunityTransition).where(
        OpportunityTransition.opportunity_id == opportunity.id).order_by(OpportunityTransition.id)))


def request_auto_transitions(session: Session, actor: Actor, opportunity_ref: str | int
                             ) -> TransitionResult | None:
    """Called by the Jira sync when solutions change: request the state's `auto: true` transition if its guards are
    met now (moving at once, or creating its approval request). Returns None when nothing applies."""
    opp = get_opportunity(session, opportunity_ref)
    lifecycle = lifecycle_of(session, opp)
    autos = lifecycle.auto_triggers(opp.state)
    if not autos:
        return None
    facts = facts_for(session, opp)
    for t in autos:
        if lifecycle.check(opp.state, t.trigger, facts).ok:
            if t.approval is not None and pending_request(session, opp.id) is not None:
                return None
            return request_transition(session, actor, opp.id, t.trigger,
                                      reason="requested automatically: its guards are met")
    return None


def opportunity_delivered(session: Session, actor: Actor, opportunity_ref: str | int) -> str:
    """Every solution of the opportunity is done: let the lifecycle apply its `auto` rule now (e.g. ask to move to
    evaluate), in a transaction of its own. The one step the Jira sync and a person marking solutions done (API, web
    app) share. A refused move is the lifecycle's answer, not a failure: it is described, never raised."""
    try:
        result = request_auto_transitions(session, actor, opportunity_ref)
    except (GuardsUnmet, Conflict, PermissionDenied, PreconditionFailed, InvalidInput, NotFound) as exc:
        session.rollback()
        return getattr(exc, "message", None) or str(exc)
    if result is None:
        return "nothing to do"
    return result.message or ("moved" if result.moved else "requested")


def record_solution_progress(session: Session, actor: Actor, solution_id: int, state: str, *,
                             external_status: str | None = None) -> tuple[Solution, str | None]:
    """Record a solution's progress by hand (API, web app); when it is the last of its opportunity's solutions to be
    done, the lifecycle's automatic move follows, as when Jira reports it. Answers the solution and what the lifecycle
    said (None when nothing was delivered). Refused in a state whose definition does not allow solution work."""
    found = session.get(Solution, solution_id)
    if found is not None:
        state_catalog(session, found.opportunity.lifecycle).refuse_unless_allowed(
            found.opportunity.state, "solutions", f"the solutions of {found.opportunity.key} cannot be changed")
    solution = set_solution_state(session, actor, solution_id, state, external_status=external_status, commit=False)
    opportunity = solution.opportunity
    was_delivered = state == "done" and all(s.state == "done" for s in opportunity.solutions)
    key = opportunity.key
    session.commit()
    if not was_delivered:
        return solution, None
    said = opportunity_delivered(session, Actor.system_actor("lifecycle"), key)
    return session.get(Solution, solution_id), said


# --- reconciliation: solutions that belong in the backlog ------------------------------------------------------------


def backlog_states_by_lifecycle(session: Session) -> dict[str, dict[str, str | None]]:
    """{lifecycle name: {state: issue type or None}} for every lifecycle an opportunity lives in: the states whose
    solutions belong in the backlog, as each definition says (see `Definition.backlog_states`)."""
    applied = applied_lifecycle(session)
    names = set(session.scalars(sa.select(Opportunity.lifecycle).distinct())) | {applied.name}
    found: dict[str, dict[str, str | None]] = {}
    for name in names:
        if name in (None, applied.name):
            lifecycle = applied
        else:
            try:
                lifecycle = get_lifecycle(name)
            except Exception:  # noqa: BLE001 - an opportunity of a lifecycle no longer shipped: nothing to push
                log.warning("lifecycle %r of some opportunities is not available; their solutions are not pushed",
                            name, exc_info=True)
                continue
        found[name if name is not None else applied.name] = lifecycle.definition.backlog_states()
    return found


def queue_missing_backlog_items(session: Session, actor: Actor, *, commit: bool = True) -> list[str]:
    """Reconciliation: queue a backlog item for every solution that should be in the backlog and is not, nor queued.

    Should be: its opportunity is in a state its lifecycle enters with `create_backlog_items` (e.g. implement), so a
    solution added during implement, or one whose opportunity entered implement before Jira was configured, gets its
    item too. Not yet: no `external_key` and no `jira:create:<id>` message ever queued (a dead one waits for a person,
    who retries it after fixing the cause). Two statements whatever the number of solutions; answers their keys."""
    by_lifecycle = backlog_states_by_lifecycle(session)
    applied_name = applied_lifecycle(session).name
    clauses = []
    for name, states in by_lifecycle.items():
        if not states:
            continue
        in_lifecycle = (sa.or_(Opportunity.lifecycle == name, Opportunity.lifecycle.is_(None))
                        if name == applied_name else Opportunity.lifecycle == name)
        clauses.append(sa.and_(in_lifecycle, Opportunity.state.in_(list(states))))
    if not clauses:
        return []
    queued = sa.select(OutboxMessage.id).where(
        OutboxMessage.dedupe_key == sa.literal("jira:create:") + sa.cast(Solution.id, sa.String)).exists()
    rows = session.execute(
        sa.select(Solution.id, Solution.title, Opportunity)
        .join(Opportunity, Solution.opportunity_id == Opportunity.id)
        .where(Solution.external_key.is_(None), sa.or_(*clauses), ~queued)
        .order_by(Solution.id)).all()
    keys = []
    for solution_id, title, opp in rows:
        issue_type = by_lifecycle.get(opp.lifecycle or applied_name, {}).get(opp.state)
        session.add(OutboxMessage(
            topic=JIRA, kind=KIND_CREATE_BACKLOG_ITEM, status="pending", next_attempt_at=utcnow(),
            payload={"solution_id": solution_id, "opportunity": opp.key, "summary": title,
                     "issue_type": issue_type},
            dedupe_key=f"jira:create:{solution_id}"))
        keys.append(f"SOL-{solution_id}")
    if keys:
        audit.record(session, actor, "backlog.reconciled", "jira", "backlog", after={"queued": keys},
                     reason="solutions that belong in the backlog had no backlog item and none was queued")
    if commit:
        session.commit()
    return keys
