"""KPI measurements in the database: recording, CSV import, trends, baselines and outcomes of opportunities."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from pathlib import Path
from typing import IO, Any, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import Conflict, InvalidInput
from govern.model import Kpi, KpiMeasurement, Opportunity, OpportunityTransition, Step, utcnow
from govern.policy import Actor
from govern.queries.states import state_catalog
from govern.services.common import get_kpi, get_opportunity
from govern.kpis.scales import KpiScale, ScaleError
from govern.kpis.verdicts import evaluate, overall_verdict, trend, verdict_words
from govern.yamltext import decode_text, read_text_file

# --- the database side: measurements, trends, baselines and outcomes ---------------------------------------------------
# Services follow the house rule: fn(session, actor, ...), permission check, validation, audit, one commit.

CSV_COLUMNS = ("kpi", "value", "measured_at", "source")
MAX_MEASUREMENT = 1e15  # keeps every stored value, trend and normalisation a finite JSON number
MAX_CSV_ROWS = 100_000
MAX_CSV_BYTES = 16_000_000  # 100,000 rows of a long KPI key, a value, a time and a source


def kpi_journey_ids(session: Session, kpi: Kpi) -> list[int]:
    """The journey a KPI belongs to (directly, or through its step): what a scoped role must cover to measure it."""
    if kpi.journey_id is not None:
        return [kpi.journey_id]
    if kpi.step_id is not None:
        journey_id = session.scalar(sa.select(Step.journey_id).where(Step.id == kpi.step_id))
        return [journey_id] if journey_id is not None else []
    return []


def parse_moment(value: Any, field: str = "measured_at") -> dt.datetime:
    """A date or timestamp (ISO 8601; an offset is converted to UTC) as the naive UTC datetime the database keeps."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is not None:
                moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
        except (ValueError, OverflowError):
            raise InvalidInput(f"{field}: not a date or time: '{value}'",
                               {field: "a date (2026-03-31) or time (2026-03-31T09:00, optionally with an offset)"}
                               ) from None
    else:
        raise InvalidInput(f"{field} is required", {field: "required: a date such as 2026-03-31"})
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def _number(value: Any, field: str = "value") -> float:
    if isinstance(value, str):
        text = value.strip().replace(",", ".") if value.count(",") == 1 and "." not in value else value.strip()
        try:
            value = float(text)
        except ValueError:
            raise InvalidInput(f"{field}: not a number: '{value}'", {field: "must be a number"}) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{field} must be a number", {field: "must be a number"})
    if abs(value) > MAX_MEASUREMENT:
        raise InvalidInput(f"{field} is implausibly large", {field: f"must be no larger than {MAX_MEASUREMENT:.0e}"})
    return float(value)


def measurement_dict(m: KpiMeasurement, kpi: Kpi | None = None) -> dict[str, Any]:
    kpi = kpi or m.kpi
    scale = KpiScale.of(kpi)
    try:
        normalised = round(scale.normalise(m.value), 2)
    except ScaleError:
        normalised = None
    return {"kpi": kpi.key, "value": m.value, "measured_at": m.measured_at.isoformat(), "source": m.source,
            "normalised": normalised, "target_met": scale.target_met(m.value),
            "recorded_at": m.recorded_at.isoformat() if m.recorded_at else None}


def record_measurement(session: Session, actor: Actor, kpi_key: str, value: Any, measured_at: Any = None,
                       source: str | None = None, *, commit: bool = True) -> KpiMeasurement:
    """Record one measurement of a KPI (checked against its scale); one per KPI and moment."""
    kpi = get_kpi(session, kpi_key)
    actor.require("kpi.measure", kpi_journey_ids(session, kpi))
    number = _number(value)
    moment = parse_moment(measured_at) if measured_at not in (None, "") else utcnow().replace(microsecond=0)
    problem = KpiScale.of(kpi).value_problem(number)
    if problem:
        raise InvalidInput(f"value {problem}", {"value": problem})
    if source is not None and len(source) > 200:
        raise InvalidInput("source is longer than 200 characters", {"source": "at most 200 characters"})
    exists = session.scalar(sa.select(KpiMeasurement.id).where(KpiMeasurement.kpi_id == kpi.id,
                                                               KpiMeasurement.measured_at == moment))
    if exists is not None:
        raise Conflict(f"{kpi.key} already has a measurement at {moment.isoformat()}",
                       {"measured_at": "already measured at this moment"})
    m = KpiMeasurement(kpi=kpi, value=number, measured_at=moment, source=(source or None),
                       recorded_by_id=actor.person_id, recorded_at=utcnow())
    session.add(m)
    session.flush()
    audit.record(session, actor, "kpi.measured", "kpi", kpi.key, after=measurement_dict(m, kpi))
    if commit:
        session.commit()
    return m


def import_measurements_csv(session: Session, actor: Actor, path_or_file: str | Path | IO[str] | IO[bytes], *,
                            commit: bool = True) -> dict[str, Any]:
    """Import measurements from CSV with a header row `kpi,value,measured_at[,source]`, all or nothing.

    Every malformed row is reported with its line number (InvalidInput details `{"line 4": "value: must be a
    number"}`), as is a row that repeats a measurement already stored or earlier in the file; then nothing is written.
    """
    text = _read_text(path_or_file)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("the file is empty", {"line 1": f"expected a header row: {','.join(CSV_COLUMNS)}"}) from None
    except csv.Error as exc:
        raise InvalidInput(f"line 1: {exc}", {"line 1": str(exc)}) from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in ("kpi", "value", "measured_at") if c not in columns]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if missing or unknown:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
        raise InvalidInput("line 1: " + "; ".join(parts),
                           {"line 1": "; ".join(parts) + f" (expected {','.join(CSV_COLUMNS)})"})
    index = {c: columns.index(c) for c in CSV_COLUMNS if c in columns}

    kpis: dict[str, Kpi | None] = {}
    allowed: dict[str, bool] = {}
    errors: dict[str, str] = {}
    rows: list[tuple[Kpi, float, dt.datetime, str | None]] = []
    seen: dict[tuple[int, dt.datetime], int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines are harmless
            if len(rows) + len(errors) >= MAX_CSV_ROWS:
                errors[f"line {line}"] = f"more than {MAX_CSV_ROWS:,} rows; split the file"
                break
            if len(record) != len(columns):
                errors[f"line {line}"] = f"expected {len(columns)} fields, found {len(record)}"
                continue
            cell = {c: record[i].strip() for c, i in index.items()}
            key = cell["kpi"]
            if key not in kpis:
                kpis[key] = session.scalar(sa.select(Kpi).where(Kpi.key == key)) if key else None
                kpi = kpis[key]
                allowed[key] = kpi is not None and actor.can("kpi.measure", kpi_journey_ids(session, kpi))
            kpi = kpis[key]
            problems = []
            if kpi is None:
                problems.append(f"kpi: unknown KPI '{key}'" if key else "kpi: required")
            elif not allowed[key]:
                problems.append(f"kpi: {actor.handle} may not record measurements of '{key}'")
            try:
                number = _number(cell["value"])
            except InvalidInput as exc:
                why = exc.details["value"]
                problems.append(f"value: not a number: '{cell['value']}'" if why == "must be a number"
                                else f"value: {why}")
                number = None
            try:
                moment = parse_moment(cell["measured_at"])
            except InvalidInput as exc:
                problems.append(f"measured_at: {exc.details['measured_at']}"
                                + (f" (got '{cell['measured_at']}')" if cell["measured_at"] else ""))
                moment = None
            source = cell.get("source") or None
            if source and len(source) > 200:
                problems.append("source: at most 200 characters")
            if kpi is not None and number is not None:
                problem = KpiScale.of(kpi).value_problem(number)
                if problem:
                    problems.append(f"value: {problem}")
            if kpi is not None and moment is not None:
                first = seen.get((kpi.id, moment))
                if first is not None:
                    problems.append(f"repeats line {first} ({key} at {moment.isoformat()})")
                else:
                    seen[(kpi.id, moment)] = line
            if problems:
                errors[f"line {line}"] = "; ".join(problems)
            else:
                rows.append((kpi, number, moment, source))
    except csv.Error as exc:
        errors[f"line {reader.line_num}"] = f"not valid CSV: {exc}"
    if not errors and rows:
        stored = _existing_moments(session, {k.id for k, *_ in rows})
        for kpi, _, moment, _ in rows:
            if (kpi.id, moment) in stored:
                line = seen[(kpi.id, moment)]
                errors[f"line {line}"] = f"{kpi.key} already has a measurement at {moment.isoformat()}"
    if errors:
        ordered = dict(sorted(errors.items(), key=lambda kv: int(kv[0].split()[1])))
        first = next(iter(ordered.items()))
        raise InvalidInput(f"{len(ordered)} row(s) cannot be imported, nothing was imported; "
                           f"first: {first[0]}: {first[1]}", ordered)
    if not rows:
        raise InvalidInput("the file has no measurements", {"line 2": "expected at least one row after the header"})

    now = utcnow()
    per_kpi: dict[str, int] = {}
    session.add_all(KpiMeasurement(kpi_id=kpi.id, value=number, measured_at=moment, source=source,
                                   recorded_by_id=actor.person_id, recorded_at=now)
                    for kpi, number, moment, source in rows)
    for kpi, *_ in rows:
        per_kpi[kpi.key] = per_kpi.get(kpi.key, 0) + 1
    session.flush()
    summary = {"imported": len(rows), "kpis": dict(sorted(per_kpi.items()))}
    audit.record(session, actor, "kpi.measurements_imported", "kpi", ",".join(sorted(per_kpi)),
                 after={**summary, "first": min(m for _, _, m, _ in rows), "last": max(m for _, _, m, _ in rows)})
    if commit:
        session.commit()
    return summary


def _read_text(source: str | Path | IO[str] | IO[bytes]) -> str:
    """The CSV's text: at most MAX_CSV_BYTES (a larger file is refused unread), UTF-8 (Excel's byte-order mark
    dropped), no NUL bytes; each refusal names the line."""
    if isinstance(source, (str, Path)):
        return read_text_file(source, max_bytes=MAX_CSV_BYTES)
    data: Any = source.read(MAX_CSV_BYTES + 1)
    if isinstance(data, bytes):
        return decode_text(data, "the file", max_bytes=MAX_CSV_BYTES)
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_CSV_BYTES:,} bytes",
                           {"(file)": f"larger than {MAX_CSV_BYTES:,} bytes"})
    return data.lstrip("\ufeff")


def _existing_moments(session: Session, kpi_ids: set[int]) -> set[tuple[int, dt.datetime]]:
    rows = session.execute(sa.select(KpiMeasurement.kpi_id, KpiMeasurement.measured_at)
                           .where(KpiMeasurement.kpi_id.in_(kpi_ids)))
    return {(k, m) for k, m in rows}


def _points(session: Session, kpi: Kpi, since: dt.datetime | None = None) -> list[tuple[dt.datetime, float]]:
    query = (sa.select(KpiMeasurement.measured_at, KpiMeasurement.value)
             .where(KpiMeasurement.kpi_id == kpi.id).order_by(KpiMeasurement.measured_at))
    if since is not None:
        query = query.where(KpiMeasurement.measured_at >= since)
    return [(at, v) for at, v in session.execute(query)]


def kpi_summary(kpi: Kpi, points: Sequence[tuple[dt.datetime, float]]) -> dict[str, Any]:
    scale = KpiScale.of(kpi)
    return {"key": kpi.key, "name": kpi.name, "kind": kpi.kind, "scale": kpi.scale, "scale_text": scale.describe(),
            "bounds": list(scale.bounds), "unit": kpi.unit, "direction": kpi.direction, "target": kpi.target,
            "journey": kpi.journey.key if kpi.journey else None,
            "step": f"{kpi.step.journey.key}/{kpi.step.key}" if kpi.step else None,
            "trend": trend(scale, points).as_dict()}


def list_kpis(session: Session) -> list[dict[str, Any]]:
    """Every KPI with its scale, target and where it stands now (latest, previous, trend, target met)."""
    kpis = session.scalars(sa.select(Kpi).order_by(Kpi.key)).all()
    points: dict[int, list[tuple[dt.datetime, float]]] = {}
    for kpi_id, at, value in session.execute(sa.select(KpiMeasurement.kpi_id, KpiMeasurement.measured_at,
                                                       KpiMeasurement.value).order_by(KpiMeasurement.measured_at)):
        points.setdefault(kpi_id, []).append((at, value))
    return [kpi_summary(k, points.get(k.id, [])) for k in kpis]


def kpi_trend(session: Session, kpi_key: str, *, since: Any = None) -> dict[str, Any]:
    """One KPI's measurements (oldest first, each normalised 0-100) and its trend (from `since` when given)."""
    kpi = get_kpi(session, kpi_key)
    start = parse_moment(since, "since") if since not in (None, "") else None
    points = _points(session, kpi, start)
    out = kpi_summary(kpi, points)
    scale = KpiScale.of(kpi)
    out["measurements"] = []
    for at, value in points:
        try:
            normalised = round(scale.normalise(value), 2)
        except ScaleError:
            normalised = None
        out["measurements"].append({"measured_at": at.isoformat(), "value": value, "normalised": normalised,
                                    "target_met": scale.target_met(value)})
    return out


def _latest(session: Session, kpi_id: int, *, after: dt.datetime | None = None,
            from_day: dt.date | None = None) -> KpiMeasurement | None:
    query = sa.select(KpiMeasurement).where(KpiMeasurement.kpi_id == kpi_id)
    if after is not None:
        query = query.where(KpiMeasurement.measured_at > after)
    if from_day is not None:
        query = query.where(KpiMeasurement.measured_at >= dt.datetime.combine(from_day, dt.time.min))
    return session.scalar(query.order_by(KpiMeasurement.measured_at.desc()).limit(1))


def went_live_at(session: Session, opportunity: Opportunity) -> dt.datetime | None:
    """When the change went live: the first move of the opportunity after its baseline was taken (leaving the state
    in which its solutions were delivered, e.g. implement → evaluate). None while it has not moved on since."""
    baselines = [link.baseline_at for link in opportunity.kpi_links if link.baseline_at is not None]
    if not baselines:
        return None
    return session.scalar(sa.select(sa.func.min(OpportunityTransition.at)).where(
        OpportunityTransition.opportunity_id == opportunity.id, OpportunityTransition.at > max(baselines)))


def record_baselines(session: Session, actor: Actor, opportunity: Opportunity) -> list[dict[str, Any]]:
    """Record the latest measurement of every KPI the opportunity targets as its baseline (on entering implement).

    Part of a lifecycle transition: it writes and audits inside the caller's transaction and does NOT commit. A KPI
    with no measurement yet gets no baseline (the `kpi_baseline_recorded` guard says so). A new baseline clears any
    earlier outcome: the opportunity is starting a new round.
    """
    out = []
    for link in opportunity.kpi_links:
        latest = _latest(session, link.kpi_id)
        if latest is None:
            out.append({"kpi": link.kpi.key, "baseline": None, "note": "no measurement yet"})
            continue
        link.baseline_value, link.baseline_at = latest.value, latest.measured_at
        link.outcome_value = link.outcome_at = link.verdict = None
        out.append({"kpi": link.kpi.key, "baseline": latest.value, "measured_at": latest.measured_at.isoformat()})
    session.flush()
    audit.record(session, actor, "opportunity.kpi_baseline_recorded", "opportunity", opportunity.key,
                 after={"baselines": out})
    return out


def measurement_window(session: Session, opportunity: Opportunity, kpi: Kpi,
                       measure_after_days: int | None = None) -> dict[str, Any]:
    """The window a KPI's outcome is measured in: from when the change went live (its baseline's date while it is
    not live yet) plus `measure_after_days` — the KPI's own, else the given one (a `record_outcome` effect's), else
    the lifecycle definition's. Measurements are often dated by day: one dated the first day that counts, counts."""
    link = next(link for link in opportunity.kpi_links if link.kpi_id == kpi.id)
    live = went_live_at(session, opportunity)
    days = kpi.measure_after_days
    if days is None:
        days = measure_after_days
    if days is None:
        days = state_catalog(session, opportunity.lifecycle).measure_after_days
    start = live or link.baseline_at
    counts_from = (start.date() + dt.timedelta(days=int(days))) if start is not None else None
    return {"went_live_at": live.isoformat() if live else None, "measure_after_days": int(days),
            "counts_from": counts_from.isoformat() if counts_from else None,
            "since": (f"it went live on {live.date().isoformat()}" if live is not None
                      else f"the baseline of {link.baseline_at.date().isoformat()} (it is not live yet)"
                      if link.baseline_at else "")}


def record_outcomes(session: Session, actor: Actor, opportunity: Opportunity, *,
                    measure_after_days: int | None = None) -> list[dict[str, Any]]:
    """Evaluate every targeted KPI: its latest measurement in the measurement window against the baseline and target.

    Records value, time and verdict (target_met / short_of_target / improved / no_change / worse, see
    govern.kpis.verdicts) on each link and returns the numbers with the baseline, the measurement and the window used.
    Does NOT commit (a lifecycle effect, or :func:`evaluate_opportunity`, commits). A KPI without a baseline keeps no
    outcome and says why. A KPI with a baseline but no measurement taken at least `measure_after_days` after go-live
    refuses the whole evaluation (InvalidInput naming the measurements that exist and the earliest date that counts);
    nothing is written then.
    """
    out: list[dict[str, Any]] = []
    writes = []
    refusals: dict[str, str] = {}
    for link in opportunity.kpi_links:
        kpi = link.kpi
        if link.baseline_value is None or link.baseline_at is None:
            out.append({"kpi": kpi.key, "verdict": None, "note": "no baseline recorded"})
            continue
        window = measurement_window(session, opportunity, kpi, measure_after_days)
        counts_from = dt.date.fromisoformat(window["counts_from"])
        latest = _latest(session, kpi.id, after=link.baseline_at, from_day=counts_from)
        if latest is None:
            since = session.execute(sa.select(KpiMeasurement.measured_at, KpiMeasurement.value).where(
                KpiMeasurement.kpi_id == kpi.id, KpiMeasurement.measured_at > link.baseline_at)
                .order_by(KpiMeasurement.measured_at)).all()
            seen = (", ".join(f"{v:g} on {at.date().isoformat()}" for at, v in since[-5:])
                    if since else "none")
            refusals[kpi.key] = (
                f"{kpi.name}: no measurement taken at least {window['measure_after_days']} days after "
                f"{window['since']}; the earliest date that counts is {counts_from.isoformat()} "
                f"(measurements since the baseline: {seen})")
            continue
        outcome = evaluate(KpiScale.of(kpi), link.baseline_value, latest.value)
        writes.append((link, latest, outcome))
        used = {k: v for k, v in window.items() if k != "since"}
        out.append({"kpi": kpi.key, **outcome.as_dict(), "verdict_words": verdict_words(outcome.verdict),
                    "baseline_at": link.baseline_at.isoformat(), "measured_at": latest.measured_at.isoformat(),
                    "went_live_at": window["went_live_at"], "window": used,
                    "text": f"{outcome.sentence(kpi.name)} (baseline {link.baseline_at.date().isoformat()}, "
                            f"measured {latest.measured_at.date().isoformat()}, at least "
                            f"{window['measure_after_days']} days after {window['since']})"})
    if refusals:
        raise InvalidInput(f"{opportunity.key} cannot be evaluated yet: " + "; ".join(refusals.values()), refusals)
    for link, latest, outcome in writes:
        link.outcome_value, link.outcome_at, link.verdict = latest.value, latest.measured_at, outcome.verdict
    session.flush()
    audit.record(session, actor, "opportunity.outcome_recorded", "opportunity", opportunity.key,
                 after={"outcomes": out, "overall": overall_of(opportunity, out)})
    return out


def overall_of(opportunity: Opportunity, outcomes: Sequence[dict[str, Any]]) -> str | None:
    """The opportunity's overall verdict from its outcomes (govern.kpis.verdicts.overall_verdict)."""
    return overall_verdict([o.get("verdict") for o in outcomes],
                           any_target=any(link.kpi.target is not None for link in opportunity.kpi_links))


def evaluate_opportunity(session: Session, actor: Actor, opp_ref: str | int, *, commit: bool = True
                         ) -> dict[str, Any]:
    """Evaluate now (e.g. in the monthly KPI review): record the outcome of every targeted KPI and commit."""
    opp = get_opportunity(session, opp_ref)
    actor.require("kpi.measure", [j.id for j in opp.journeys])
    state_catalog(session, opp.lifecycle).refuse_unless_allowed(opp.state, "evaluation",
                                                                f"{opp.key} cannot be evaluated")
    outcomes = record_outcomes(session, actor, opp)
    if commit:
        session.commit()
    overall = overall_of(opp, outcomes)
    return {"opportunity": opp.key, "outcomes": outcomes, "overall": overall, "overall_words": verdict_words(overall)
            if overall else None}


def opportunity_kpis(session: Session, opportunity: Opportunity) -> list[dict[str, Any]]:
    """The KPIs an opportunity targets with baseline, outcome and verdict (for the opportunity page and the API)."""
    out = []
    for link in opportunity.kpi_links:
        scale = KpiScale.of(link.kpi)
        latest = _latest(session, link.kpi_id)
        out.append({"kpi": link.kpi.key, "name": link.kpi.name, "target": link.kpi.target,
                    "direction": link.kpi.direction, "latest": latest.value if latest else None,
                    "baseline": link.baseline_value,
                    "baseline_at": link.baseline_at.isoformat() if link.baseline_at else None,
                    "outcome": link.outcome_value,
                    "outcome_at": link.outcome_at.isoformat() if link.outcome_at else None,
                    "verdict": link.verdict, "verdict_words": verdict_words(link.verdict) if link.verdict else None,
                    "target_met": scale.target_met(link.outcome_value)})
    return out
