"""Roles and permissions: one table, in code, that every service checks and the playbook prints."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from govern.errors import PermissionDenied
from govern.vocabulary import DEFAULT as DEFAULT_WORDS, Vocabulary


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

# action -> (plain-words description, {role: scope}); `{opportunity}` in a description is the organisation's word
# for it (govern.vocabulary), filled in where the description is shown
A, S = Scope.ALL, Scope.SCOPED
_COUNCIL = {"admin": A, "lead": A, "manager": A}
ACTIONS: dict[str, tuple[str, dict[str, Scope]]] = {
    "read": ("read journeys, evidence, {opportunities}, rituals and the audit trail",
             {r: A for r in ROLES}),
    "token.manage_own": ("create and revoke their own API tokens", {r: A for r in ROLES}),
    "person.manage": ("add, change and remove people", _COUNCIL),
    # Identity: who may grant which role, and who may set someone else's password (never their own role or seat).
    "person.grant_admin": ("make someone an administrator, or take it away", {"admin": A}),
    "person.set_password": ("set someone else's sign-in password (they must choose their own at the next sign-in)",
                            {"admin": A}),
    "council.seat_lead": ("seat and unseat the lead", {"admin": A}),
    "council.seat_manager": ("seat and unseat managers", {"admin": A, "lead": A}),
    "council.manage": ("seat and unseat coordinators and supporters", _COUNCIL),
    "journey.manage": ("create, move and remove journeys; change their owner, scoring model and Slack channel",
                       _COUNCIL),
    "journey.edit": ("edit a journey's stages, steps and description",
                     {**_COUNCIL, "owner": S, "coordinator": S}),
    "persona.manage": ("create and change personas", {**_COUNCIL, "coordinator": A}),
    "kpi.manage": ("define KPIs, scales and targets", _COUNCIL),
    "kpi.measure": ("record KPI measurements", {**_COUNCIL, "owner": S, "coordinator": S, "supporter": S}),
    "evidence.record": ("record evidence ({insights})",
                        {**_COUNCIL, "owner": A, "coordinator": A, "supporter": A}),
    "evidence.link": ("link evidence to steps and {opportunities}",
                      {**_COUNCIL, "owner": A, "coordinator": A, "supporter": A}),
    # Whoever recorded an insight may always edit, merge or delete their own (govern.services.evidence); this action
    # is curating anyone's, scoped by the journeys of the insight's steps (triage: its source's journey).
    "evidence.curate": ("edit, merge and delete evidence on their journeys' steps (whoever recorded an insight may "
                        "always curate their own)", {**_COUNCIL, "owner": S, "coordinator": S}),
    "evidence.delete": ("erase evidence's personal data (redaction) and apply the evidence retention", _COUNCIL),
    "opportunity.create": ("create {opportunities}", {**_COUNCIL, "owner": A, "coordinator": A}),
    "opportunity.edit": ("edit {a_opportunity}, its links and owner", {**_COUNCIL, "owner": S, "coordinator": S}),
    "opportunity.score": ("record scoring inputs", {**_COUNCIL, "owner": S, "coordinator": S}),
    "solution.manage": ("add and change {solutions}", {**_COUNCIL, "owner": S, "coordinator": S}),
    "transition.request": ("move {a_opportunity} or request a transition",
                           {**_COUNCIL, "owner": S, "coordinator": S}),
    "transition.approve": ("approve or reject transition requests (when the lifecycle names them as approver)",
                           {"lead": A, "manager": A, "owner": S}),
    # Its requester may always withdraw their own request; this action is withdrawing someone else's.
    "transition.withdraw": ("withdraw a pending transition request someone else made (a requester may always "
                            "withdraw their own)", _COUNCIL),
    "ritual.manage": ("define and schedule rituals", _COUNCIL),
    "ritual.record": ("hold, skip and minute ritual occurrences, record decisions and follow-ups", _COUNCIL),
    "outbox.manage": ("retry or drop deliveries to Jira and Slack", {"admin": A, "manager": A}),
    "integration.sync": ("run a Jira sync", {"admin": A, "manager": A}),
    "config.apply": ("apply govern.yaml (people, council, journeys, KPIs, rituals, settings)", _COUNCIL),
}
del A, S


# The action that grants (or takes away) each council seat: a role is granted only by someone above it.
SEAT_ACTIONS = {"lead": "council.seat_lead", "manager": "council.seat_manager",
                "coordinator": "council.manage", "supporter": "council.manage"}


def seat_action(role: str) -> str:
    """The permission needed to seat or unseat someone in `role`."""
    return SEAT_ACTIONS.get(role, "council.seat_lead")


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
    # What the organisation's own council roles (govern.yaml `roles:`) held by this actor may do: role -> action -> scope.
    grants: dict[str, dict[str, Scope]] = field(default_factory=dict)
    words: Vocabulary = field(default=DEFAULT_WORDS, compare=False, repr=False)  # for refusals in the org's words
    # The council seats the roles come from, (role, journey id or None for organisation-wide), for saying where.
    seats: tuple[tuple[str, int | None], ...] = field(default=(), compare=False, repr=False)

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
            scope = grants.get(role) or self.grants.get(role, {}).get(action)
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


def require_not_self(actor: Actor, person_id: int | None, what: str) -> None:
    """Nobody changes their own standing (seats, admin flag, active flag): another person with the right must."""
    if not actor.system and person_id is not None and actor.person_id == person_id:
        raise PermissionDenied(f"{actor.handle} may not {what} for themselves; someone else who may must do it",
                               {"person": actor.handle, "reason": "self"})


def who_may(action: str, custom: "Mapping[str, CustomRole] | None" = None) -> list[str]:
    """The roles that may take an action, in words; `custom` adds the organisation's own roles that hold it."""
    out = []
    grants = dict(ACTIONS[action][1])
    for role in (custom or {}).values():
        if action in role.permissions:
            grants[role.name] = role.permissions[action]
    for role, scope in grants.items():
        out.append(role if scope is Scope.ALL else f"{role} (of the journeys concerned)")
    return out


# --- the organisation's own council roles (govern.yaml `roles:`) --------------------------------------------------------

ROLES_SETTING = "roles"
BUILT_IN_SEAT_ROLES = ("lead", "manager", "coordinator", "supporter")
_ROLE_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")


@dataclass(frozen=True)
class CustomRole:
    """A council role of the organisation's own (a Chief Medical Officer, a privacy officer), on top of the four from
    the practice, with exactly the permissions it declares."""

    key: str
    name: str
    description: str
    permissions: Mapping[str, Scope]


def custom_roles_from(section: Any) -> dict[str, CustomRole]:
    """The (validated) `roles:` section as CustomRole by key; nothing declared gives {}."""
    out: dict[str, CustomRole] = {}
    for item in section or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            continue
        raw = item.get("permissions") or {}
        if isinstance(raw, list):
            raw = {a: "all" for a in raw}
        perms = {a: Scope(s) for a, s in raw.items() if a in ACTIONS and s in ("all", "scoped")}
        out[item["key"]] = CustomRole(item["key"], str(item.get("name") or item["key"]),
                                      str(item.get("description") or ""), perms)
    return out


def validate_roles(section: Any, path: str = "roles") -> dict[str, str]:
    """Every problem with govern.yaml's `roles:` section, keyed by its place."""
    problems: dict[str, str] = {}
    if section is None:
        return problems
    if not isinstance(section, list):
        return {path: "must be a list of roles, each {key, name, description, permissions}"}
    seen: dict[str, int] = {}
    for i, item in enumerate(section):
        here = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            problems[here] = "must be a mapping with key, name and permissions"
            continue
        for k in item:
            if k not in ("key", "name", "description", "permissions"):
                problems[f"{here}.{k}"] = "unknown key (allowed: key, name, description, permissions)"
        key = item.get("key")
        if not isinstance(key, str) or not _ROLE_KEY.match(key):
            problems[f"{here}.key"] = f"is required: lower-case letters, digits, '-' or '_' (got {key!r})"
        elif key in ROLES:
            problems[f"{here}.key"] = f"{key!r} is a built-in role; give your own role another key"
        elif key in seen:
            problems[f"{here}.key"] = f"duplicate role {key!r} (also {path}[{seen[key]}])"
        else:
            seen[key] = i
        perms = item.get("permissions")
        if perms is None:
            problems[f"{here}.permissions"] = "is required: the actions this role may take (see the permission table)"
            continue
        entries = {a: "all" for a in perms} if isinstance(perms, list) else perms
        if not isinstance(entries, Mapping):
            problems[f"{here}.permissions"] = "must be a list of actions, or a mapping of action to all | scoped"
            continue
        for action, scope in entries.items():
            if action not in ACTIONS:
                problems[f"{here}.permissions.{action}"] = (f"unknown action {action!r} "
                                                            f"(actions: {', '.join(ACTIONS)})")
            elif scope not in ("all", "scoped"):
                problems[f"{here}.permissions.{action}"] = f"must be all or scoped, got {scope!r}"
    return problems


def denial_message(actor: Actor, action: str) -> str:
    held = ", ".join(sorted(actor.roles - {"viewer"})) or "viewer"
    return (f"{actor.handle} ({held}) may not {actor.words.action(action, ACTIONS[action][0])}; "
            f"this is for: {', '.join(who_may(action))}.")
