"""Scores computed inside the database query, so that ranking a large portfolio returns only the page shown.

Only for models with a positional form (RICE, ICE, WSJF: :meth:`ScoringModel.positional`). Their arithmetic is still
written once, in the kind's class: the same function is applied to SQL expressions instead of numbers (:class:`Sql`).
Evidence strength follows :func:`evidence_strength_of` operation by operation (the same double arithmetic in the same
order, and Python's rounding of halves to even), so a score computed here is the very float the Python path computes;
tests compare the two over every combination of evidence counts and ages, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import sqlalchemy as sa

from govern.scoring.evidence import FRESH_DAYS, STALE_DAYS


def _float(value: Any) -> sa.ColumnElement:
    if isinstance(value, Sql):
        return value.sql
    if isinstance(value, (int, float)):
        return sa.literal(float(value), sa.Float)
    if isinstance(getattr(value, "type", None), sa.Float):
        return value
    return sa.cast(value, sa.Float)


def _divisor(value: Any) -> sa.ColumnElement:
    # Python scores a division by zero as None (ZeroDivisionError); SQLite gives NULL, PostgreSQL would raise.
    return _float(value) if isinstance(value, (int, float)) and value else sa.func.nullif(_float(value), 0.0)


class Sql:
    """A floating-point SQL expression that a model's formula computes with as if it were a number (+ − × ÷); NULL
    (a missing input) propagates to a NULL score, as a missing input gives no score in Python."""

    __slots__ = ("sql",)

    def __init__(self, sql: Any):
        self.sql = _float(sql)

    def __add__(self, other): return Sql(self.sql + _float(other))
    def __radd__(self, other): return Sql(_float(other) + self.sql)
    def __sub__(self, other): return Sql(self.sql - _float(other))
    def __rsub__(self, other): return Sql(_float(other) - self.sql)
    def __mul__(self, other): return Sql(self.sql * _float(other))
    def __rmul__(self, other): return Sql(_float(other) * self.sql)
    def __truediv__(self, other): return Sql(self.sql / _divisor(other))
    def __rtruediv__(self, other): return Sql(_float(other) / _divisor(self))


def _capped(count: sa.ColumnElement, cap: int) -> sa.ColumnElement:
    """min(count, cap) as a double."""
    return sa.case((count < cap, sa.cast(count, sa.Float)), else_=sa.literal(float(cap), sa.Float))


def _days_since(newest: sa.ColumnElement, today: dt.date, dialect: str) -> sa.ColumnElement:
    if dialect == "sqlite":  # dates are ISO text; julianday differences of two dates are whole days
        return sa.func.julianday(sa.literal(today.isoformat())) - sa.func.julianday(newest)
    return sa.cast(sa.literal(today, sa.Date) - newest, sa.Float)


def _round_tenths(value: sa.ColumnElement, dialect: str) -> sa.ColumnElement:
    """Python's round(value, 1) for the values evidence strength takes: halves to even. Strength is a sum of multiples
    of 1/8 and of 20 × (365 − age)/335, so a value is either an exact tie (x.x5 in binary) or far from one; scaling by
    ten cannot move it across a tie. `value` should be a column (it is referenced several times)."""
    up = value * 10.0 + 0.5
    whole = sa.cast(up, sa.Integer) if dialect == "sqlite" else sa.func.floor(up)  # up ≥ 0: truncation is floor
    odd_tie = sa.and_(sa.cast(whole, sa.Float) == up, sa.cast(whole, sa.Integer) % 2 == 1)  # x.5 went up to odd
    return sa.case((odd_tie, sa.cast(whole, sa.Float) - 1.0), else_=sa.cast(whole, sa.Float)) / 10.0


def unrounded_strength_sql(insights: sa.ColumnElement, journeys: sa.ColumnElement, sources: sa.ColumnElement,
                           newest: sa.ColumnElement, today: dt.date, dialect: str,
                           weighted: sa.ColumnElement | None = None) -> sa.ColumnElement:
    """:func:`evidence_strength_of` before rounding, over the evidence summary's counts (never NULL: no summary row,
    or no insight, is 0); `weighted` is the volume-weighted count (None: `insights`)."""
    since = _days_since(newest, today, dialect)
    recency = sa.case(
        (newest.is_(None), 0.0),
        (newest >= today - dt.timedelta(days=FRESH_DAYS), 20.0),
        (newest <= today - dt.timedelta(days=STALE_DAYS), 0.0),
        else_=20.0 * ((float(STALE_DAYS) - since) / float(STALE_DAYS - FRESH_DAYS)),
    )
    total = (35.0 * _capped(insights if weighted is None else weighted, 8) / 8.0 + 10.0 * _capped(journeys, 3) + 3.75 * _capped(sources, 4)
             + recency)
    return sa.case((sa.func.coalesce(insights, 0) <= 0, 0.0), else_=total)


def _fenced(query: sa.Select, name: str) -> sa.Subquery:
    """A subquery each row of which is computed once: OFFSET 0 keeps SQLite and PostgreSQL from copying its
    expressions into every place the outer query names them (a derived column read three times would be computed
    three times)."""
    return query.offset(0).subquery(name)


def scored_query(rows: sa.Select, *, today: dt.date, dialect: str, formula: Callable[..., Any],
                 evidence_weight: float, inputs: list[str], keep: list[str] | None = None
                 ) -> tuple[sa.Select, sa.ColumnElement]:
    """`rows` (columns: insights, journeys, sources, newest, optionally weighted, the model's recorded inputs named in `inputs`, and any
    others) with evidence strength and the score added; returns (query, score label). The query's columns: those
    named in `keep` (default: all of `rows`), then strength and score."""
    evidence = _fenced(rows, "evidence")
    kept = list(evidence.c)
    total = unrounded_strength_sql(evidence.c.insights, evidence.c.journeys, evidence.c.sources, evidence.c.newest,
                                   today, dialect, evidence.c.weighted if "weighted" in evidence.c else None)
    unrounded = _fenced(sa.select(*kept, total.label("unrounded")), "unrounded")
    strength = _round_tenths(unrounded.c.unrounded, dialect).label("strength")
    rounded = _fenced(sa.select(*[c for c in unrounded.c if c.name != "unrounded"], strength), "strength")
    score = score_sql(formula, [rounded.c[n] for n in inputs], rounded.c.strength, evidence_weight).label("score")
    kept = list(rounded.c) if keep is None else [rounded.c[name] for name in keep] + [rounded.c.strength]
    return sa.select(*kept, score), score


def score_sql(formula: Callable[..., Any], inputs: list[sa.ColumnElement], strength: sa.ColumnElement,
              evidence_weight: float) -> sa.ColumnElement:
    """The model's score as a SQL expression: its positional formula × (1 + w × evidence strength ÷ 100), as
    :meth:`ScoringModel.fast` computes it (NULL: an input is missing, or a division by zero)."""
    base = formula(*[Sql(column) for column in inputs])
    factor = 1.0 + float(evidence_weight) * Sql(strength) / 100.0
    return (base * factor).sql
