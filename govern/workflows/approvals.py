"""Approval rules as pure functions: who may approve a transition request, in which capacity, and is it decided?

Rules (as written in a lifecycle definition):

- `{owners: all}`: the journey owner of every journey the opportunity touches.
- `{owners: any}`: the owner of any one journey it touches.
- `{role: lead}`: one person holding that council role.
- `{quorum: {role: manager, n: 2}}`: n distinct people holding that role.
- `{person: handle}`: one named person (who must hold a council role that may approve; `govern apply` checks).

A role is one of the four from the practice or a role the organisation declares under `roles:` in govern.yaml; the
definition only checks that it is a well-formed role key, `govern apply` that the organisation has it and that the
permission table lets it approve.
- `{all_of: [rule, ...]}`: every sub-rule. One person's approval counts for every part they are eligible for (a lead who
  also owns a touched journey satisfies both "the lead" and "that owner" with one approval).

Separation of duties: whoever requested a transition can never approve it. Consequences, chosen so that a request can
always be decided by someone else and never by nobody:

- `owners: all` — a journey owned by the requester needs no further approval for that journey (requesting is their
  consent), but at least one approval by someone else is always needed: if the requester owns every touched journey,
  a lead must approve instead.
- A touched journey without an owner (an ownership gap) can be approved for by a lead, so a gap never blocks forever;
  the gap still shows in the approval's wording.
- `owners: any` — when no owner other than the requester exists, a lead approves instead.
- Roles and quorums have no fallback: when too few people other than the requester hold the role, the status says so
  (`impossible`), so the council can seat someone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from govern.model import COUNCIL_ROLES

RULE_KINDS = ("owners", "role", "quorum", "person", "all_of")
ROLE_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")
HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _role_problem(role: Any) -> str | None:
    if isinstance(role, str) and ROLE_KEY.match(role):
        return None
    return (f"unknown council role {role!r} (roles: {', '.join(COUNCIL_ROLES)}, or a role the organisation declares "
            "under roles: in govern.yaml)")
FALLBACK_ROLE = "lead"


# --- validation -------------------------------------------------------------------------------------------------------


def validate_rule(rule: Any, path: str = "approval") -> dict[str, str]:
    """Every problem with an approval rule, keyed by its path (`transitions[1].approval.quorum.n`)."""
    problems: dict[str, str] = {}
    if not isinstance(rule, Mapping) or len(rule) != 1:
        problems[path] = ("an approval rule is a mapping with exactly one of "
                          f"{', '.join(RULE_KINDS)}; got {rule!r}")
        return problems
    (kind, value), = rule.items()
    here = f"{path}.{kind}"
    if kind == "owners":
        if value not in ("all", "any"):
            problems[here] = f"must be 'all' or 'any', got {value!r}"
    elif kind == "role":
        if (problem := _role_problem(value)) is not None:
            problems[here] = problem
    elif kind == "person":
        if not isinstance(value, str) or not HANDLE.match(value):
            problems[here] = f"must be a person's handle, got {value!r}"
    elif kind == "quorum":
        if not isinstance(value, Mapping):
            problems[here] = f"must be a mapping with role and n, got {value!r}"
        else:
            for key in value:
                if key not in ("role", "n"):
                    problems[f"{here}.{key}"] = "unknown key (allowed: role, n)"
            role = value.get("role")
            if role is None:
                problems[f"{here}.role"] = "is required"
            elif (problem := _role_problem(role)) is not None:
                problems[f"{here}.role"] = problem
            n = value.get("n")
            if n is None:
                problems[f"{here}.n"] = "is required"
            elif isinstance(n, bool) or not isinstance(n, int) or n < 1:
                problems[f"{here}.n"] = f"must be a whole number of at least 1, got {n!r}"
    elif kind == "all_of":
        if not isinstance(value, list) or not value:
            problems[here] = "must be a non-empty list of approval rules"
        else:
            for i, sub in enumerate(value):
                problems.update(validate_rule(sub, f"{here}[{i}]"))
    else:
        problems[path] = f"unknown approval rule {kind!r} (rules: {', '.join(RULE_KINDS)})"
    return problems


_ROLE_PLURALS = {"lead": "leads", "manager": "managers", "coordinator": "coordinators", "supporter": "supporters"}


def describe_rule(rule: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """Plain words for a rule: 'the owner of every journey it touches', '2 managers', …; a named approver by name
    when `names` (handle → name) knows them."""
    (kind, value), = rule.items()
    if kind == "owners":
        return "the owner of every journey it touches" if value == "all" else "the owner of any journey it touches"
    if kind == "role":
        return f"a {value}" if value != "lead" else "the lead"
    if kind == "quorum":
        n, role = value["n"], value["role"]
        return f"{n} {_ROLE_PLURALS.get(role, role + 's') if n != 1 else role}"
    if kind == "person":
        return f"{(names or {}).get(value, value)} (named approver)"
    return " and ".join(describe_rule(sub, names) for sub in value)


def short_rule(rule: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """Compact label for diagrams: `all owners`, `any owner`, `lead`, `2 managers`, `all owners + 2 managers`; a named
    person by name when `names` (handle → name) knows them."""
    (kind, value), = rule.items()
    if kind == "owners":
        return "all owners" if value == "all" else "any owner"
    if kind == "person":
        return (names or {}).get(value, value)
    if kind == "role":
        return value
    if kind == "quorum":
        n, role = value["n"], value["role"]
        return f"{n} {_ROLE_PLURALS.get(role, role + 's') if n != 1 else role}"
    return " + ".join(short_rule(sub, names) for sub in value)


# --- evaluation -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalContext:
    """Who is who for one request: owners of the touched journeys (by journey key), council role holders, requester."""

    journey_owners: Mapping[str, int | None]
    role_holders: Mapping[str, frozenset[int]]
    requester_id: int | None
    names: Mapping[int, str] = field(default_factory=dict)  # person id -> handle (who is who; audiences)
    journey_names: Mapping[str, str] = field(default_factory=dict)  # journey key -> name, for plain-words answers
    people: Mapping[int, str] = field(default_factory=dict)  # person id -> name, for plain-words answers

    def name(self, person_id: int) -> str:
        """What people read for someone: their name (their handle for a request stored before names were kept)."""
        return self.people.get(person_id) or self.handle(person_id)

    def handle(self, person_id: int) -> str:
        """Someone's handle, where a command or an audience needs it."""
        return self.names.get(person_id, f"person {person_id}")

    def journey(self, key: str) -> str:
        return self.journey_names.get(key, key)


@dataclass(frozen=True)
class Part:
    """One requirement of a rule: `needed` distinct approvals from `candidates`, recorded under `capacity`."""

    capacity: str  # machine-friendly, stored on the vote: "owner:switching-providers", "role:lead", "quorum:manager"
    wording: str  # for people: "the owner of switching-providers (lotte)"
    candidates: frozenset[int]
    needed: int = 1


@dataclass(frozen=True)
class PartStatus:
    part: Part
    approved_by: tuple[int, ...]

    @property
    def satisfied(self) -> bool:
        return len(self.approved_by) >= self.part.needed

    @property
    def missing(self) -> int:
        return max(0, self.part.needed - len(self.approved_by))


@dataclass(frozen=True)
class ApprovalStatus:
    """The state of a request under its rule, given the approvals so far."""

    parts: tuple[PartStatus, ...]
    requester_id: int | None
    approvers: frozenset[int]  # who has approved already

    @property
    def satisfied(self) -> bool:
        return all(p.satisfied for p in self.parts)

    def eligible(self) -> dict[int, list[str]]:
        """Who may still approve, and the capacities their approval would count for."""
        out: dict[int, list[str]] = {}
        for status in self.parts:
            if status.satisfied:
                continue
            for person in sorted(status.part.candidates - self.approvers):
                out.setdefault(person, []).append(status.part.capacity)
        return out

    def may_decide(self) -> frozenset[int]:
        """Everyone who may approve or reject (any part's candidate, never the requester)."""
        people: set[int] = set()
        for status in self.parts:
            people |= status.part.candidates
        return frozenset(people)

    def capacity_of(self, person_id: int) -> str:
        """What a new approval by this person counts for (stored on the vote)."""
        return "; ".join(self.eligible().get(person_id, []))[:120]

    def waiting_for(self) -> list[str]:
        """Plain words for every part still open: 'the owner of moving-house (ana)', '1 more of 2 managers'."""
        out = []
        for status in self.parts:
            if status.satisfied:
                continue
            if status.part.needed > 1 and status.approved_by:
                out.append(f"{status.missing} more of {status.part.wording}")
            else:
                out.append(status.part.wording)
        return out

    def impossible(self) -> list[str]:
        """Parts that cannot be met by the people who exist: the council must seat someone first."""
        out = []
        for status in self.parts:
            available = len(status.part.candidates - self.approvers)
            if not status.satisfied and available < status.missing:
                out.append(f"{status.part.wording}: only {len(status.part.candidates)} "
                           f"{'person' if len(status.part.candidates) == 1 else 'people'} other than the requester "
                           f"can approve")
        return out

    def refusal(self, person_id: int | None, ctx: ApprovalContext | None = None, decision: str = "approve") -> str | None:
        """Why this person may not approve (or reject) now, in plain words; None when they may."""
        verb = "approve" if decision == "approve" else "reject"
        if person_id is None:
            return (f"the local operator (system) cannot {verb} transition requests; act as a person "
                    f"(--as HANDLE) who is an approver")
        if person_id == self.requester_id:
            return (f"you requested this transition, so you cannot {verb} it (separation of duties); "
                    f"waiting for: {', '.join(self.waiting_for()) or 'nobody'}")
        if decision != "approve":
            if person_id in self.may_decide():
                return None
            return f"you are not an approver for this request; it needs {self._needs()}"
        if person_id in self.approvers:
            return "you have already approved this request"
        if person_id in self.eligible():
            return None
        if person_id in self.may_decide():
            return f"the part you could approve for is already approved; still waiting for: {self._needs()}"
        return f"you are not an approver for this request; it needs {self._needs()}"

    def _needs(self) -> str:
        return ", ".join(self.waiting_for()) or "nothing more"

    def to_dict(self) -> dict[str, Any]:
        return {
            "satisfied": self.satisfied,
            "waiting_for": self.waiting_for(),
            "impossible": self.impossible(),
            "eligible": {str(k): v for k, v in self.eligible().items()},
            "approved_by": sorted(self.approvers),
            "parts": [
                {"capacity": s.part.capacity, "wording": s.part.wording, "needed": s.part.needed,
                 "approved_by": list(s.approved_by), "satisfied": s.satisfied}
                for s in self.parts
            ],
        }


def parts_for(rule: Mapping[str, Any], ctx: ApprovalContext) -> list[Part]:
    """Expand a rule into the requirements that must each be met (the requester is never a candidate)."""
    (kind, value), = rule.items()
    requester = ctx.requester_id
    leads = frozenset(ctx.role_holders.get(FALLBACK_ROLE, frozenset())) - {requester}

    def who(people: Iterable[int]) -> str:
        names = sorted(ctx.name(p) for p in people)
        return f" ({', '.join(names)})" if names else ""

    if kind == "owners":
        owners = {key: owner for key, owner in ctx.journey_owners.items()}
        if value == "any":
            candidates = frozenset(o for o in owners.values() if o is not None) - {requester}
            if candidates:
                return [Part("owners:any", "the owner of any journey it touches" + who(candidates), candidates)]
            return [Part("lead:no-other-owner", "the lead (no journey owner other than the requester)" + who(leads),
                         leads)]
        parts: list[Part] = []
        waived = 0
        for key, owner in sorted(owners.items()):
            if owner is None:
                parts.append(Part(f"lead:unowned:{key}", f"the lead, for {ctx.journey(key)} which has no owner"
                                  + who(leads), leads))
            elif owner == requester:
                waived += 1  # the requester's own journey: requesting is their consent
            else:
                parts.append(Part(f"owner:{key}", f"the owner of {ctx.journey(key)}" + who([owner]),
                                  frozenset({owner})))
        if not parts:
            why = "the requester owns every journey it touches" if waived else "it touches no journey"
            parts.append(Part("lead:requester-owns-all", f"the lead ({why})" + who(leads), leads))
        return parts
    if kind == "role":
        holders = frozenset(ctx.role_holders.get(value, frozenset())) - {requester}
        return [Part(f"role:{value}", describe_rule(rule) + who(holders), holders)]
    if kind == "quorum":
        role, n = value["role"], value["n"]
        holders = frozenset(ctx.role_holders.get(role, frozenset())) - {requester}
        return [Part(f"quorum:{role}", describe_rule(rule) + who(holders), holders, n)]
    if kind == "person":
        # A named approver holds a council seat (govern apply checks), so the context knows their id by handle.
        found = frozenset(pid for pid, handle in ctx.names.items() if handle == value
                          and any(pid in ids for ids in ctx.role_holders.values())) - {requester}
        shown = {handle: ctx.name(pid) for pid, handle in ctx.names.items()}  # the approver by name
        return [Part(f"person:{value}", describe_rule(rule, shown), found)]
    if kind == "all_of":
        out: list[Part] = []
        for sub in value:
            out.extend(parts_for(sub, ctx))
        return out
    raise ValueError(f"unknown approval rule {kind!r}")


def evaluate(rule: Mapping[str, Any], ctx: ApprovalContext, approvals: Iterable[int]) -> ApprovalStatus:
    """The status of a request: `approvals` are the person ids who approved so far (in order)."""
    approvers = [p for p in dict.fromkeys(approvals) if p != ctx.requester_id]
    statuses = []
    for part in parts_for(rule, ctx):
        counted = tuple(p for p in approvers if p in part.candidates)
        statuses.append(PartStatus(part, counted))
    return ApprovalStatus(tuple(statuses), ctx.requester_id, frozenset(approvers))


# --- who may request a transition (`requesters:` on a transition) ---------------------------------------------------------


def may_request(actor: Any, requesters: Iterable[str], journey_ids: Iterable[int]) -> bool:
    """Whether the actor is one of a transition's requesters: holds a listed role (for a role held on some journeys
    only, on one of the opportunity's journeys) or is a listed person. No list means no limit; the local operator
    and scheduled jobs (the system actor) are never limited."""
    listed = list(requesters)
    if not listed or getattr(actor, "system", False):
        return True
    wanted = set(journey_ids)
    for entry in listed:
        if entry.startswith("person:"):
            if actor.handle == entry.partition(":")[2]:
                return True
        elif entry in actor.roles and (entry == "admin" or wanted & set(actor.scopes.get(entry, ()))):
            return True
    return False


def describe_requesters(requesters: Iterable[str]) -> str:
    """'coordinator or dr-okafor': who may request a limited transition, in words."""
    words = [entry.partition(":")[2] if entry.startswith("person:") else entry for entry in requesters]
    return " or ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + " or " + words[-1]
