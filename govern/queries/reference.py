"""The organisation's small reference tables (journeys, people, personas), read at most once per transaction.

Almost every page and use case needs some of them: the actor's scopes need the journey tree, the board names owners
and journeys on its cards and offers them as filters, scoring needs each journey's model. Read by each caller, they
cost a statement per caller and grow a page's statement count with every feature; read here, each table costs one
statement per transaction, whoever asks.

The rows are plain frozen values, not ORM objects, so nothing can change them by accident. A snapshot lives as long as
the transaction it was read in (it is dropped when any transaction of the session ends), and is dropped as soon as the session writes to one of
these tables (a flush of such an object, or an UPDATE/DELETE statement), so a use case never reads its own stale copy.
Only the tables asked for are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.db import core_connection
from govern.model import CouncilSeat, Journey, Person, Persona

_KEY = "govern.reference"
_TABLES = (Journey, Person, Persona, CouncilSeat)


@dataclass(frozen=True, slots=True)
class JourneyRef:
    id: int
    key: str
    name: str
    level: str
    parent_id: int | None
    owner_id: int | None
    scoring_model: str | None
    position: int
    parent_step_id: int | None  # the parent's step this journey details (a micro journey), if any


@dataclass(frozen=True, slots=True)
class PersonRef:
    id: int
    handle: str
    name: str
    active: bool


@dataclass(frozen=True, slots=True)
class PersonaRef:
    id: int
    key: str
    name: str


# Built once: read in most transactions (the actor's scopes need the journey tree).
_JOURNEYS = sa.select(Journey.id, Journey.key, Journey.name, Journey.level, Journey.parent_id, Journey.owner_id,
                      Journey.scoring_model, Journey.position, Journey.parent_step_id
                      ).order_by(Journey.position, Journey.name, Journey.id)


class Reference:
    """One transaction's view of the reference tables; each table is read on first use."""

    def __init__(self, session: Session):
        self._session = session
        self._journeys: tuple[JourneyRef, ...] | None = None
        self._people: tuple[PersonRef, ...] | None = None
        self._personas: tuple[PersonaRef, ...] | None = None
        self._children: dict[int | None, list[int]] | None = None
        self._journey_by_id: dict[int, JourneyRef] | None = None
        self._person_by_id: dict[int, PersonRef] | None = None

    # --- journeys ---------------------------------------------------------------------------------------------------

    @property
    def journeys(self) -> tuple[JourneyRef, ...]:
        """Every journey, in the order of the journey tree's siblings (position, then name)."""
        if self._journeys is None:
            rows = core_connection(self._session, autoflush=True).execute(_JOURNEYS)
            self._journeys = tuple(JourneyRef(*row) for row in rows)
        return self._journeys

    def journey(self, journey_id: int | None) -> JourneyRef | None:
        if self._journey_by_id is None:
            self._journey_by_id = {j.id: j for j in self.journeys}
        return self._journey_by_id.get(journey_id) if journey_id is not None else None

    def journeys_by_name(self) -> list[JourneyRef]:
        return sorted(self.journeys, key=lambda j: (j.name.lower(), j.id))

    def children(self) -> dict[int | None, list[int]]:
        """{parent id (None for the roots): child journey ids}."""
        if self._children is None:
            children: dict[int | None, list[int]] = {}
            for j in self.journeys:
                children.setdefault(j.parent_id, []).append(j.id)
            self._children = children
        return self._children

    def subtree(self, root_id: int) -> set[int]:
        """The journey and every journey below it, at any depth."""
        children, seen, todo = self.children(), set(), [root_id]
        while todo:
            jid = todo.pop()
            if jid not in seen:
                seen.add(jid)
                todo.extend(children.get(jid, ()))
        return seen

    # --- people and personas ------------------------------------------------------------------------------------------

    @property
    def people(self) -> tuple[PersonRef, ...]:
        """Everyone, active or not, by name."""
        if self._people is None:
            rows = self._session.execute(sa.select(Person.id, Person.handle, Person.name, Person.active)
                                         .order_by(Person.name, Person.id))
            self._people = tuple(PersonRef(*row) for row in rows)
        return self._people

    def person(self, person_id: int | None) -> PersonRef | None:
        if self._person_by_id is None:
            self._person_by_id = {p.id: p for p in self.people}
        return self._person_by_id.get(person_id) if person_id is not None else None

    def active_people(self) -> list[PersonRef]:
        return [p for p in self.people if p.active]

    @property
    def personas(self) -> tuple[PersonaRef, ...]:
        if self._personas is None:
            rows = self._session.execute(sa.select(Persona.id, Persona.key, Persona.name)
                                         .order_by(Persona.name, Persona.id))
            self._personas = tuple(PersonaRef(*row) for row in rows)
        return self._personas


def reference(session: Session) -> Reference:
    """This transaction's reference snapshot (each table is read when first asked for)."""
    snapshot = session.info.get(_KEY)
    if snapshot is None:
        if _after_transaction_end not in list(session.dispatch.after_transaction_end):
            raise RuntimeError("this session's database was not bootstrapped: call govern.bootstrap.bootstrap(db) "
                               "at start-up (the reference snapshot would never be refreshed)")
        snapshot = session.info[_KEY] = Reference(session)
    return snapshot


def forget(session: Session) -> None:
    """Drop the snapshot (the session changed a reference table)."""
    session.info.pop(_KEY, None)


def _touches_reference(objects: Iterable[Any]) -> bool:
    return any(isinstance(o, _TABLES) for o in objects)


def _after_flush(session: Session, _context) -> None:
    if _KEY in session.info and (_touches_reference(session.new) or _touches_reference(session.dirty)
                                 or _touches_reference(session.deleted)):
        forget(session)


_TABLE_NAMES = frozenset(t.__tablename__ for t in _TABLES)


def _on_execute(state) -> None:
    # A bulk UPDATE/DELETE/INSERT through the session on one of these tables changes what the snapshot holds.
    if (state.is_update or state.is_delete or state.is_insert) and _KEY in state.session.info:
        table = getattr(state.statement, "table", None)
        if table is None or getattr(table, "name", None) in _TABLE_NAMES:
            forget(state.session)


def _after_transaction_end(session: Session, _transaction) -> None:
    forget(session)


# (session event, listener): what drops the snapshot when its tables change or the transaction ends; registered on a
# Database's sessions by govern.bootstrap, never at import.
SESSION_HOOKS = (("after_flush", _after_flush), ("after_transaction_end", _after_transaction_end),
                 ("do_orm_execute", _on_execute))
