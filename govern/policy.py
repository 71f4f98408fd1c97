"""Roles and permissions: one table, in code, that every service checks and the playbook prints."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterable

from govern.errors import PermissionDenied


class Scope(enum.Enum):
    """How far a role's permission reaches."""

    ALL = "all"  # anywhere in the organisation
    SCOPED = "scoped"  # only the journeys the role covers (an owner's journeys, a coordinator's subtree)


ROLES = ("admin", "lead", "manager", "coordinator", "supporter", "owner", "viewer")

ROLE_DESCRIPTIONS = {
    "admin": "runs the installation: people, configuration, integrations",
    "lead": "owns the practice: strategy, leadership support, final say on contested priorities",
    "manager": "runs operations: schedules rituals, follows decisions through, bridges silos",
    "coordinator": "keeps a journey (or sub-journey) current with fresh data and decisions",
    "supporter": "feeds a coordinator with information, often for a department",
    "owner": "the one accountable journey owner (scoped to the journeys they own)",
    "viewer": "anyone signed in: reads everything, changes nothing",
}

# action -> (plain-words description, {role: scope})
A, S = Scope.ALL, Scope.SCOPED
_COUNCIL = {"admin": A, "lead": A, "manager": A}
ACTIONS: dict[str, tuple[str, dict[str, Scope]]] = {
    "read": ("read journeys, evidence, opportunities, rituals and the audit trail",
             {r: A for r in ROLES}),
    "token.manage_own": ("create and revoke their own API tokens", {r: A for r in ROLES}),
    "person.manage": ("add, change and remove people", _COUNCIL),
    "council.manage": ("seat and unseat council members", _COUNCIL),
    "journey.manage": ("create, move and remove journeys", _COUNCIL),
    "journey.edit": ("edit a journey's stages, steps and description",
                     {**_COUNCIL, "owner": S, "coordinator": S}),
    "persona.manage": ("create and change personas", {**_COUNCIL, "coordinator": A}),
    "kpi.manage": ("define KPIs, scales and targets", _COUNCIL),
    "kpi.measure": ("record KPI measurements", {**_COUNCIL, "owner": S, "coordinator": S, "supporter": S}),
    "evidence.record": ("record evidence (insights)",
                        {**_COUNCIL, "owner": A, "coordinator": A, "supporter": A}),
    "evidence.link": ("link evidence to steps and opportunities",
                      {**_COUNCIL, "owner": A, "coordinator": A, "supporter": A}),
    "evidence.delete": ("delete evidence that nothing refers to", _COUNCIL),
    "opportunity.create": ("create opportunities", {**_COUNCIL, "owner": A, "coordinator": A}),
    "opportunity.edit": ("edit an opportunity, its links and owner", {**_COUNCIL, "owner": S, "coordinator": S}),
    "opportunity.score": ("record scoring inputs", {**_COUNCIL, "owner": S, "coordinator": S}),
    "solution.manage": ("add and change solutions", {**_COUNCIL, "owner": S, "coordinator": S}),
    "transition.request": ("move an opportunity or request a transition",
                           {**_COUNCIL, "owner": S, "coordinator": S}),
    "transition.approve": ("approve or reject transition requests (when the lifecycle names them as approver)",
                           {"lead": A, "manager": A, "owner": S}),
    "ritual.manage": ("define and schedule rituals", _COUNCIL),
    "ritual.record": ("hold, skip and minute ritual occurrences, record decisions and follow-ups", _COUNCIL),
    "outbox.manage": ("retry or drop deliveries to Jira and Slack", {"admin": A, "manager": A}),
    "integration.sync": ("run a Jira sync", {"admin": A, "manager": A}),
    "config.apply": ("apply govern.yaml (people, council, journeys, KPIs, rituals, settings)", _COUNCIL),
}
del A, S


def permission_table() -> list[tuple[str, str, str, Scope | None]]:
    """(action, description, role, scope or None) for every role × action; printed by the playbook, walked by tests."""
    return [(action, desc, role, grants.get(role)) for action, (desc, grants) in ACTIONS.items() for role in ROLES]


def roles_allowed(action: str) -> dict[str, Scope]:
    return dict(ACTIONS[action][1])


@dataclass(frozen=True)
class Actor:
    """Who is acting, with the roles they hold and the journeys each scoped role covers."""

    person_id: int | None
    handle: str
    roles: frozenset[str] = frozenset({"viewer"})
    scopes: dict[str, frozenset[int]] = field(default_factory=dict)  # role -> journey ids it covers
    system: bool = False

    @classmethod
    def system_actor(cls, name: str = "system") -> "Actor":
        """The local operator or a scheduled job: admin rights, no personal approvals."""
        return cls(person_id=None, handle=name, roles=frozenset({"admin", "viewer"}), system=True)

    @property
    def label(self) -> str:
        return self.handle if not self.system else f"{self.handle} (system)"

    def can(self, action: str, journey_ids: Iterable[int] | None = None) -> bool:
        grants = ACTIONS[action][1]
        wanted = set(journey_ids or ())
        for role in self.roles:
            scope = grants.get(role)
            if scope is Scope.ALL:
                return True
            if scope is Scope.SCOPED and wanted & self.scopes.get(role, frozenset()):
                return True
        return False

    def require(self, action: str, journey_ids: Iterable[int] | None = None) -> None:
        """Raise PermissionDenied naming the action and who may do it."""
        if action not in ACTIONS:
            raise KeyError(f"unknown action {action!r}")
        if not self.can(action, journey_ids):
            raise PermissionDenied(denial_message(self, action), {"action": action, "allowed": who_may(action)})


def who_may(action: str) -> list[str]:
    out = []
    for role, scope in ACTIONS[action][1].items():
        out.append(role if scope is Scope.ALL else f"{role} (of the journeys concerned)")
    return out


def denial_message(actor: Actor, action: str) -> str:
    held = ", ".join(sorted(actor.roles - {"viewer"})) or "viewer"
    return (f"{actor.handle} ({held}) may not {ACTIONS[action][0]}; "
            f"this is for: {', '.join(who_may(action))}.")
