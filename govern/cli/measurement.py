"""CLI for KPIs, scoring, ranking and the maturity reading.

    govern kpi list | trend KEY | import FILE.csv | record KEY VALUE | evaluate OPP-7
    govern score OPP-7 [reach=2000 impact=2 …]
    govern rank [--journey KEY] [--state S] [--owner HANDLE] [--persona KEY]
    govern maturity

Every command delegates to govern.scoring / govern.kpis / govern.maturity; refusals come back as domain errors that
GovernGroup turns into a message and an exit code (2 invalid input, 3 not found, 4 not allowed, 5 conflict).
"""

from __future__ import annotations

import json

import click

from govern.audit import jsonable
from govern.queries.states import state_catalog
from govern.cli.support import GovernGroup, as_option, get_runtime, resolve_actor
from govern.errors import InvalidInput
from govern.maturity import STAGE_MEANINGS, SIGNALS, maturity_reading, rule_lines
from govern.kpis import (
    evaluate_opportunity, import_measurements_csv, kpi_trend, list_kpis, record_measurement,
)
from govern.scoring import (
    EVIDENCE_RULE, MODEL_RULES, model_for_opportunity, rank_portfolio, record_score_inputs, score_opportunity,
    scoring_config,
)
from govern.services.common import get_opportunity

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _echo_json(value) -> None:
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def _num(value) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return str(int(value))


# --- kpi ----------------------------------------------------------------------------------------------------------------


@click.group(cls=GovernGroup)
def kpi():
    """KPIs and measurements: list, trend, import, record, evaluate."""


@kpi.command("list")
@as_option
@json_option
def kpi_list(as_handle, as_json):
    """Every KPI with its scale, target, latest value and trend."""
    with get_runtime().db.session_scope() as session:
        resolve_actor(session, as_handle).require("read")
        rows = list_kpis(session)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("No KPIs defined (add them under `kpis:` in govern.yaml).")
        return
    click.echo(f"{'KPI':28} {'scale':22} {'latest':>8} {'prev':>8} {'target':>8}  {'trend':10} {'0-100':>6}  met")
    for r in rows:
        t = r["trend"]
        met = {True: "yes", False: "no", None: "–"}[t["target_met"]]
        click.echo(f"{r['key'][:28]:28} {r['scale_text'][:22]:22} {_num(t['latest']):>8} {_num(t['previous']):>8} "
                   f"{_num(r['target']):>8}  {t['direction']:10} {_num(t['normalised']):>6}  {met}")


@kpi.command("trend")
@click.argument("key")
@click.option("--since", help="Only measurements from this date on (YYYY-MM-DD).")
@as_option
@json_option
def kpi_trend_cmd(key, since, as_handle, as_json):
    """One KPI's measurements over time, its trend and whether the target is met."""
    with get_runtime().db.session_scope() as session:
        resolve_actor(session, as_handle).require("read")
        data = kpi_trend(session, key, since=since)
    if as_json:
        _echo_json(data)
        return
    t = data["trend"]
    click.echo(f"{data['name']} ({data['key']}): {data['scale_text']}; target {_num(data['target'])}")
    for m in data["measurements"]:
        mark = {True: "target met", False: "", None: ""}[m["target_met"]]
        click.echo(f"  {m['measured_at'][:10]}  {_num(m['value']):>8}  ({_num(m['normalised'])}/100)  {mark}")
    if not data["measurements"]:
        click.echo("  no measurements yet")
        return
    slope = t["slope_per_30_days"]
    change = "–" if t["change"] is None else f"{t['change']:+.4g}"
    per_month = "–" if slope is None else f"{slope:+.4g}"
    met = {True: "met", False: "not met", None: "not set"}[t["target_met"]]
    click.echo(f"latest {_num(t['latest'])}, previous {_num(t['previous'])}, change {change}; {t['direction']}; "
               f"slope {per_month} per 30 days; target {met}")


@kpi.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@as_option
def kpi_import(file, as_handle):
    """Import measurements from CSV (header: kpi,value,measured_at[,source]); all rows or none."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        if file == "-":
            summary = import_measurements_csv(session, actor, click.get_text_stream("stdin"))
        else:
            summary = import_measurements_csv(session, actor, file)
    per = ", ".join(f"{k} {n}" for k, n in summary["kpis"].items())
    click.echo(f"imported {summary['imported']} measurement(s): {per}")


@kpi.command("record")
@click.argument("key")
@click.argument("value")
@click.option("--at", "measured_at", help="When it was measured (YYYY-MM-DD or ISO time). Default: now.")
@click.option("--source", help="Where the number comes from.")
@as_option
def kpi_record(key, value, measured_at, source, as_handle):
    """Record one measurement of a KPI."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        m = record_measurement(session, actor, key, value, measured_at, source)
        click.echo(f"{key}: {_num(m.value)} at {m.measured_at.isoformat()} recorded")


@kpi.command("evaluate")
@click.argument("opportunity")
@as_option
@json_option
def kpi_evaluate(opportunity, as_handle, as_json):
    """Evaluate an opportunity now: each targeted KPI's latest measurement against its baseline and target."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        result = evaluate_opportunity(session, actor, opportunity)
    if as_json:
        _echo_json(result)
        return
    for o in result["outcomes"]:
        click.echo(f"  {o['text'] if o.get('verdict') else o['kpi'] + ': ' + o['note']}")
    click.echo(f"{result['opportunity']}: {result['overall_words'] or 'no outcome yet'}")


# --- score and rank -----------------------------------------------------------------------------------------------------


@click.command()
@click.argument("opportunity")
@click.argument("inputs", nargs=-1, metavar="[NAME=VALUE]...")
@as_option
@json_option
def score(opportunity, inputs, as_handle, as_json):
    """Show an opportunity's score and explanation; with NAME=VALUE pairs, record those scoring inputs first.

    Example: govern score OPP-7 reach=18000 impact=2 confidence=80 effort=3   (NAME= removes an input)
    """
    values = {}
    for item in inputs:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"'{item}' is not NAME=VALUE", {f"inputs.{item}": "write NAME=VALUE, e.g. reach=2000"})
        values[name.strip()] = value.strip() or None
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        opp = get_opportunity(session, opportunity)
        if values:
            result = record_score_inputs(session, actor, opp.key, values)
        else:
            actor.require("read")
            result = score_opportunity(session, opp)
        model = model_for_opportunity(session, opp)
    if as_json:
        _echo_json(result.as_dict())
        return
    click.echo(f"{opp.key} {opp.title}")
    click.echo(f"model {model.name} ({MODEL_RULES[model.kind]})")
    if result.value is None:
        click.echo(f"no score: {result.explanation}")
    else:
        click.echo(f"score {_num(result.value)}: {result.explanation}")


@click.command()
@click.option("--journey", help="Only opportunities touching this journey or any journey below it.")
@click.option("--state", multiple=True, help="Only opportunities in this state (repeatable).")
@click.option("--owner", help="Only opportunities owned by this person (handle).")
@click.option("--persona", help="Only opportunities touching a journey seen through this persona.")
@click.option("--limit", type=click.IntRange(min=1), help="Show only the top N.")
@as_option
@json_option
def rank(journey, state, owner, persona, limit, as_handle, as_json):
    """Rank the opportunity portfolio with the scoring model, and explain each rank."""
    with get_runtime().db.session_scope() as session:
        resolve_actor(session, as_handle).require("read")
        rows = rank_portfolio(session, journey=journey, state=list(state) or None, owner=owner, persona=persona,
                              limit=limit)
        config = scoring_config(session)
        states = state_catalog(session)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("No opportunities match.")
        return
    click.echo(f"default model: {config.default} ({MODEL_RULES[config.models[config.default].kind]})")
    for r in rows:
        place = f"{r['rank']:>3}." if r["rank"] else "  –."
        score = "not scored" if r["score"] is None else _num(r["score"])
        click.echo(f"{place} {r['key']:8} {score:>10}  es {r['evidence_strength']:>5}  "
                   f"{states.title_of(r['state']):12} {r['owner'] or '–':10} {r['title']}")
        if r["score"] is None and r.get("missing"):
            click.echo(f"       not scored yet: needs {', '.join(r['missing'])}")
        else:
            click.echo(f"       {r['explanation']}")
    click.echo(f"es = {EVIDENCE_RULE}")


# --- maturity -----------------------------------------------------------------------------------------------------------


@click.command()
@as_option
@json_option
def maturity(as_handle, as_json):
    """Print the organisation's maturity reading: the stage, the signals, what holds it back, and the rule."""
    with get_runtime().db.session_scope() as session:
        resolve_actor(session, as_handle).require("read")
        reading = maturity_reading(session)
    if as_json:
        _echo_json(reading.as_dict())
        return
    click.echo(f"Maturity: stage {reading.stage} of 5, {reading.name} — {STAGE_MEANINGS[reading.stage]}")
    click.echo("\nSignals:")
    for name, value in reading.signals.items():
        shown = "no data" if value is None else f"{value:.0%}"
        click.echo(f"  {SIGNALS[name]:62} {shown:>7}")
    if reading.held_back:
        click.echo(f"\nHeld back from stage {reading.stage + 1} by:")
        for s in reading.held_back:
            click.echo(f"  - {s.sentence()}")
    else:
        click.echo("\nNothing holds it back: this is the top stage.")
    click.echo("\nThe rule:")
    for line in rule_lines():
        click.echo(f"  {line}")
