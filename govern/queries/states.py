"""What each lifecycle state *is*: its kind (active, evaluation, parked, final) and its display title.

The core owns the vocabulary of state kinds (`STATE_KINDS`) and the rule that fills in a kind or title a definition
leaves out (`state_kind`, `state_title`); `govern.workflows.definition` validates definitions with the same functions,
so a lifecycle means the same thing to the engine and to every reader.

Where the definition comes from: the core never imports `govern.workflows`. It reads the definition *data* the
organisation applied, which `govern apply` stores, already validated, in the `lifecycle.current` setting. An
opportunity created under another lifecycle (the organisation switched since) is read through the shipped definition
of that name, and a database where nothing was applied yet through the shipped `default` definition; both are read as
package data (YAML files in `govern/workflows/definitions/`), never as code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

import yaml
from sqlalchemy.orm import Session

from govern.errors import InvalidInput
from govern.model import Setting

LIFECYCLE_SETTING = "lifecycle.current"

ACTIVE, EVALUATION, PARKED, FINAL = "active", "evaluation", "parked", "final"
STATE_KINDS: dict[str, str] = {
    ACTIVE: "work in progress: counts as open, can go stale",
    EVALUATION: "delivered; waits for its KPI outcome to be recorded (open; listed when its evaluation is due)",
    PARKED: "put aside for now; not open, not final (it can come back)",
    FINAL: "closed for good (listed under `final`)",
}
# Kinds that make an opportunity part of the open portfolio.
OPEN_KINDS = frozenset({ACTIVE, EVALUATION})

# The work an opportunity's state lets people do on it (a state's `allows:` in the lifecycle definition). A final
# state allows none of it unless its definition says so; every other state allows all of it.
STATE_WORK: dict[str, str] = {
    "solutions": "add, edit and progress its solutions",
    "measurements": "record measurements of the KPIs it targets",
    "evaluation": "evaluate it against its KPIs' baselines and targets",
}


def state_allows(kind: str, body: Mapping[str, Any] | None) -> frozenset[str]:
    """The work a state allows: its `allows:` list when it declares one, else everything but in a final state."""
    declared = (body or {}).get("allows") if isinstance(body, Mapping) else None
    if isinstance(declared, (list, tuple)):
        return frozenset(str(w) for w in declared if w in STATE_WORK)
    return frozenset() if kind == FINAL else frozenset(STATE_WORK)


def state_kind(name: str, body: Mapping[str, Any] | None, final: Iterable[str]) -> str:
    """The kind a state declares; a state that declares none is `final` when listed under `final`, else `active`."""
    declared = (body or {}).get("kind") if isinstance(body, Mapping) else None
    if isinstance(declared, str) and declared in STATE_KINDS:
        return declared
    return FINAL if name in set(final) else ACTIVE


def state_title(name: str, body: Mapping[str, Any] | None) -> str:
    """The display title a state declares; without one, its name in words (`safety_review` → `Safety review`)."""
    declared = (body or {}).get("title") if isinstance(body, Mapping) else None
    if isinstance(declared, str) and declared.strip():
        return declared.strip()
    return name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class StateInfo:
    name: str
    kind: str
    title: str
    description: str = ""
    allows: frozenset[str] = frozenset(STATE_WORK)

    @property
    def is_open(self) -> bool:
        return self.kind in OPEN_KINDS


MEASURE_AFTER_DAYS = 28  # the default window after go-live before a KPI measurement counts in evaluate


@dataclass(frozen=True)
class StateCatalog:
    """The states of one lifecycle in definition order, with what each one is."""

    lifecycle: str
    title: str
    initial: str
    states: tuple[StateInfo, ...]
    # How long after go-live a KPI measurement must be taken to count in evaluate (the definition's
    # `measure_after_days`; govern.kpis explains the window).
    measure_after_days: int = MEASURE_AFTER_DAYS

    @classmethod
    def from_definition(cls, data: Mapping[str, Any]) -> "StateCatalog":
        """From definition data as `govern apply` stores it (validated by the lifecycle engine)."""
        raw_final = data.get("final") or []
        final = [raw_final] if isinstance(raw_final, str) else list(raw_final)
        states = tuple(
            StateInfo(str(name), state_kind(name, body, final), state_title(name, body),
                      str((body or {}).get("description") or "").strip() if isinstance(body, Mapping) else "",
                      state_allows(state_kind(name, body, final), body))
            for name, body in (data.get("states") or {}).items())
        return cls(str(data.get("name") or "lifecycle"), str(data.get("title") or data.get("name") or ""),
                   str(data.get("initial") or (states[0].name if states else "")), states,
                   int(data["measure_after_days"]) if data.get("measure_after_days") is not None
                   else MEASURE_AFTER_DAYS)

    def __iter__(self):
        return iter(self.states)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.states]

    def info(self, state: str) -> StateInfo:
        """What `state` is; a state this lifecycle does not define (left over from another lifecycle) counts as an
        active state titled by its name, so it stays visible rather than vanishing."""
        for s in self.states:
            if s.name == state:
                return s
        return StateInfo(state, ACTIVE, state_title(state, None))

    def kind(self, state: str) -> str:
        return self.info(state).kind

    def title_of(self, state: str) -> str:
        return self.info(state).title

    def of_kind(self, *kinds: str) -> list[str]:
        return [s.name for s in self.states if s.kind in kinds]

    @property
    def open_states(self) -> list[str]:
        return [s.name for s in self.states if s.is_open]

    @property
    def closed_states(self) -> list[str]:
        """Parked and final states: not part of the open portfolio."""
        return [s.name for s in self.states if not s.is_open]

    @property
    def final_states(self) -> list[str]:
        return self.of_kind(FINAL)

    @property
    def evaluation_states(self) -> list[str]:
        return self.of_kind(EVALUATION)

    def is_open(self, state: str) -> bool:
        return self.info(state).is_open

    def allows(self, state: str, work: str) -> bool:
        """Whether an opportunity in `state` may have this work done (`STATE_WORK`)."""
        return work in self.info(state).allows

    def refuse_unless_allowed(self, state: str, work: str, what: str) -> None:
        """InvalidInput (422) naming the state when it does not allow the work: `what` is the write refused."""
        if not self.allows(state, work):
            raise InvalidInput(f"{what}: the {self.title_of(state)} state does not allow it "
                               f"(its lifecycle lets a {self.kind(state)} state {STATE_WORK[work]} only when the "
                               f"state lists `{work}` under `allows`)", {"state": state})

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.lifecycle, "title": self.title, "initial": self.initial,
                "states": [{"name": s.name, "kind": s.kind, "title": s.title, "description": s.description}
                           for s in self.states]}


@lru_cache(maxsize=16)
def _shipped_definition(name: str) -> Mapping[str, Any] | None:
    folder = resources.files("govern").joinpath("workflows", "definitions")
    path = folder.joinpath(f"{name}.yaml")
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def applied_definition_data(session: Session) -> Mapping[str, Any]:
    """The definition data of the lifecycle the organisation applied (the shipped default when none was)."""
    row = session.get(Setting, LIFECYCLE_SETTING)
    current = row.value if row is not None and isinstance(row.value, Mapping) else {}
    data = current.get("definition")
    if isinstance(data, Mapping) and data.get("states"):
        return data
    return _shipped_definition(str(current.get("name") or "default")) or _shipped_definition("default") or {}


_catalogs: dict[str, StateCatalog] = {}


def _catalog_of(data: Mapping[str, Any]) -> StateCatalog:
    key = json.dumps(data, sort_keys=True, default=str)
    found = _catalogs.get(key)
    if found is None:
        found = _catalogs[key] = StateCatalog.from_definition(data)
        if len(_catalogs) > 64:
            _catalogs.pop(next(iter(_catalogs)))
    return found


def state_catalog(session: Session, lifecycle: str | None = None) -> StateCatalog:
    """The states of the applied lifecycle, or of the named one when an opportunity lives in another (one read)."""
    applied = applied_definition_data(session)
    if lifecycle and lifecycle != applied.get("name"):
        other = _shipped_definition(lifecycle)
        if other is not None:
            return _catalog_of(other)
    return _catalog_of(applied)
