"""Shared lookups for services: actors, references by key, journey subtrees and organisation settings."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager

from govern.db import core_connection, dialect_insert
from govern.errors import InvalidInput, NotFound
from govern.model import (
    CouncilSeat, Insight, Journey, Kpi, NumberCounter, Opportunity, Person, Persona, Setting, Step,
    opportunity_journey, setting_row, utcnow,
)
from govern.queries.reference import reference
from govern.vocabulary import vocabulary_of
from govern.policy import ROLES, ROLES_SETTING, Actor, custom_roles_from

OPP_REF = re.compile(r"^(?:OPP-)?(\d+)$", re.IGNORECASE)
INS_REF = re.compile(r"^(?:INS-)?(\d+)$", re.IGNORECASE)


Seat = tuple[str, "int | None"]  # a council seat as (role, journey id or None for organisation-wide)


def load_actor(session: Session, person: Person | int | str, *, seats: Iterable[Seat] | None = None) -> Actor:
    """The roles a person (an object, or its id, handle or e-mail) holds and the journeys each scoped role covers (a
    seat's journey includes its subtree).

    `seats`: the person's council seats when the caller read them with the person (see `person_with_seats`); a person
    named by id, handle or e-mail is read with their seats in one statement, as plain values (no ORM object)."""
    if not isinstance(person, Person):
        found = person_with_seats(session, person, plain=True)
        if found is None:
            raise NotFound(f"unknown person '{person}'", {"person": person})
        person, seats = found
    return load_actors(session, [person], seats=None if seats is None else {person.id: list(seats)})[person.id]


@dataclass(frozen=True, slots=True)
class ActorPerson:
    """What deciding a person's rights reads of them: a plain row, for callers that need no ORM object."""
    id: int
    handle: str
    active: bool
    is_admin: bool


def person_with_seats(session: Session, ref: int | str, *, plain: bool = False
                      ) -> tuple[Person | ActorPerson, list[Seat]] | None:
    """The person named by `ref` (as `get_person` names them: an id, or a handle, else an e-mail address) with their
    council seats, in one statement: the seats come along through an outer join, oldest seat first. `plain`: the
    person as an ActorPerson (the columns rights depend on) rather than an ORM object. None when nobody matches."""
    # Plain values need no ORM object: read through the connection (see `core_connection`).
    execute = core_connection(session, autoflush=True).execute if plain else session.execute
    if isinstance(ref, int):
        rows = execute(_person_with_seats_query("id", plain), {"person_ref": ref}).all()
    else:
        rows = execute(_person_with_seats_query("handle", plain), {"person_ref": ref}).all()
        if not rows and "@" in ref:
            rows = execute(_person_with_seats_query("email", plain), {"person_ref": ref.lower()}).all()
    if not rows:
        return None
    person = ActorPerson(*rows[0][:4]) if plain else rows[0][0]
    return person, [(row[-2], row[-1]) for row in rows if row[-2] is not None]


@functools.lru_cache(maxsize=None)
def _person_with_seats_query(by: str, plain: bool) -> sa.Select:
    """The statement `person_with_seats` runs, built once per way of naming the person (it runs on every request)."""
    column = {"id": Person.id, "handle": Person.handle, "email": sa.func.lower(Person.email)}[by]
    person = (Person.id, Person.handle, Person.active, Person.is_admin) if plain else (Person,)
    return (sa.select(*person, CouncilSeat.role, CouncilSeat.journey_id)
            .outerjoin(CouncilSeat, CouncilSeat.person_id == Person.id)
            .where(column == sa.bindparam("person_ref", type_=sa.Integer if by == "id" else sa.String))
            .order_by(CouncilSeat.id))


def load_actors(session: Session, people: Sequence[Person | ActorPerson],
                seats: Mapping[int, list[Seat]] | None = None) -> dict[int, Actor]:
    """{person id: Actor} for many people at once, by the one rule (three statements whatever their number, two when
    the caller passes the people's `seats`, read with them):

    an inactive person is a viewer only; an admin flag adds `admin`; every council seat adds its role, scoped to the
    seat's journey and its subtree, or to every journey when the seat has none; owning journeys adds `owner`,
    scoped to those journeys."""
    ids = [p.id for p in people if p.active]
    # The hierarchy and the owners from the transaction's reference snapshot of the (small) journey table.
    ref = reference(session)
    owned: dict[int, set[int]] = {}
    active = set(ids)
    for journey in ref.journeys:
        if journey.owner_id in active:
            owned.setdefault(journey.owner_id, set()).add(journey.id)
    all_ids = {journey.id for journey in ref.journeys}
    held: dict[int, list[Seat]] = {}
    if seats is not None:
        held = {person_id: list(seats.get(person_id, ())) for person_id in ids}
    elif ids:
        for person_id, role, journey_id in session.execute(
                sa.select(CouncilSeat.person_id, CouncilSeat.role, CouncilSeat.journey_id)
                .where(CouncilSeat.person_id.in_(ids)).order_by(CouncilSeat.id)):
            held.setdefault(person_id, []).append((role, journey_id))
    subtrees: dict[int, set[int]] = {}
    custom = None
    words = vocabulary_of(session)
    out: dict[int, Actor] = {}
    for person in people:
        if not person.active:
            out[person.id] = Actor(person_id=person.id, handle=person.handle, roles=frozenset({"viewer"}))
            continue
        roles: set[str] = {"viewer"}
        scopes: dict[str, set[int]] = {}
        if person.is_admin:
            roles.add("admin")
        mine = held.get(person.id, [])
        for role, journey_id in mine:
            roles.add(role)
            if journey_id is not None:
                if journey_id not in subtrees:
                    subtrees[journey_id] = ref.subtree(journey_id)
                scopes.setdefault(role, set()).update(subtrees[journey_id])
        # A role held organisation-wide (no journey scope) reaches every journey.
        for role, journey_id in mine:
            if journey_id is None:
                scopes[role] = set(all_ids)
        if owned.get(person.id):
            roles.add("owner")
            scopes["owner"] = set(owned[person.id])
        grants: dict[str, dict] = {}
        if roles - set(ROLES):  # an organisation's own role: its permissions come from govern.yaml's `roles:`
            if custom is None:
                custom = custom_roles_from(get_setting(session, ROLES_SETTING))
            grants = {role: dict(custom[role].permissions) for role in roles if role in custom}
        out[person.id] = Actor(person_id=person.id, handle=person.handle, roles=frozenset(roles),
                               scopes={role: frozenset(ids) for role, ids in scopes.items()}, grants=grants,
                               words=words, seats=tuple(mine))
    return out


def journey_subtree_ids(session: Session, root_id: int) -> set[int]:
    """The journey and every journey below it, at any depth."""
    return reference(session).subtree(root_id)


def get_person(session: Session, ref: int | str) -> Person:
    if isinstance(ref, int):
        person = session.get(Person, ref)
    else:
        person = session.scalar(sa.select(Person).where(Person.handle == ref))
        if person is None and "@" in ref:
            person = session.scalar(sa.select(Person).where(sa.func.lower(Person.email) == ref.lower()))
    if person is None:
        raise NotFound(f"unknown person '{ref}'", {"person": ref})
    return person


def get_journey(session: Session, ref: int | str) -> Journey:
    journey = session.get(Journey, ref) if isinstance(ref, int) else session.scalar(
        sa.select(Journey).where(Journey.key == ref))
    if journey is None:
        raise NotFound(f"unknown journey '{ref}'", {"journey": ref})
    return journey


def get_step(session: Session, ref: int | str) -> Step:
    """A step by id or by 'journey-key/step-key'."""
    if isinstance(ref, int):
        step = session.get(Step, ref)
    else:
        journey_key, _, step_key = str(ref).partition("/")
        if not step_key:
            raise InvalidInput(f"a step is named 'journey/step', got '{ref}'", {"step": ref})
        step = session.scalar(
            sa.select(Step).join(Journey, Step.journey_id == Journey.id)
            .where(Journey.key == journey_key, Step.key == step_key))
    if step is None:
        raise NotFound(f"unknown step '{ref}'", {"step": ref})
    return step


def get_steps(session: Session, refs: list[str]) -> list[Step]:
    """Steps by 'journey-key/step-key', in the order given (duplicates dropped), with their journeys: one statement."""
    refs = list(dict.fromkeys(refs))
    pairs = []
    for ref in refs:
        journey_key, _, step_key = str(ref).partition("/")
        if not step_key:
            raise InvalidInput(f"a step is named 'journey/step', got '{ref}'", {"step": ref})
        pairs.append((journey_key, step_key))
    if not pairs:
        return []
    found = {(s.journey.key, s.key): s for s in session.scalars(
        sa.select(Step).join(Journey, Step.journey_id == Journey.id).options(contains_eager(Step.journey))
        .where(sa.tuple_(Journey.key, Step.key).in_(pairs)))}
    for ref, pair in zip(refs, pairs):
        if pair not in found:
            raise NotFound(f"unknown step '{ref}'", {"step": ref})
    return [found[pair] for pair in pairs]


def get_opportunity(session: Session, ref: int | str, *, for_update: bool = False,
                    with_journeys: bool = False, load: Sequence[Any] = ()) -> Opportunity:
    """An opportunity by id, by key (OPP-12), or by number ("12"); `with_journeys` reads its journeys in the same
    statement (for use cases that need them: permissions are scoped by journey); `load` adds loader options (a page
    that shows related rows reads them with it, e.g. `queries.opportunity.opportunity_page_loads()`)."""
    if isinstance(ref, int):
        value = ref
    else:
        match = OPP_REF.match(str(ref).strip())
        if not match:
            raise NotFound(f"unknown opportunity '{ref}' (use its key, e.g. OPP-12)", {"opportunity": ref})
        value = int(match.group(1))
    query = _opportunity_query(isinstance(ref, int), for_update, with_journeys)
    if load:
        query = query.options(*load)
    opp = session.scalars(query, {"opportunity_ref": value}).unique().first()
    if opp is None:
        raise NotFound(f"unknown opportunity '{ref}'", {"opportunity": ref})
    return opp


@functools.lru_cache(maxsize=None)
def _opportunity_query(by_id: bool, for_update: bool, with_journeys: bool) -> sa.Select:
    """The statement `get_opportunity` runs, built once (use cases run it on every call). The journeys are joined as
    a plain chain of outer joins (opportunity, link, journey), not as `joinedload` writes a many-to-many (an outer
    join to a nested inner join), which SQLite runs by materialising the join of every link with its journey: a
    read of the whole link table on every call."""
    column = Opportunity.id if by_id else Opportunity.number
    query = sa.select(Opportunity).where(column == sa.bindparam("opportunity_ref", type_=sa.Integer))
    if for_update:
        query = query.with_for_update(of=Opportunity)
    if with_journeys:
        query = (query.outerjoin(opportunity_journey, opportunity_journey.c.opportunity_id == Opportunity.id)
                 .outerjoin(Journey, Journey.id == opportunity_journey.c.journey_id)
                 .options(contains_eager(Opportunity.journeys)).order_by(Journey.id))
    return query


def get_insight(session: Session, ref: int | str) -> Insight:
    if isinstance(ref, int):
        insight = session.get(Insight, ref)
    else:
        match = INS_REF.match(str(ref).strip())
        insight = session.scalar(sa.select(Insight).where(Insight.number == int(match.group(1)))) if match else None
    if insight is None:
        raise NotFound(f"unknown insight '{ref}' (use its key, e.g. INS-3)", {"insight": ref})
    return insight


def get_kpi(session: Session, ref: int | str) -> Kpi:
    kpi = session.get(Kpi, ref) if isinstance(ref, int) else session.scalar(sa.select(Kpi).where(Kpi.key == ref))
    if kpi is None:
        raise NotFound(f"unknown KPI '{ref}'", {"kpi": ref})
    return kpi


def get_persona(session: Session, ref: int | str) -> Persona:
    persona = session.get(Persona, ref) if isinstance(ref, int) else session.scalar(
        sa.select(Persona).where(Persona.key == ref))
    if persona is None:
        raise NotFound(f"unknown persona '{ref}'", {"persona": ref})
    return persona


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    row = setting_row(session, key)
    return default if row is None or row.value is None else row.value


def put_setting(session: Session, key: str, value: Any) -> None:
    """Write a setting inside the caller's transaction (no commit)."""
    row = setting_row(session, key)
    if row is None:
        row = Setting(key=key, value=value, updated_at=utcnow())
        session.add(row)
        session.info["settings"][1][key] = row
    else:
        row.value = value


def next_number(session: Session, column) -> int:
    """One number (see :func:`next_numbers`)."""
    return next_numbers(session, column, 1).start


def next_numbers(session: Session, column, count: int) -> range:
    """`count` consecutive numbers for a numbered kind, taken by one statement (a bulk import's block)."""
    return _take_numbers(session, column, max(1, int(count)))


def _take_numbers(session: Session, column, count: int) -> range:
    """The next number for a numbered kind (`Insight.number`, `Opportunity.number`), from its counter row.

    One UPDATE … RETURNING: the row stays locked until the caller's transaction ends, so concurrent writers on
    PostgreSQL queue for it and never get the same number (SQLite writers are serialised already). The counter only
    grows, so a deleted row's number is never handed out again; it also never falls behind the numbers in the table
    (rows written without the counter, e.g. an import), as it takes the larger of the two."""
    column = column.property.columns[0] if hasattr(column, "property") else column
    kind = column.table.name
    counter = NumberCounter.__table__
    greatest = sa.func.greatest if session.get_bind().dialect.name == "postgresql" else sa.func.max
    taken = sa.func.coalesce(sa.select(sa.func.max(column)).scalar_subquery(), 0)
    bump = (counter.update().where(counter.c.kind == kind)
            .values(last=greatest(counter.c.last, taken) + count).returning(counter.c.last))
    last = session.execute(bump).scalar()
    if last is None:  # the first number of this kind in this database (or its counters were emptied)
        session.execute(dialect_insert(session, counter).values(kind=kind, last=0)
                        .on_conflict_do_nothing(index_elements=["kind"]))
        last = session.execute(bump).scalar()
    return range(last - count + 1, last + 1)


def require_text(value: Any, field: str, *, max_len: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} is required", {field: "required"})
    value = value.strip()
    if max_len and len(value) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters", {field: f"at most {max_len} characters"})
    return value

