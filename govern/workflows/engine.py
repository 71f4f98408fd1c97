"""The lifecycle engine: one shared `transitions.Machine` per definition, never one per opportunity.

The machine is built once per definition (cached by the definition's digest) with `model=None` and
`auto_transitions=False`. Opportunities are never added to it as models (that would bind a partial per trigger and
state to each one, the memory cost `transitions`' FAQ warns about). Instead each call passes a throw-away `_Subject`
(two slots: the state column's value and the facts) straight to the machine's event, so the machine's own conditions
(our guards) run and its `set_state` writes the new state on the subject; the caller stores it in the state column.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from transitions import Machine, MachineError

from govern.errors import Conflict, GuardsUnmet, InvalidInput
from govern.workflows import approvals, guards
from govern.workflows.definition import Definition, TransitionDef, load_definition, parse_definition
from govern.workflows.effects import Effect
from govern.workflows.guards import GuardResult, OpportunityFacts


class _Subject:
    """The per-call stand-in the shared machine acts on: no triggers bound, no per-row machine."""

    __slots__ = ("state", "facts", "results", "known")

    def __init__(self, state: str, facts: OpportunityFacts, known: tuple[GuardResult, ...] | None = None):
        self.state = state
        self.facts = facts
        self.results: list[GuardResult] = []
        self.known = known  # the guard results of a Check made just before, in the transition's guard order


@dataclass(frozen=True)
class Check:
    """The answer to 'may this opportunity make this transition now?', before any approval."""

    trigger: str
    source: str
    dest: str
    guard_results: tuple[GuardResult, ...]
    approval: Mapping[str, Any] | None
    effects: tuple[Effect, ...]
    requires_reason: bool
    auto: bool = False
    unmet: list[str] = field(default_factory=list)  # plain words, one per unmet guard

    @property
    def ok(self) -> bool:
        return not self.unmet

    @property
    def needs_approval(self) -> bool:
        return self.approval is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger, "from": self.source, "to": self.dest, "ok": self.ok, "unmet": list(self.unmet),
            "guards": [g.to_dict() for g in self.guard_results],
            "approval": dict(self.approval) if self.approval else None,
            "approval_text": approvals.describe_rule(self.approval) if self.approval else None,
            "effects": [e.to_dict() for e in self.effects], "requires_reason": self.requires_reason,
            "auto": self.auto,
        }


def _condition(index: int, guard_name: str, params: Mapping[str, Any]):
    """A machine condition for one guard; it records its result on the subject so refusals can list them. When the
    caller has just checked the transition, the condition answers with that check's result: a guard is evaluated
    once per decision."""

    def condition(event) -> bool:
        subject: _Subject = event.model
        known = subject.known
        result = known[index] if known is not None else guards.evaluate(guard_name, params, subject.facts)
        subject.results.append(result)
        return result.ok

    condition.__name__ = f"guard_{guard_name}"
    return condition


class Lifecycle:
    """A validated definition plus its shared machine. Get one with `get_lifecycle` / `lifecycle_for` (cached)."""

    def __init__(self, definition: Definition):
        self.definition = definition
        self.machine = Machine(
            model=None,
            states=list(definition.states),
            initial=definition.initial,
            transitions=[],
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            name=f"lifecycle:{definition.name} ",
        )
        for t in definition.transitions:
            self.machine.add_transition(
                t.trigger, list(t.sources), t.dest,
                conditions=[_condition(i, g.name, g.params) for i, g in enumerate(t.guards)],
            )

    # --- reading the definition ---

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def initial(self) -> str:
        return self.definition.initial

    @property
    def states(self) -> list[str]:
        return list(self.definition.states)

    def is_final(self, state: str) -> bool:
        return state in self.definition.final

    def title_of(self, state: str | None) -> str:
        """What people call `state` (its declared title; a state this lifecycle lacks reads as its name)."""
        if not state:
            return "—"
        found = self.definition.states.get(state)
        return (found.title if found is not None and found.title else state)

    def _require_state(self, state: str) -> None:
        if state not in self.definition.states:
            raise InvalidInput(f"{state!r} is not a state of the {self.name} lifecycle "
                               f"(states: {', '.join(self.definition.states)})", {"state": f"unknown state {state!r}"})

    def resolve(self, state: str, trigger_or_dest: str) -> TransitionDef:
        """The transition from `state` named by its trigger (`prioritise`) or by where it leads (`parked`)."""
        self._require_state(state)
        outgoing = self.definition.transitions_from(state)
        for t in outgoing:
            if t.trigger == trigger_or_dest:
                return t
        to_dest = [t for t in outgoing if t.dest == trigger_or_dest]
        if len(to_dest) == 1:
            return to_dest[0]
        known = {t.trigger for t in self.definition.transitions} | set(self.definition.states)
        available = ", ".join(f"{t.trigger} (→ {t.dest})" for t in outgoing) or "none, it is final"
        if len(to_dest) > 1:
            raise InvalidInput(f"more than one transition leads from {state} to {trigger_or_dest}; name the trigger "
                               f"({', '.join(t.trigger for t in to_dest)})", {"trigger": "ambiguous"})
        if trigger_or_dest not in known:
            raise InvalidInput(f"{trigger_or_dest!r} is neither a trigger nor a state of the {self.name} lifecycle; "
                               f"from {state}: {available}", {"trigger": f"unknown {trigger_or_dest!r}"})
        raise Conflict(f"cannot {trigger_or_dest} from {state}; from {state}: {available}",
                       {"state": state, "trigger": trigger_or_dest})

    # --- checking and firing ---

    def _check_transition(self, state: str, t: TransitionDef, facts: OpportunityFacts) -> Check:
        results = tuple(guards.evaluate(g.name, g.params, facts) for g in t.guards)
        return Check(
            trigger=t.trigger, source=state, dest=t.dest, guard_results=results, approval=t.approval,
            effects=t.effects, requires_reason=t.requires_reason, auto=t.auto,
            unmet=[r.message for r in results if not r.ok],
        )

    def check(self, state: str, trigger: str, facts: OpportunityFacts) -> Check:
        """Every guard of the transition evaluated (not only up to the first failure), with its approval and effects."""
        return self._check_transition(state, self.resolve(state, trigger), facts)

    def available(self, state: str, facts: OpportunityFacts) -> list[Check]:
        """Every transition from `state`, each with its unmet guards (empty `unmet` means it can go now)."""
        self._require_state(state)
        return [self._check_transition(state, t, facts) for t in self.definition.transitions_from(state)]

    def fire(self, state: str, trigger: str, facts: OpportunityFacts, check: Check | None = None) -> str:
        """Run the transition through the shared machine (its conditions are the guards); return the new state.

        `check`: the Check of this transition from this state just made on the same facts; the machine's conditions
        then answer with its results instead of evaluating the guards a second time.
        Raises GuardsUnmet (details: every unmet guard) when refused. Approval is not checked here: the services
        decide when an approved request may fire.
        """
        t = self.resolve(state, trigger)
        known = None
        if check is not None and check.trigger == t.trigger and check.source == state:
            known = check.guard_results
        subject = _Subject(state, facts, known)
        try:
            moved = self.machine.events[t.trigger].trigger(subject)
        except MachineError as err:  # resolve() already checked the source; keep the machine's word as a backstop
            raise Conflict(str(err).strip(), {"state": state, "trigger": trigger}) from None
        if not moved:
            check = self._check_transition(state, t, facts)
            raise GuardsUnmet(
                f"cannot {t.trigger} ({state} → {t.dest}): " + "; ".join(check.unmet),
                {"unmet": check.unmet, "guards": [g.to_dict() for g in check.guard_results],
                 "trigger": t.trigger, "from": state, "to": t.dest},
            )
        return subject.state

    def auto_triggers(self, state: str) -> list[TransitionDef]:
        """Transitions from `state` that are requested on their own when their guards open (`auto: true`)."""
        return [t for t in self.definition.transitions_from(state) if t.auto]


_cache: dict[str, Lifecycle] = {}
_cache_lock = threading.Lock()


def lifecycle_for(definition: Definition) -> Lifecycle:
    """The shared lifecycle (and machine) for a definition, built once per distinct definition."""
    found = _cache.get(definition.digest)
    if found is None:
        with _cache_lock:
            found = _cache.get(definition.digest)
            if found is None:
                found = _cache[definition.digest] = Lifecycle(definition)
    return found


def cached_lifecycle(digest: str | None) -> Lifecycle | None:
    """The lifecycle already built for a definition digest (as kept in the `lifecycle.current` setting), if any."""
    return _cache.get(digest) if digest else None


def get_lifecycle(name_or_path: str | Path) -> Lifecycle:
    """The lifecycle for a shipped name (`default`, `triple_diamond`) or a definition file."""
    return lifecycle_for(load_definition(name_or_path))


def lifecycle_from_data(data: Mapping[str, Any], origin: str = "definition", digest: str | None = None) -> Lifecycle:
    """The lifecycle for definition data (as stored in the `lifecycle.current` setting); `digest` (the setting's) is
    remembered too, so the next call finds it without parsing."""
    lifecycle = lifecycle_for(parse_definition(data, origin))
    if digest:
        _cache.setdefault(digest, lifecycle)
    return lifecycle
