"""The reference tables (journeys, people, personas) are read once per transaction, whoever asks, and never stale
within the transaction that changed them."""

from __future__ import annotations

import sqlalchemy as sa

from govern.db import StatementCounter
from govern.model import Journey, Person
from govern.queries.reference import reference
from govern.services.common import load_actor, load_actors


def test_actors_and_journey_names_read_the_journey_table_once_per_transaction(example_db):
    with example_db.session_scope() as s:
        people = s.scalars(sa.select(Person).order_by(Person.id)).all()
        with StatementCounter(example_db.engine) as counter:
            load_actors(s, people[:2])
            load_actors(s, people[2:])
            names = [j.name for j in reference(s).journeys]
        journey_reads = [q for q in counter.statements if "FROM journey" in q]
        assert len(journey_reads) == 1
        assert len(names) == s.scalar(sa.select(sa.func.count()).select_from(Journey))


def test_a_journey_renamed_in_the_transaction_is_read_with_its_new_name(example_db):
    with example_db.session_scope() as s:
        journey = s.scalars(sa.select(Journey).order_by(Journey.id)).first()
        assert reference(s).journey(journey.id).name == journey.name
        journey.name = "Renamed in this transaction"
        s.flush()
        assert reference(s).journey(journey.id).name == "Renamed in this transaction"


def test_a_new_owner_gets_the_owner_role_in_the_same_transaction(example_db):
    with example_db.session_scope() as s:
        person = s.scalars(sa.select(Person).where(Person.active.is_(True)).order_by(Person.id)).first()
        journey = s.scalars(sa.select(Journey).where(Journey.owner_id != person.id).order_by(Journey.id)).first()
        before = load_actor(s, person)
        assert journey.id not in before.scopes.get("owner", frozenset())
        s.execute(sa.update(Journey).where(Journey.id == journey.id).values(owner_id=person.id))
        after = load_actor(s, person)
        assert journey.id in after.scopes["owner"]


def test_the_snapshot_ends_with_the_transaction(example_db):
    with example_db.session_scope() as s:
        first = reference(s)
        first.journeys
        s.commit()
        assert reference(s) is not first
        s.rollback()
