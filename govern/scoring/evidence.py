"""Evidence strength: how well an opportunity is backed by the insights linked to it (0-100)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from govern.model import VOLUME_WEIGHT_RULE, volume_weight

# Evidence strength, 0-100, is the weighted sum of four parts, each saturating at a point past which more of the same
# adds nothing (so a pile of quotes from one journey cannot outrank broad, fresh, varied support):
#   volume     35 × min(weighted insights, 8) / 8      (each insight weighted by its volume: VOLUME_WEIGHT_RULE,
#                                                      1 + floor(log10 volume), at most 4; a quote or a hand-typed
#                                                      insight weighs 1)
#   breadth    30 × min(journeys the insights are attached to, 3) / 3
#   diversity  15 × min(distinct sources, 4) / 4          (source compared case-insensitively, trimmed)
#   recency    20 × freshness of the newest insight: 1 when at most 30 days old, falling linearly to 0 at 365 days
# Merged duplicates count nowhere. No evidence at all is 0. The result is rounded to one decimal.
EVIDENCE_PARTS = {
    "volume": (35.0, 8),
    "breadth": (30.0, 3),
    "diversity": (15.0, 4),
    "recency": (20.0, None),
}
FRESH_DAYS, STALE_DAYS = 30, 365
EVIDENCE_RULE = (
    "evidence strength (0-100) = 35 × min(weighted insights, 8)/8 + 30 × min(journeys, 3)/3 "
    "+ 15 × min(distinct sources, 4)/4 + 20 × freshness of the newest insight (1 up to 30 days old, 0 from 365 days, "
    f"linear between); {VOLUME_WEIGHT_RULE}; merged duplicates count nowhere"
)


@dataclass(frozen=True)
class EvidenceSignals:
    """What backs an opportunity: counts over its linked insights."""

    insights: int = 0
    journeys: int = 0
    sources: int = 0
    newest: dt.date | None = None
    # The insights weighted by their volume (None: as many as `insights`, each standing for one record).
    weighted: int | None = None

    @property
    def weight(self) -> int:
        return self.insights if self.weighted is None else self.weighted

    def age_days(self, today: dt.date) -> int | None:
        return None if self.newest is None else max(0, (today - self.newest).days)


def freshness(age_days: int | None) -> float:
    """1 up to FRESH_DAYS old, 0 from STALE_DAYS, linear between; 0 without evidence."""
    if age_days is None:
        return 0.0
    if age_days <= FRESH_DAYS:
        return 1.0
    if age_days >= STALE_DAYS:
        return 0.0
    return (STALE_DAYS - age_days) / (STALE_DAYS - FRESH_DAYS)


def evidence_strength_of(insights: int, journeys: int, sources: int, age_days: int | None,
                         weighted: int | None = None) -> float:
    """Evidence strength from the bare counts (the fast path used when ranking a whole portfolio); `weighted` is the
    volume-weighted insight count (None: `insights`)."""
    if insights <= 0:
        return 0.0
    weight = insights if weighted is None else weighted
    return round(35.0 * min(weight, 8) / 8 + 10.0 * min(journeys, 3) + 3.75 * min(sources, 4)
                 + 20.0 * freshness(age_days), 1)


def evidence_parts(signals: EvidenceSignals, today: dt.date) -> dict[str, float]:
    """The four parts of evidence strength, in points."""
    if signals.insights <= 0:
        return {name: 0.0 for name in EVIDENCE_PARTS}
    return {
        "volume": 35.0 * min(signals.weight, 8) / 8,
        "breadth": 30.0 * min(signals.journeys, 3) / 3,
        "diversity": 15.0 * min(signals.sources, 4) / 4,
        "recency": 20.0 * freshness(signals.age_days(today)),
    }


def evidence_strength(signals: EvidenceSignals, today: dt.date) -> float:
    """0-100 by the documented rule (EVIDENCE_RULE)."""
    return round(sum(evidence_parts(signals, today).values()), 1)


__all__ = ["EVIDENCE_PARTS", "EVIDENCE_RULE", "FRESH_DAYS", "STALE_DAYS", "EvidenceSignals", "computed_inputs",
           "evidence_parts", "evidence_strength", "evidence_strength_of", "freshness", "volume_weight"]


def computed_inputs(signals: EvidenceSignals, today: dt.date) -> dict[str, float]:
    age = signals.age_days(today)
    return {
        "evidence_strength": evidence_strength(signals, today),
        "evidence_count": float(signals.insights),
        "evidence_journeys": float(signals.journeys),
        "evidence_sources": float(signals.sources),
        "evidence_age_days": float(age) if age is not None else float(STALE_DAYS),
    }


