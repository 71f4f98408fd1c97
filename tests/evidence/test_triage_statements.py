"""The triage list, the themes view and the duplicate check read in a number of statements independent of the number
of insights (counted on the engine, for 10 and for 80 waiting insights)."""

from __future__ import annotations

import contextlib
import datetime as dt

import sqlalchemy as sa

from govern.model import Insight
from govern.queries.triage import likely_duplicates, themes_view, triage_count, triage_page

from tests.conftest import actor

WORDS = ["porting", "invoice", "roaming", "router", "refund", "activation", "outage", "contract"]


@contextlib.contextmanager
def counted(engine):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _add_waiting(example_db, n: int) -> None:
    with example_db.session_scope() as s:
        top = s.scalar(sa.select(sa.func.max(Insight.number))) or 0
        s.add_all(Insight(number=top + i + 1, text=f"{WORDS[i % 8]} problem number {i} for {WORDS[(i * 3) % 8]}",
                          source=f"Zendesk {i}", kind="ticket", observed_on=dt.date(2026, 11, 2))
                  for i in range(n))
        s.commit()


def _reads(example_db) -> list[int]:
    out = []
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        s.commit()
        for read in (lambda: triage_page(s, lotte, per_page=25), lambda: triage_count(s, lotte),
                     lambda: themes_view(s, lotte), lambda: likely_duplicates(s, "porting problem number 3")):
            s.expire_all()
            with counted(example_db.engine) as statements:
                read()
            out.append(len(statements))
            s.rollback()
    return out


def test_triage_and_themes_read_in_bounded_statements(example_db):
    _add_waiting(example_db, 10)
    few = _reads(example_db)
    _add_waiting(example_db, 70)
    many = _reads(example_db)
    assert many == few, (few, many)
    assert max(many) <= 10  # measured: triage page 8, count 4, themes 7, duplicates 2 (settings and journeys included)
