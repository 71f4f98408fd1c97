"""KPI freshness: the one rule saying whether a KPI's latest measurement is older than its expected cadence.

A KPI declares how often it is measured (govern.yaml `kpis[].cadence`: `daily`, `weekly`, `monthly`, `quarterly`,
`yearly` or a number of days; stored as `Kpi.cadence_days`). It is **stale** when it has a cadence and its latest
measurement (none at all counts) is older than the cadence plus a grace of a quarter of it (at least one day: a monthly
figure dated the last day of October is still fresh on 7 December, while November's is being compiled). A KPI without
a cadence is never called stale. The journey page, the agenda's KPI section, the KPI page and the maturity reading
("KPIs measured" counts only fresh KPIs) all read it through :func:`freshness_of` / :func:`is_stale`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.model import KPI_CADENCES, Kpi, KpiMeasurement, kpi_cadence_days

CADENCES = KPI_CADENCES
cadence_days = kpi_cadence_days


def cadence_words(days: int | None) -> str | None:
    if days is None:
        return None
    for name, n in CADENCES.items():
        if n == days:
            return name
    return f"every {days} days"


def grace_days(days: int) -> int:
    return days + max(1, days // 4)


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def is_stale(latest_at: dt.datetime | None, days: int | None, now: dt.datetime) -> bool:
    """The rule (module docstring): False without a cadence; True with no measurement or one too old."""
    if days is None:
        return False
    if latest_at is None:
        return True
    return _naive(latest_at) < _naive(now) - dt.timedelta(days=grace_days(days))


@dataclass(frozen=True)
class Freshness:
    cadence_days: int | None
    latest_at: dt.datetime | None
    stale: bool

    @property
    def text(self) -> str | None:
        """"stale: measured monthly, last on 2026-10-31" for a stale KPI, None otherwise."""
        if not self.stale:
            return None
        last = f"last on {self.latest_at.date().isoformat()}" if self.latest_at else "never measured"
        return f"stale: measured {cadence_words(self.cadence_days)}, {last}"

    def as_dict(self) -> dict[str, Any]:
        return {"cadence_days": self.cadence_days, "cadence": cadence_words(self.cadence_days),
                "latest_at": self.latest_at.isoformat() if self.latest_at else None, "stale": self.stale,
                "text": self.text}


def freshness_of(session: Session, kpis: Iterable[Kpi], now: dt.datetime) -> dict[int, Freshness]:
    """Each KPI's freshness at `now` (one statement for all of them)."""
    kpis = list(kpis)
    if not kpis:
        return {}
    latest = dict(session.execute(
        sa.select(KpiMeasurement.kpi_id, sa.func.max(KpiMeasurement.measured_at))
        .where(KpiMeasurement.kpi_id.in_([k.id for k in kpis]), KpiMeasurement.measured_at <= _naive(now))
        .group_by(KpiMeasurement.kpi_id)).all())
    return {k.id: Freshness(k.cadence_days, latest.get(k.id), is_stale(latest.get(k.id), k.cadence_days, now))
            for k in kpis}
