"""The maturity reading: the organisation's stage 1-5, computed from its data, and the signals that hold it back.

Signals (each a share from 0 to 1; "no data" when there is nothing to count):

- ``ownership``         journeys with an owner ÷ journeys
- ``evidence``          open opportunities with at least one insight ÷ open opportunities (in a state of kind active
                        or evaluation: not parked, not final)
- ``cross_journey``     open opportunities whose evidence comes from two or more journeys ÷ open opportunities
- ``kpis_measured``     fresh KPIs with a measurement in the last 90 days ÷ KPIs (a KPI older than its cadence is
                        stale and does not count: govern.queries.freshness)
- ``rituals_on_time``   ritual occurrences due in the last 90 days that were held ÷ those due
- ``backlog_linkage``   solutions linked to a backlog item (a Jira key) ÷ solutions

The rule: a stage is reached when every requirement of it and of every stage below it holds; "no data" never meets a
requirement. Stage 1 has none. The reading names each requirement of the next stage that is not met.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.queries.freshness import freshness_of
from govern.vocabulary import DEFAULT as DEFAULT_WORDS, Vocabulary, vocabulary_of
from govern.model import (
    Insight, Journey, Kpi, KpiMeasurement, Opportunity, RitualOccurrence, Solution, Step, insight_step,
    opportunity_insight, utcnow,
)
from govern.queries.states import state_catalog

STAGES = {
    1: "intuition-driven",
    2: "fragmented",
    3: "coordinated",
    4: "scalable",
    5: "excellence",
}
STAGE_MEANINGS = {
    1: "decisions follow hunches; little is owned or measured",
    2: "methods exist but are not standard across teams",
    3: "feedback is in one place and teams coordinate across journeys",
    4: "company-wide methods and tools; journeys drive major decisions",
    5: "{customer} needs are anticipated; the practice runs itself",
}
# `{opportunities}` is the organisation's word (govern.vocabulary), filled in by the reading's `words`.
SIGNALS = {
    "ownership": "journeys with an owner",
    "evidence": "open {opportunities} backed by evidence",
    "cross_journey": "open {opportunities} with evidence from two or more journeys",
    "kpis_measured": "KPIs measured in the last 90 days (and not stale)",
    "rituals_on_time": "ritual occurrences held on time (last 90 days)",
    "backlog_linkage": "{solutions} linked to the backlog",
}
RECENT_DAYS = 90

# stage -> {signal: minimum share}
REQUIREMENTS: dict[int, dict[str, float]] = {
    2: {"ownership": 0.25, "evidence": 0.25},
    3: {"ownership": 0.6, "evidence": 0.6, "cross_journey": 0.2, "kpis_measured": 0.5},
    4: {"ownership": 0.9, "evidence": 0.8, "cross_journey": 0.3, "kpis_measured": 0.75, "rituals_on_time": 0.75,
        "backlog_linkage": 0.6},
    5: {"ownership": 1.0, "evidence": 0.95, "cross_journey": 0.4, "kpis_measured": 0.9, "rituals_on_time": 0.9,
        "backlog_linkage": 0.9},
}


@dataclass(frozen=True)
class Shortfall:
    stage: int
    signal: str
    required: float
    actual: float | None
    words: Vocabulary = field(default=DEFAULT_WORDS, compare=False, repr=False)

    def sentence(self) -> str:
        have = "no data" if self.actual is None else f"{self.actual:.0%}"
        return f"{self.words.fill(SIGNALS[self.signal])}: {have}, stage {self.stage} needs {self.required:.0%}"

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "signal": self.signal, "required": self.required, "actual": self.actual,
                "text": self.sentence()}


@dataclass
class MaturityReading:
    stage: int
    name: str
    signals: dict[str, float | None]
    held_back: list[Shortfall] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    words: Vocabulary = field(default=DEFAULT_WORDS, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        fill = self.words.fill
        return {
            "stage": self.stage, "name": self.name, "meaning": fill(STAGE_MEANINGS[self.stage]),
            "signals": {k: {"value": v, "label": fill(SIGNALS[k])} for k, v in self.signals.items()},
            "held_back": [{**s.as_dict(), "text": Shortfall(s.stage, s.signal, s.required, s.actual, self.words)
                           .sentence()} for s in self.held_back],
            "counts": self.counts, "rule": [fill(line) for line in rule_lines()],
        }


def share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _meets(value: float | None, minimum: float) -> bool:
    # A share computed as 29/29 must meet 1.0; tiny float noise must not hold a stage back.
    return value is not None and value + 1e-9 >= minimum


def read_maturity(signals: Mapping[str, float | None], counts: Mapping[str, Any] | None = None) -> MaturityReading:
    """The stage the signals reach under REQUIREMENTS, and what holds back the next one."""
    values = {name: signals.get(name) for name in SIGNALS}
    stage = 1
    for candidate in sorted(REQUIREMENTS):
        if all(_meets(values[s], m) for s, m in REQUIREMENTS[candidate].items()):
            stage = candidate
        else:
            break
    held_back = []
    if stage < 5:
        nxt = stage + 1
        held_back = [Shortfall(nxt, s, m, values[s]) for s, m in REQUIREMENTS[nxt].items()
                     if not _meets(values[s], m)]
    return MaturityReading(stage, STAGES[stage], values, held_back, dict(counts or {}))


def rule_lines() -> list[str]:
    """The documented rule, one line per stage, for `govern maturity` and the playbook."""
    lines = [f"stage 1 {STAGES[1]}: the starting point, no requirement"]
    for stage in sorted(REQUIREMENTS):
        needs = ", ".join(f"{SIGNALS[s]} ≥ {m:.0%}" for s, m in REQUIREMENTS[stage].items())
        lines.append(f"stage {stage} {STAGES[stage]}: {needs}")
    lines.append("a stage counts only when every stage below it also holds; a signal with no data meets nothing")
    return lines


# --- reading the signals from the database -----------------------------------------------------------------------------

ON_TIME_GRACE = dt.timedelta(days=1)  # an occurrence held within a day of its slot counts as on time


def maturity_reading(session: Session, *, now: dt.datetime | None = None) -> MaturityReading:
    """The organisation's maturity reading from its data now (see the module docstring for signals and rule)."""
    now = now or utcnow()
    since = now - dt.timedelta(days=RECENT_DAYS)
    counts: dict[str, Any] = {}

    journeys = session.scalar(sa.select(sa.func.count(Journey.id))) or 0
    owned = session.scalar(sa.select(sa.func.count(Journey.id)).where(Journey.owner_id.is_not(None))) or 0
    counts["journeys"] = {"total": journeys, "with_owner": owned}

    # Open: a state of kind active or evaluation in the lifecycle definition (govern.queries.states).
    open_ids = sa.select(Opportunity.id).where(Opportunity.state.in_(state_catalog(session).open_states))
    open_total = session.scalar(sa.select(sa.func.count()).select_from(open_ids.subquery())) or 0
    with_evidence = session.scalar(
        sa.select(sa.func.count(sa.distinct(opportunity_insight.c.opportunity_id)))
        .where(opportunity_insight.c.opportunity_id.in_(open_ids))) or 0
    per_opp = (sa.select(opportunity_insight.c.opportunity_id)
               .join(insight_step, insight_step.c.insight_id == opportunity_insight.c.insight_id)
               .join(Step, Step.id == insight_step.c.step_id)
               .where(opportunity_insight.c.opportunity_id.in_(open_ids))
               .group_by(opportunity_insight.c.opportunity_id)
               .having(sa.func.count(sa.distinct(Step.journey_id)) >= 2)).subquery()
    across = session.scalar(sa.select(sa.func.count()).select_from(per_opp)) or 0
    counts["open_opportunities"] = {"total": open_total, "with_evidence": with_evidence,
                                    "evidence_from_two_journeys": across}

    kpis = session.scalar(sa.select(sa.func.count(Kpi.id))) or 0
    measured_ids = set(session.scalars(sa.select(sa.distinct(KpiMeasurement.kpi_id))
                                       .where(KpiMeasurement.measured_at >= since, KpiMeasurement.measured_at <= now)))
    # Only fresh KPIs count as measured: one measured within 90 days but less often than its cadence asks is stale.
    with_cadence = session.scalars(sa.select(Kpi).where(Kpi.cadence_days.is_not(None))).all()
    stale = {kid for kid, f in freshness_of(session, with_cadence, now).items() if f.stale}
    measured = len(measured_ids - stale)
    counts["kpis"] = {"total": kpis, "measured_recently": measured, "stale": len(stale)}

    due = session.execute(
        sa.select(RitualOccurrence.status, RitualOccurrence.scheduled_at, RitualOccurrence.held_at)
        .where(RitualOccurrence.scheduled_at >= since, RitualOccurrence.scheduled_at < now,
               RitualOccurrence.status != "cancelled")).all()
    on_time = sum(1 for status, slot, held in due
                  if status == "held" and (held is None or held - slot <= ON_TIME_GRACE))
    counts["ritual_occurrences"] = {"due": len(due), "held_on_time": on_time}

    solutions = session.scalar(sa.select(sa.func.count(Solution.id))) or 0
    linked = session.scalar(sa.select(sa.func.count(Solution.id)).where(Solution.external_key.is_not(None))) or 0
    counts["solutions"] = {"total": solutions, "linked_to_backlog": linked}
    counts["insights"] = session.scalar(sa.select(sa.func.count(Insight.id))) or 0

    signals = {
        "ownership": share(owned, journeys),
        "evidence": share(with_evidence, open_total),
        "cross_journey": share(across, open_total),
        "kpis_measured": share(measured, kpis),
        "rituals_on_time": share(on_time, len(due)),
        "backlog_linkage": share(linked, solutions),
    }
    reading = read_maturity(signals, counts)
    reading.words = vocabulary_of(session)
    return reading
