"""One page of a list together with the number of rows in the whole list, in one statement.

The total rides along as a column of the page's own statement: an uncorrelated scalar subquery counting the list,
which the database evaluates once (PostgreSQL as an InitPlan, SQLite as a once-only subroutine). That is cheaper than
`count(*) OVER ()`, which would make the database build every row of the list before sorting out the page, and it
keeps the page's ORDER BY … LIMIT free to walk an index. Only a page past the end, which has no row to carry the
total, costs a second statement.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

# Far past the end of any list (and past what a database offset holds): such a page is empty without asking.
MAX_OFFSET = 2**31 - 1


class PagedRead(Protocol):
    """A list that reads its own pages (when a page is more than the rows of one select, e.g. with related keys)."""

    def page(self, session: Session, offset: int, limit: int) -> tuple[list[Any], int]: ...


def count_of(session: Session, query: sa.Select) -> int:
    return session.scalar(_counting(query)) or 0


def _counting(query: sa.Select) -> sa.Select:
    return sa.select(sa.func.count()).select_from(query.order_by(None).subquery())


def rows_with_total(session: Session, query: sa.Select, offset: int, limit: int) -> tuple[list[sa.Row], int]:
    """The rows of `query` from `offset` (at most `limit`) and how many rows `query` has in all."""
    if offset > MAX_OFFSET:
        return [], count_of(session, query)
    total = _counting(query).scalar_subquery().label("list_total")
    rows = session.execute(query.add_columns(total).offset(offset).limit(limit)).all()
    if rows:
        return [row[:-1] for row in rows], rows[0][-1]
    return [], 0 if offset == 0 else count_of(session, query)


def rows_with_extras(session: Session, entity: Any, clauses: Sequence[Any], order: Sequence[Any], offset: int,
                     limit: int, *, extras: Sequence[Any], options: Sequence[Any] = ()) -> tuple[list[sa.Row], int]:
    """Rows of (entity, *extras) under `clauses` in `order` from `offset` (at most `limit`), and the total, in one
    statement. `extras` are per-row columns correlated to the entity (e.g. the keys of its related rows).

    The page's ids are chosen first, by a subquery sorted and cut to the page, and the outer query computes the
    extras for those rows only: with them in the one sorted query, a database sorting without an index (SQLite)
    would compute them for every row of the list before keeping the page. `order` must end in a unique key, so that
    sorting the page again gives the same order."""
    listed = sa.select(entity.id).where(*clauses)
    if offset > MAX_OFFSET:
        return [], count_of(session, listed)
    page = listed.order_by(*order).offset(offset).limit(limit).subquery("page")
    total = _counting(listed).scalar_subquery().label("list_total")
    # From the page to the entity (the page drives the join: a planner starting from the entity's table would walk it).
    rows = session.execute(sa.select(entity, *extras, total).select_from(page).join(entity, entity.id == page.c.id)
                           .order_by(*order).options(*options)).all()
    if rows:
        return [row[:-1] for row in rows], rows[0][-1]
    return [], 0 if offset == 0 else count_of(session, listed)


def page_with_total(session: Session, query: sa.Select, offset: int, limit: int) -> tuple[list[Any], int]:
    """Like `rows_with_total` for a select of one entity (or column): its objects, and the total."""
    rows, total = rows_with_total(session, query, offset, limit)
    return [row[0] for row in rows], total
