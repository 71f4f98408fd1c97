"""The database side of scoring: recording inputs, and scoring and ranking the portfolio.

Services follow the house rule: fn(session, actor, ...), permission check, validation, audit, one commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import InvalidInput
from govern.model import (
    RECORDED_INPUT_COLUMNS, EvidenceSummary, Journey, Opportunity, RecordedInputs, ScoreInput, opportunity_journey,
    pivoted_inputs, utcnow,
)
from govern.policy import Actor
from govern.queries.cards import OpportunityCard, journey_ids_of
from govern.queries.portfolio import PortfolioFilter, filter_clauses, portfolio_ids
from govern.queries.reference import reference
from govern.scoring.config import ScoringConfig, load_scoring_config
from govern.scoring.evidence import STALE_DAYS, evidence_strength_of
from govern.scoring.inputs import COMPUTED_INPUTS, InputSpec
from govern.scoring.models import BUILTIN_INPUTS, Score, ScoringModel
from govern.scoring.ranking import Ranked, rank
from govern.scoring.sql import scored_query
from govern.services.common import get_opportunity, get_setting
from govern.services.opportunities import check_version

SCORING_SETTING = "scoring"


def scoring_config(session: Session) -> ScoringConfig:
    """The organisation's scoring configuration, as applied from govern.yaml (RICE alone when none was applied)."""
    return load_scoring_config(get_setting(session, SCORING_SETTING) or None)


def _journey_models(session: Session, config: ScoringConfig) -> dict[int, str]:
    """Each journey's model: its own, else its nearest ancestor's, else the default. Empty when no journey names one."""
    rows = reference(session).journeys
    own = {r.id: r.scoring_model for r in rows if r.scoring_model and r.scoring_model in config.models}
    if not own:
        return {}
    parent = {r.id: r.parent_id for r in rows}
    out: dict[int, str] = {}
    for jid in parent:
        cursor, seen = jid, set()
        while cursor is not None and cursor not in seen:
            if cursor in own:
                out[jid] = own[cursor]
                break
            seen.add(cursor)
            cursor = parent.get(cursor)
        else:
            out[jid] = config.default
    return out


def _model_name(config: ScoringConfig, journey_ids: Iterable[int], journey_models: Mapping[int, str]) -> str:
    """The model of the journeys an opportunity touches when they all agree, otherwise the organisation's default."""
    if not journey_models:
        return config.default
    names = {journey_models.get(j, config.default) for j in journey_ids}
    return names.pop() if len(names) == 1 else config.default


def model_for_opportunity(session: Session, opportunity: Opportunity, config: ScoringConfig | None = None
                          ) -> ScoringModel:
    """The model that scores this opportunity (see :func:`_model_name` for the rule)."""
    config = config or scoring_config(session)
    return config.model(_model_name(config, [j.id for j in opportunity.journeys], _journey_models(session, config)))


def missing_inputs(session: Session, opportunity: Opportunity | str | int) -> list[str]:
    """The recorded inputs the opportunity's model still needs (empty: it has a score). Used by the has_score guard."""
    if not isinstance(opportunity, Opportunity):
        opportunity = get_opportunity(session, opportunity)
    model = model_for_opportunity(session, opportunity)
    return model.missing({si.name: si.value for si in opportunity.score_inputs})


def missing_inputs_many(session: Session, opportunities: Iterable[Opportunity | OpportunityCard]
                        ) -> dict[int, list[str]]:
    """`missing_inputs` of many opportunities at once (ORM ones with their journeys loaded, or cards): one statement."""
    opportunities = list(opportunities)
    config = scoring_config(session)
    journey_models = _journey_models(session, config)
    recorded: dict[int, dict[str, float]] = {o.id: {} for o in opportunities}
    if opportunities:
        for opp_id, name, value in session.execute(
                sa.select(ScoreInput.opportunity_id, ScoreInput.name, ScoreInput.value)
                .where(ScoreInput.opportunity_id.in_(list(recorded)))):
            recorded[opp_id][name] = value
    return {o.id: config.model(_model_name(config, journey_ids_of(o), journey_models)).missing(recorded[o.id])
            for o in opportunities}


def _coerce_number(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        try:
            return float(text)
        except ValueError:
            return value
    return value


def record_score_inputs(session: Session, actor: Actor, opp_ref: str | int, values: Mapping[str, Any], *,
                        expected_version: int | None = None, commit: bool = True) -> Score:
    """Record scoring inputs for an opportunity (who and when, audited); `None` removes an input. Returns the new score.

    Every name must be an input some model knows (built-in or declared under scoring.inputs); each value is checked
    against the scale of the model that scores this opportunity. The score itself is computed, never recorded.
    """
    opp = get_opportunity(session, opp_ref)
    actor.require("opportunity.score", [j.id for j in opp.journeys])
    check_version(opp, expected_version)
    if not isinstance(values, Mapping) or not values:
        raise InvalidInput("give at least one scoring input", {"inputs": "give at least one input, e.g. reach=2000"})
    config = scoring_config(session)
    model = model_for_opportunity(session, opp, config)
    known = set(BUILTIN_INPUTS) | set(config.input_specs)
    errors: dict[str, str] = {}
    clean: dict[str, float | None] = {}
    for name, raw in values.items():
        path = f"inputs.{name}"
        if name in COMPUTED_INPUTS:
            errors[path] = "is computed from the evidence and cannot be recorded"
            continue
        if name not in known:
            errors[path] = (f"unknown input '{name}' (the {model.name} model uses "
                            f"{', '.join(model.recorded_inputs) or 'no recorded inputs'})")
            continue
        if raw is None:
            clean[name] = None
            continue
        value = _coerce_number(raw)
        spec = model.spec(name) or config.input_specs.get(name) or BUILTIN_INPUTS.get(name) or InputSpec(name)
        problem = spec.problem(value)
        if problem:
            errors[path] = problem
        else:
            clean[name] = float(value)
    if errors:
        raise InvalidInput("some scoring inputs are not valid", errors)

    existing = {si.name: si for si in opp.score_inputs}
    before = {n: si.value for n, si in existing.items()}
    now = utcnow()
    for name, value in clean.items():
        row = existing.get(name)
        if value is None:
            if row is not None:
                opp.score_inputs.remove(row)
        elif row is None:
            opp.score_inputs.append(ScoreInput(name=name, value=value, recorded_by_id=actor.person_id,
                                               recorded_at=now))
        elif row.value != value:
            row.value, row.recorded_by_id, row.recorded_at = value, actor.person_id, now
    after = {si.name: si.value for si in opp.score_inputs}
    session.flush()
    score = score_opportunity(session, opp, config=config)
    if after != before:
        opp.updated_at = now  # a new score is a new version: approvals decided on the old one are stale
        audit.record(session, actor, "opportunity.scored", "opportunity", opp.key,
                     before={"inputs": before},
                     after={"inputs": after, "model": model.name, "score": score.value, "missing": score.missing})
    if commit:
        session.commit()
    return score


# -- loading the portfolio in one aggregate query

def recorded_input_names(config: ScoringConfig) -> list[str]:
    """Every recorded input some model of the configuration reads, each once (the portfolio query's columns)."""
    names: list[str] = []
    for model in config.models.values():
        for n in model.recorded_inputs:
            if n not in names:
                names.append(n)
    return names


def portfolio_query(names: list[str], opportunity_ids: Iterable[int] | None = None) -> sa.Select:
    """One query: every opportunity with its evidence counts (insights, journeys, distinct sources, newest date) and
    its recorded inputs pivoted into columns `in_0 … in_n` (in the order of `names`).

    The evidence counts come from the evidence summary, kept current in the same transaction as every change of the
    evidence (`govern.services.summary`), so ranking reads one row per opportunity instead of every link."""
    ids = None if opportunity_ids is None else list(opportunity_ids)
    summary = EvidenceSummary
    inputs = _recorded_inputs(names, ids)
    query = (
        sa.select(Opportunity.id, Opportunity.number, Opportunity.title, Opportunity.state, Opportunity.owner_id,
                  summary.insight_count, summary.journey_count, summary.source_count, summary.newest_observed_on,
                  summary.weighted_count, *[inputs.c[f"in_{i}"] for i in range(len(names))])
        .outerjoin(summary, summary.opportunity_id == Opportunity.id)
        .outerjoin(inputs, inputs.c.opp_id == Opportunity.id)
    )
    if ids is not None:
        query = query.where(Opportunity.id.in_(ids))
    return query


def _recorded_inputs(names: list[str], ids: list[int] | None = None) -> sa.Subquery | sa.Alias:
    """The recorded inputs in `names`, one row per opportunity (`opp_id`, then columns `in_0 … in_n`): from the
    maintained RecordedInputs row when every name is a built-in input, else pivoted from the ScoreInput rows."""
    if all(n in RECORDED_INPUT_COLUMNS for n in names):
        table = RecordedInputs.__table__
        return sa.select(table.c.opportunity_id.label("opp_id"),
                         *[table.c[n].label(f"in_{i}") for i, n in enumerate(names)]).subquery("inputs")
    return _pivoted_inputs(names, ids)


def _pivoted_inputs(names: list[str], ids: list[int] | None = None) -> sa.Subquery:
    """The recorded inputs in `names`, one row per opportunity (`opp_id`, then columns `in_0 … in_n`)."""
    inputs = (
        sa.select(ScoreInput.opportunity_id.label("opp_id"),
                  *[column.label(f"in_{i}") for i, column in enumerate(pivoted_inputs(names))])
        .group_by(ScoreInput.opportunity_id)
    )
    if ids is not None:  # filter inside the aggregate too, so one opportunity costs one opportunity's work
        inputs = inputs.where(ScoreInput.opportunity_id.in_(ids))
    return inputs.subquery("inputs")


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while a portfolio is loaded: it holds no cycles, and a collection pass
    every few hundred allocations over 100,000 live rows costs more than the ranking itself."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Row:
    """One opportunity as the ranking reads it: the recorded inputs in `names` order and its evidence counts."""

    __slots__ = ("id", "number", "title", "state", "owner_id", "recorded", "evidence", "strength", "model", "value")

    def __init__(self, id, number, title, state, owner_id, recorded, evidence, strength):
        self.id, self.number, self.title, self.state, self.owner_id = id, number, title, state, owner_id
        self.recorded, self.evidence, self.strength = recorded, evidence, strength
        self.model, self.value = "", None

    def values(self, names: list[str]) -> dict[str, float]:
        """Every input by name: the recorded ones and the computed evidence inputs."""
        out = {name: v for name, v in zip(names, self.recorded) if v is not None}
        n, j, s, age = self.evidence
        out.update(evidence_strength=self.strength, evidence_count=n, evidence_journeys=j, evidence_sources=s,
                   evidence_age_days=STALE_DAYS if age is None else age)
        return out


def _load_portfolio(session: Session, config: ScoringConfig, today: dt.date,
                    opportunity_ids: Iterable[int] | None = None) -> tuple[list[str], list[_Row]]:
    names = recorded_input_names(config)
    rows: list[_Row] = []
    append = rows.append
    strength = evidence_strength_of
    # Core execution (not the ORM's row processing): this loop runs once per opportunity in the portfolio.
    result = session.connection().execute(portfolio_query(names, opportunity_ids)).all()
    for oid, number, title, state, owner_id, n, j, s, newest, w, *recorded in result:
        if newest is None:
            age = None
        else:
            if isinstance(newest, str):  # a bare aggregate over a date column may come back as text
                newest = dt.date.fromisoformat(newest[:10])
            age = (today - newest).days
            if age < 0:
                age = 0
        n, j, s = n or 0, j or 0, s or 0
        append(_Row(oid, number, title, state, owner_id, recorded, (n, j, s, age), strength(n, j, s, age, w)))
    return names, rows


def _evidence(n: int | None, j: int | None, s: int | None, newest: dt.date | str | None,
              today: dt.date) -> tuple[int, int, int, int | None]:
    """(insights, journeys, sources, age in days) as `_Row.evidence` holds them."""
    if isinstance(newest, str):  # a bare aggregate over a date column may come back as text
        newest = dt.date.fromisoformat(newest[:10])
    return n or 0, j or 0, s or 0, None if newest is None else max(0, (today - newest).days)


def _score_rows(session: Session, config: ScoringConfig, names: list[str], rows: list[_Row],
                journey_models: Mapping[int, str] | None = None) -> dict[str, Any]:
    """Assign each row its model and score; returns the per-model portfolio bounds (for explanations)."""
    if journey_models is None:
        journey_models = _journey_models(session, config)
    if journey_models:
        links: dict[int, list[int]] = {}
        for opp_id, journey_id in session.execute(sa.select(opportunity_journey.c.opportunity_id,
                                                            opportunity_journey.c.journey_id)):
            links.setdefault(opp_id, []).append(journey_id)
        for row in rows:
            row.model = _model_name(config, links.get(row.id, ()), journey_models)
    else:
        for row in rows:
            row.model = config.default
    bounds: dict[str, Any] = {}
    for name in sorted({row.model for row in rows}):
        model = config.models[name]
        mine = [row for row in rows if row.model == name]
        fast = model.fast(names)
        if fast is not None:
            bounds[name] = None
            for row in mine:
                row.value = fast(row.recorded, row.strength)
            continue
        table = [row.values(names) for row in mine]
        b = bounds[name] = model.prepare(table)
        for row, values in zip(mine, table):
            row.value = model.value(values, b)
    return bounds


def score_opportunity(session: Session, opportunity: Opportunity, *, config: ScoringConfig | None = None,
                      today: dt.date | None = None) -> Score:
    """The opportunity's score with its explanation (a weighted model reads the whole portfolio for its ranges)."""
    config = config or scoring_config(session)
    today = today or utcnow().date()
    model = model_for_opportunity(session, opportunity, config)
    if model.needs_portfolio:
        names, rows = _load_portfolio(session, config, today)
        bounds = _score_rows(session, config, names, rows)
        row = next(r for r in rows if r.id == opportunity.id)
        return model.score(row.values(names), bounds[model.name])
    names, rows = _load_portfolio(session, config, today, [opportunity.id])
    return model.score(rows[0].values(names))


def score_and_rank(session: Session, opportunity: Opportunity, *, config: ScoringConfig | None = None,
                   today: dt.date | None = None) -> tuple[Score, int | None, int]:
    """The opportunity's score with its explanation, its rank in the whole portfolio (None: unscorable) and how many
    the portfolio holds — the same as :func:`score_opportunity` and an unfiltered :func:`rank_portfolio` give, from one
    read of the portfolio (the page of one opportunity shows all three)."""
    config = config or scoring_config(session)
    today = today or utcnow().date()
    journey_models = _journey_models(session, config)
    model = _model_scored_in_sql(config, journey_models)
    if model is not None:
        # The database scores and orders them all and returns this one's row with its position (as rank_portfolio's
        # page does), not the whole portfolio.
        return _score_and_rank_in_sql(session, model, opportunity, today)
    with _gc_paused():
        names, rows = _load_portfolio(session, config, today)
        bounds = _score_rows(session, config, names, rows, journey_models)
        ranked = _ranked(rows)
    row = next(r for r in rows if r.id == opportunity.id)
    position = next(entry.rank for entry in ranked if entry.key is row)
    return config.models[row.model].score(row.values(names), bounds.get(row.model)), position, len(ranked)


def _score_and_rank_in_sql(session: Session, model: ScoringModel, opportunity: Opportunity, today: dt.date
                           ) -> tuple[Score, int | None, int]:
    """:func:`score_and_rank` under one positional model: one statement numbers the scored portfolio in ranking order
    (score, then evidence strength, then the older opportunity; unscored last) and returns this opportunity's row."""
    names = model.recorded_inputs
    scored = _scored_in_sql(session, model, [], today)
    order = _ranking_order(scored.c)
    numbered = sa.select(scored, sa.func.row_number().over(order_by=order).label("position"),
                         sa.func.count().over().label("total")).subquery("numbered")
    r = session.connection().execute(sa.select(numbered).where(numbered.c.id == opportunity.id)).one()
    evidence = _evidence(r.insights, r.journeys, r.sources, r.newest, today)
    row = _Row(r.id, r.number, r.title, r.state, r.owner_id, [getattr(r, f"in_{i}") for i in range(len(names))],
               evidence, evidence_strength_of(*evidence, r.weighted))
    return model.score(row.values(names)), (None if r.score is None else r.position), r.total


@dataclass(frozen=True)
class PortfolioPlace:
    """Where one opportunity stands in the whole portfolio's ranking: the model that scores it, its score as the
    ranking shows it (None: unscorable), its rank (None: unscorable) and how many opportunities were ranked."""

    model: str
    score: float | None
    rank: int | None
    total: int


def places_in_ranking(session: Session, opportunity_ids: Iterable[int], *, today: dt.date | None = None
                      ) -> dict[int, PortfolioPlace]:
    """The score and rank of each of these opportunities (by id) in the whole portfolio, as an unfiltered
    :func:`rank_portfolio` gives them: for pages that show a few opportunities' places (the approvals inbox).

    Under one positional model the database scores and numbers the portfolio and returns only these rows, in one
    statement; any other model ranks the whole portfolio in Python, as rank_portfolio does."""
    wanted = sorted(set(opportunity_ids))
    if not wanted:
        return {}
    config = scoring_config(session)
    today = today or utcnow().date()
    journey_models = _journey_models(session, config)
    model = _model_scored_in_sql(config, journey_models)
    if model is not None:
        scored = _scored_in_sql(session, model, [], today, slim=True)
        order = _ranking_order(scored.c)
        numbered = sa.select(scored.c.id, scored.c.score, sa.func.row_number().over(order_by=order).label("position"),
                             sa.func.count().over().label("total")).subquery("numbered")
        rows = session.connection().execute(sa.select(numbered).where(numbered.c.id.in_(wanted)))
        return {r.id: PortfolioPlace(model.name, None if r.score is None else round(r.score, 4),
                                     None if r.score is None else r.position, r.total) for r in rows}
    with _gc_paused():
        _, rows = _load_portfolio(session, config, today)
        _score_rows(session, config, recorded_input_names(config), rows, journey_models)
        ranked = _ranked(rows)
    keep = set(wanted)
    return {entry.key.id: PortfolioPlace(entry.key.model, None if entry.value is None else round(entry.value, 4),
                                         entry.rank, len(ranked))
            for entry in ranked if entry.key.id in keep}


def _portfolio_filter(*, journey: str | None = None, state: str | Iterable[str] | None = None,
                      owner: str | None = None, persona: str | None = None, text: str | None = None,
                      open_only: bool = False) -> PortfolioFilter | None:
    """The portfolio filter (govern.queries.portfolio) of these arguments; None: no filter."""
    states = (state,) if isinstance(state, str) else tuple(state or ())
    flt = PortfolioFilter(open_only=open_only, journey=journey or None, owner=owner or None, persona=persona or None,
                          states=states, text=text or None)
    return None if flt == PortfolioFilter(open_only=False) else flt


def _filter_ids(session: Session, **filters: Any) -> set[int] | None:
    """The opportunity ids the portfolio filter allows (None: no filter)."""
    flt = _portfolio_filter(**filters)
    return None if flt is None else portfolio_ids(session, flt)


def rank_portfolio(session: Session, *, journey: str | None = None, state: str | Iterable[str] | None = None,
                   owner: str | None = None, persona: str | None = None, limit: int | None = None,
                   explain: bool = True, today: dt.date | None = None, text: str | None = None,
                   open_only: bool = False) -> list[dict[str, Any]]:
    """The opportunity portfolio, best first, with score, rank and explanation (which inputs and weights produced it).

    Filters: the portfolio filter of govern.queries.portfolio (`journey` means its whole subtree, `state` one or
    several, `owner` by handle, `persona`, `text`, `open_only`; unknown names are NotFound). Scores are computed over the whole portfolio
    (a weighted model normalises across all of it), so a filter never changes a score, only which rows are shown; ranks
    are positions in the filtered list. Ties: higher raw score, then stronger evidence, then the older opportunity
    (lower number). Unscorable opportunities (missing inputs) come last with `rank` None and the inputs they lack.
    """
    config = scoring_config(session)
    today = today or utcnow().date()
    flt = _portfolio_filter(journey=journey, state=state, owner=owner, persona=persona, text=text,
                            open_only=open_only)
    journey_models = _journey_models(session, config)
    model = _model_scored_in_sql(config, journey_models)
    if limit is not None and model is not None:
        # A page: the database scores and orders them all and returns the page (govern.scoring.sql); the same scores
        # as the Python path, to the last bit.
        names, bounds, ranked = _rank_in_sql(session, model, flt, limit, today)
    else:
        names, bounds, ranked = _rank_in_python(session, config, journey_models, flt, limit, today)
    people = {p.id: p.handle for p in reference(session).people}
    journeys = _journey_keys(session, [r.key.id for r in ranked]) if explain else {}
    out = []
    with _gc_paused():  # a whole portfolio is 100,000 new dicts: no collection passes over them while they are made
        for entry in ranked:
            row = entry.key
            item: dict[str, Any] = {
                "rank": entry.rank, "key": f"OPP-{row.number}", "number": row.number, "title": row.title,
                "state": row.state, "owner": people.get(row.owner_id), "model": row.model,
                "score": None if row.value is None else round(row.value, 4),
                "relative_score": None if entry.relative is None else round(entry.relative, 2),
                "evidence_strength": row.strength, "evidence_count": row.evidence[0],
            }
            if explain:
                score = config.models[row.model].score(row.values(names), bounds[row.model])
                item.update(journeys=journeys.get(row.id, []), inputs=score.inputs, terms=score.terms,
                            explanation=score.explanation, missing=score.missing, error=score.error)
            else:  # an unscored opportunity says what it lacks, even in a short listing
                item["missing"] = ([] if row.value is not None else
                                   config.models[row.model].missing(row.values(names)))
            out.append(item)
    return out


def _rank_in_python(session: Session, config: ScoringConfig, journey_models: Mapping[int, str],
                    flt: PortfolioFilter | None, limit: int | None, today: dt.date
                    ) -> tuple[list[str], dict[str, Any], list[Ranked]]:
    """(input names, bounds per model, ranked rows): the whole portfolio loaded and scored here, any models."""
    allowed = None if flt is None else portfolio_ids(session, flt)
    with _gc_paused():
        names, rows = _load_portfolio(session, config, today)
        bounds = _score_rows(session, config, names, rows, journey_models)
        if allowed is not None:
            rows = [row for row in rows if row.id in allowed]
        return names, bounds, _ranked(rows, limit)


def _model_scored_in_sql(config: ScoringConfig, journey_models: Mapping[int, str]) -> ScoringModel | None:
    """The model the database scores the whole portfolio with, when one model with a positional formula (RICE, ICE,
    WSJF) scores every opportunity (no journey names a model of its own); None: the portfolio is scored in Python."""
    model = config.model(config.default)
    return model if not journey_models and model.fast(model.recorded_inputs) is not None else None


def _ranking_order(columns: Any) -> tuple:
    """The ranking's order in SQL, as :func:`_ranked` orders in Python: score (unscored last), then stronger
    evidence, then the older opportunity."""
    return (sa.desc(columns.score).nulls_last(), columns.strength.desc(), columns.number)


def _ranked(rows: list[_Row], limit: int | None = None) -> list[Ranked]:
    """Scored rows in ranking order (ties: stronger evidence, then the older opportunity), cut to `limit`."""
    return rank([(row, row.model, row.value, (-row.strength, row.number)) for row in rows], limit)


def _scored_in_sql(session: Session, model: ScoringModel, clauses: list, today: dt.date, *,
                   slim: bool = False, keep: list[str] | None = None) -> sa.CTE:
    """The portfolio's opportunities (under `clauses`) scored by the database under one positional model (CTE
    "scored": id, number, title, state, owner_id, insights, journeys, sources, newest, in_0 … in_n in the model's
    recorded inputs' order, strength, score; `slim`: id, number, strength, score only; `keep`: those columns, then
    strength and score). Materialised: each opportunity is scored once however often the statement reads the CTE."""
    names = model.recorded_inputs
    columns = [f"in_{i}" for i in range(len(names))]
    if slim:
        keep = ["id", "number"]
    # Only the opportunity's columns kept are carried through the scoring subqueries (a title is wide).
    shown = [c for c in (Opportunity.title, Opportunity.state, Opportunity.owner_id) if keep is None or c.key in keep]
    summary = EvidenceSummary
    inputs = _recorded_inputs(names)
    rows = (
        sa.select(Opportunity.id, Opportunity.number, *shown,
                  summary.insight_count.label("insights"), summary.journey_count.label("journeys"),
                  summary.source_count.label("sources"), summary.newest_observed_on.label("newest"),
                  summary.weighted_count.label("weighted"), *[inputs.c[c] for c in columns])
        .outerjoin(summary, summary.opportunity_id == Opportunity.id)
        .outerjoin(inputs, inputs.c.opp_id == Opportunity.id)
        .where(*clauses)
    )
    scored, _score = scored_query(rows, today=today, dialect=session.get_bind().dialect.name,
                                  formula=model.positional(), evidence_weight=model.evidence_weight, inputs=columns,
                                  keep=keep)
    return scored.cte("scored").prefix_with("MATERIALIZED")


def _rank_in_sql(session: Session, model: ScoringModel, flt: PortfolioFilter | None, limit: int | None,
                 today: dt.date) -> tuple[list[str], dict[str, Any], list[Ranked]]:
    """:func:`rank` of the (filtered) portfolio under one positional model, computed by the database in one statement:
    every opportunity scored once, ordered (score, then evidence strength, then the older opportunity; unscored last)
    and cut to `limit`; the lowest and highest score (for the relative score) come from the same scored rows, and only
    the rows returned are joined to what the page shows."""
    names = model.recorded_inputs
    columns = [f"in_{i}" for i in range(len(names))]
    clauses = filter_clauses(session, flt) if flt is not None else []
    scored = _scored_in_sql(session, model, clauses, today, slim=True)
    page = sa.select(scored).order_by(*_ranking_order(scored.c))
    if limit is not None:
        page = page.limit(max(0, int(limit)))
    page = page.subquery("page")
    summary = EvidenceSummary
    shown = _recorded_inputs(names)
    query = (
        sa.select(page, Opportunity.title, Opportunity.state, Opportunity.owner_id,
                  summary.insight_count, summary.journey_count, summary.source_count, summary.newest_observed_on,
                  *[shown.c[c] for c in columns],
                  sa.select(sa.func.min(scored.c.score)).scalar_subquery().label("low"),
                  sa.select(sa.func.max(scored.c.score)).scalar_subquery().label("high"))
        .join(Opportunity, Opportunity.id == page.c.id)
        .outerjoin(summary, summary.opportunity_id == page.c.id)
        .outerjoin(shown, shown.c.opp_id == page.c.id)
        .order_by(*_ranking_order(page.c))
    )
    ranked = []
    for position, r in enumerate(session.connection().execute(query), start=1):
        row = _Row(r.id, r.number, r.title, r.state, r.owner_id, [getattr(r, c) for c in columns],
                   _evidence(r.insight_count, r.journey_count, r.source_count, r.newest_observed_on, today),
                   r.strength)
        row.model, row.value = model.name, r.score
        span = None if r.low is None else r.high - r.low
        relative = None if r.score is None else (100.0 if span == 0 else 100.0 * (r.score - r.low) / span)
        ranked.append(Ranked(row, model.name, r.score, relative, None if r.score is None else position))
    return names, {model.name: None}, ranked


@dataclass
class StateColumn:
    """One lifecycle state's part of the (filtered) ranking: how many opportunities it holds, and the best of them
    (at most the number asked for) in ranking order."""

    state: str
    count: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)


def rank_by_state(session: Session, *, per_state: int | None, journey: str | None = None, owner: str | None = None,
                  persona: str | None = None, text: str | None = None, today: dt.date | None = None
                  ) -> dict[str, StateColumn]:
    """The filtered portfolio's ranking cut into its states: {state: column}, each column with its count and its first
    `per_state` rows (every row: None) in the order of :func:`rank_portfolio` — the board's columns.

    A row is what a card shows: key, number, title, state, owner (handle), model, score, evidence_strength,
    evidence_count, and `rank`, its position in its state's column (None when unscored). When one positional model
    scores every opportunity, the database scores, numbers each state's rows and cuts them in one statement (only the
    rows shown leave it); otherwise the portfolio is ranked in Python and cut the same way — the same rows either way.
    """
    config = scoring_config(session)
    today = today or utcnow().date()
    flt = _portfolio_filter(journey=journey, owner=owner, persona=persona, text=text)
    journey_models = _journey_models(session, config)
    model = _model_scored_in_sql(config, journey_models)
    people = {p.id: p.handle for p in reference(session).people}
    columns: dict[str, StateColumn] = {}
    if model is not None:
        for r in _top_per_state_in_sql(session, model, flt, per_state, today):
            column = columns.get(r.state) or columns.setdefault(r.state, StateColumn(r.state, r.in_state))
            if per_state is None or len(column.rows) < per_state:
                column.rows.append(_card_row(r.number, r.title, r.state, people.get(r.owner_id), model.name,
                                             r.score, r.strength, r.insights or 0, r.position))
        return columns
    _names, _bounds, ranked = _rank_in_python(session, config, journey_models, flt, None, today)
    for entry in ranked:
        row = entry.key
        column = columns.get(row.state) or columns.setdefault(row.state, StateColumn(row.state))
        column.count += 1
        if per_state is None or len(column.rows) < per_state:
            column.rows.append(_card_row(row.number, row.title, row.state, people.get(row.owner_id), row.model,
                                         row.value, row.strength, row.evidence[0], column.count))
    return columns


def _card_row(number: int, title: str, state: str, owner: str | None, model: str, score: float | None,
              strength: float, evidence_count: int, position: int) -> dict[str, Any]:
    return {"key": f"OPP-{number}", "number": number, "title": title, "state": state, "owner": owner, "model": model,
            "score": None if score is None else round(score, 4), "evidence_strength": strength,
            "evidence_count": evidence_count, "rank": None if score is None else position}


def _top_per_state_in_sql(session: Session, model: ScoringModel, flt: PortfolioFilter | None,
                          per_state: int | None, today: dt.date) -> sa.CursorResult:
    """One statement: the (filtered) portfolio scored under one positional model, numbered within each state in
    ranking order (score, then evidence strength, then the older opportunity; unscored last), with each state's count;
    only the first `per_state` of each state (at least one, which carries the count) are returned, in state and
    ranking order, joined to their titles."""
    dialect = session.get_bind().dialect.name
    if flt is None:  # the unfiltered board: the same statement all day, built once (building it costs ~5 ms)
        key = (dialect, repr(model), per_state, today)  # a model is a frozen dataclass: its repr is its fields
        query = _UNFILTERED_TOP_PER_STATE.get(key)
        if query is None:
            if len(_UNFILTERED_TOP_PER_STATE) >= 16:
                _UNFILTERED_TOP_PER_STATE.clear()
            query = _UNFILTERED_TOP_PER_STATE[key] = _top_per_state_query(session, model, [], per_state, today)
        return session.connection().execute(query)
    return session.connection().execute(
        _top_per_state_query(session, model, filter_clauses(session, flt), per_state, today))


_UNFILTERED_TOP_PER_STATE: dict[tuple, sa.Select] = {}


def _top_per_state_query(session: Session, model: ScoringModel, clauses: list, per_state: int | None,
                         today: dt.date) -> sa.Select:
    scored = _scored_in_sql(session, model, clauses, today, keep=["id", "number", "state", "owner_id", "insights"])
    order = _ranking_order(scored.c)
    numbered = sa.select(
        scored, sa.func.row_number().over(partition_by=scored.c.state, order_by=order).label("position"),
        sa.func.count().over(partition_by=scored.c.state).label("in_state")).subquery("numbered")
    # Titles by a join, not a lookup per kept row: PostgreSQL cannot tell how few rows the cut keeps, and a lookup
    # for each of the 10,000 it expects costs the plan past jit_above_cost (40 ms of JIT compilation per request).
    query = (sa.select(numbered, Opportunity.title).join(Opportunity, Opportunity.id == numbered.c.id)
             .order_by(numbered.c.state, numbered.c.position))
    if per_state is not None:
        query = query.where(numbered.c.position <= max(1, int(per_state)))
    return query


def _journey_keys(session: Session, opp_ids: list[int]) -> dict[int, list[str]]:
    query = (sa.select(opportunity_journey.c.opportunity_id, Journey.key)
             .join(Journey, Journey.id == opportunity_journey.c.journey_id).order_by(Journey.id))
    if len(opp_ids) <= 500:
        query = query.where(opportunity_journey.c.opportunity_id.in_(opp_ids))
    out: dict[int, list[str]] = {}
    for opp_id, key in session.execute(query):
        out.setdefault(opp_id, []).append(key)
    return out


QUADRANTS = {
    (True, False): "quick win",     # high value, low effort
    (True, True): "big bet",        # high value, high effort
    (False, False): "fill-in",      # low value, low effort
    (False, True): "money pit",     # low value, high effort
}


def value_effort_matrix(session: Session, *, journey: str | None = None, state: str | Iterable[str] | None = None,
                        owner: str | None = None, persona: str | None = None,
                        today: dt.date | None = None) -> dict[str, Any]:
    """Data for the value/effort chart: one point per scorable opportunity, split into quadrants at the medians.

    Value and effort come from the model's own inputs (see :meth:`ScoringModel.value_effort`); opportunities without both are
    listed under `unplaced`.
    """
    config = scoring_config(session)
    today = today or utcnow().date()
    allowed = _filter_ids(session, journey=journey, state=state, owner=owner, persona=persona)
    with _gc_paused():
        names, rows = _load_portfolio(session, config, today)
        _score_rows(session, config, names, rows)
    points, unplaced = [], []
    for row in sorted(rows, key=lambda r: r.number):
        if allowed is not None and row.id not in allowed:
            continue
        model = config.models[row.model]
        value, effort = model.value_effort(row.values(names), row.value)
        if value is None or effort is None:
            unplaced.append(f"OPP-{row.number}")
            continue
        points.append({"key": f"OPP-{row.number}", "title": row.title, "state": row.state, "model": row.model,
                       "value": round(value, 4), "effort": round(effort, 4),
                       "score": None if row.value is None else round(row.value, 4),
                       "evidence_strength": row.strength})
    value_mid = _median([p["value"] for p in points])
    effort_mid = _median([p["effort"] for p in points])
    for p in points:
        p["quadrant"] = QUADRANTS[(p["value"] >= value_mid, p["effort"] > effort_mid)]
    return {"points": points, "unplaced": unplaced, "value_median": value_mid, "effort_median": effort_mid,
            "axes": {"value": "value (the model's benefit inputs, or the score)",
                     "effort": "effort (the model's cost input)"},
            "quadrants": sorted(set(QUADRANTS.values()))}


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
