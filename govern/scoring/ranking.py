"""Ranking scores: best first, comparable across models (each rescaled among the entries of its own model)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from govern.scoring.models import Score



@dataclass
class Ranked:
    """One opportunity's place in a ranking; `relative` is its score rescaled 0-100 among rows of the same model."""

    key: Any
    model: str
    value: float | None
    relative: float | None = None
    rank: int | None = None


def rank(entries: Iterable[tuple[Any, str, float | None, tuple]], limit: int | None = None) -> list[Ranked]:
    """Order (key, model name, score or None, tie-break tuple) entries best first; the first `limit` when given.

    Scores from different models are not comparable, so each score is first rescaled to 0-100 among the entries of its
    own model (min-max; a lone entry or all-equal entries read 100); with one model this keeps the raw order. Ties are
    broken by the raw score, then by the tie-break tuple (e.g. (−evidence strength, opportunity number)), then by the
    order the entries came in. Entries without a score (missing inputs) come last, unranked, in tie-break order.
    """
    entries = entries if isinstance(entries, list) else list(entries)
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for _, model, value, _ in entries:
        if value is not None:
            if value < lows.get(model, math.inf):
                lows[model] = value
            if value > highs.get(model, -math.inf):
                highs[model] = value
    spans = {m: (lows[m], highs[m] - lows[m]) for m in lows}

    def relative(model: str, value: float) -> float:
        lo, span = spans[model]
        return 100.0 if span == 0 else 100.0 * (value - lo) / span

    if len(spans) <= 1:  # one model: the relative score follows the raw score, so sort on the raw score alone
        def order(entry):
            value = entry[2]
            return (1, 0.0, entry[3]) if value is None else (0, -value, entry[3])
    else:
        def order(entry):
            value = entry[2]
            if value is None:
                return (1, 0.0, 0.0, entry[3])
            lo, span = spans[entry[1]]
            return (0, -100.0 if span == 0 else -100.0 * (value - lo) / span, -value, entry[3])

    ordered = sorted(entries, key=order)
    if limit is not None:
        ordered = ordered[:max(0, int(limit))]
    return [Ranked(key, model, value, None if value is None else relative(model, value),
                   None if value is None else position)
            for position, (key, model, value, _) in enumerate(ordered, start=1)]


def rank_scores(scored: Mapping[Any, Score], tie_break: Mapping[Any, tuple] | None = None) -> list[Ranked]:
    """:func:`rank` over computed Score objects."""
    tie_break = tie_break or {}
    try:
        items = sorted(scored.items(), key=lambda kv: kv[0])  # equal rows fall back to key order
    except TypeError:
        items = list(scored.items())
    return rank([(key, s.model, s.value, tuple(tie_break.get(key, ()))) for key, s in items])
