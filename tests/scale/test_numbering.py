"""Keys (INS-n, OPP-n) come from a per-kind counter: unique under concurrent writers, never reused after a delete."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
import sqlalchemy as sa

from govern.bootstrap import bootstrap
from govern.db import Database
from govern.model import Insight, Opportunity
from govern.policy import Actor
from govern.services.evidence import delete_evidence, record_evidence
from govern.services.opportunities import create_opportunity

PROCESSES, EACH = 16, 50


def _record(session, operator, text="Porting took 9 days"):
    return record_evidence(session, operator, text=text, source="tickets", kind="ticket",
                           steps=["switching-providers/port-number"])


def test_deleted_insight_number_is_never_handed_out_again(example_db, operator):
    with example_db.session_scope() as s:
        newest = _record(s, operator)
        deleted_key = newest.key
        delete_evidence(s, operator, deleted_key, reason="recorded twice")
        again = _record(s, operator, "Porting took 10 days")
        assert again.number == newest.number + 1
        assert again.key != deleted_key


def test_numbers_continue_after_rows_written_without_the_counter(example_db, operator):
    """An import (or any writer that sets numbers itself) cannot make the counter hand out a number in use."""
    with example_db.session_scope() as s:
        highest = s.scalar(sa.select(sa.func.max(Opportunity.number)))
        s.add(Opportunity(number=highest + 5, title="How might we import this?", state="research"))
        s.commit()
        created = create_opportunity(s, operator, title="How might we number this?", journeys=["switching-providers"])
        assert created.number == highest + 6


def _create_many(url: str, start, results) -> None:
    """One process: EACH insights and EACH opportunities, one transaction each, counting every failure."""
    db = bootstrap(Database(url))
    operator = Actor.system_actor(f"proc-{multiprocessing.current_process().pid}")
    made, errors = [], []
    start.wait()
    for n in range(EACH):
        for kind in ("insight", "opportunity"):
            try:
                with db.session_scope() as s:
                    if kind == "insight":
                        made.append(("insight", _record(s, operator, f"insight {n}").number))
                    else:
                        made.append(("opportunity", create_opportunity(
                            s, operator, title=f"How might we {n}?", journeys=["switching-providers"]).number))
            except Exception as exc:  # every failure is a finding, whatever its kind
                errors.append(f"{kind}: {exc!r}"[:300])
    db.dispose()
    results.put((made, errors))


@pytest.mark.postgres
def test_sixteen_processes_creating_at_once_get_unique_numbers(example_db):
    with example_db.session_scope() as s:
        before = {"insight": s.scalar(sa.select(sa.func.max(Insight.number))),
                  "opportunity": s.scalar(sa.select(sa.func.max(Opportunity.number)))}
    example_db.dispose()  # no pooled connection crosses the fork
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(PROCESSES), context.Queue()
    procs = [context.Process(target=_create_many, args=(example_db.url, start, results)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    made = [m for ms, _ in outcomes for m in ms]
    errors = [e for _, es in outcomes for e in es]
    assert errors == []
    assert len(made) == PROCESSES * EACH * 2
    duplicates = [key for key, n in Counter(made).items() if n > 1]
    assert duplicates == []
    for kind in ("insight", "opportunity"):
        numbers = sorted(n for k, n in made if k == kind)
        assert numbers[0] > before[kind], f"a {kind} number in use before was handed out again"
        assert numbers == list(range(before[kind] + 1, before[kind] + 1 + PROCESSES * EACH))
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Insight).where(
            Insight.number > before["insight"])) == PROCESSES * EACH
