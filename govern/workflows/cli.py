"""CLI for opportunities' lifecycle (`govern opp …`) and lifecycle definitions (`govern workflows …`).

Every command delegates to `workflows.services`; refusals come back as domain errors that GovernGroup turns into a
message on stderr and an exit code (2 invalid input, 3 not found, 4 not allowed, 5 conflict / guards unmet).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from govern.audit import jsonable
from govern.cli.support import GovernGroup, as_option, get_runtime, resolve_actor
from govern.errors import NotFound
from govern.model import ApprovalRequest
from govern.queries.portfolio import PortfolioFilter, portfolio_query
from govern.queries.requests import pending_request, pending_requests
from govern.services.common import get_opportunity
from govern.services.opportunities import withdraw_opportunity
from govern.workflows import checklist, services
from govern.workflows.definition import load_definition, shipped_names
from govern.workflows.diagrams import edge_lines, to_mermaid, to_svg
from govern.workflows.engine import get_lifecycle

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _echo_json(value) -> None:
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def _request_for(session, ref: str) -> ApprovalRequest:
    """A request by its number (`12`, `#12`) or the pending request of an opportunity (`OPP-7`)."""
    text = ref.strip()
    if text.upper().startswith("OPP-"):
        opp = get_opportunity(session, text)
        request = pending_request(session, opp.id)
        if request is None:
            raise NotFound(f"{opp.key} has no pending request", {"opportunity": opp.key})
        return request
    return services._get_request(session, text)


@click.group(cls=GovernGroup)
def opp():
    """Opportunities: list, show, move, request, approve, reject, withdraw, history, awaiting."""


@opp.command("list")
@click.option("--state", help="Only opportunities in this state.")
@click.option("--journey", help="Only opportunities touching this journey or a journey below it (key).")
@click.option("--open", "open_only", is_flag=True, help="Only opportunities in an open state (active or evaluation).")
@as_option
@json_option
def opp_list(state, journey, open_only, as_handle, as_json):
    """List opportunities with their state and any pending request."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        actor.require("read")
        opps = session.scalars(portfolio_query(session, PortfolioFilter(
            open_only=open_only, journey=journey, states=(state,) if state else ()))).all()
        pending = {r.opportunity_id: r for r in pending_requests(session)}
        rows = [{"key": o.key, "state": o.state, "title": o.title, "owner": o.owner.handle if o.owner else None,
                 "version": o.version,
                 "pending": f"#{pending[o.id].id} {pending[o.id].trigger}" if o.id in pending else None}
                for o in opps]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no opportunities")
        return
    for r in rows:
        extra = f"  [awaiting approval: {r['pending']}]" if r["pending"] else ""
        click.echo(f"{r['key']:<8} {r['state']:<12} {r['title']}  (owner: {r['owner'] or '-'}){extra}")


@opp.command("show")
@click.argument("ref")
@as_option
@json_option
def opp_show(ref, as_handle, as_json):
    """Show an opportunity, what it may do next (with unmet guards) and its pending request."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        o = get_opportunity(session, ref)
        available = services.available_transitions(session, actor, o)
        pending = pending_request(session, o.id)
        status = services.approval_status(session, pending) if pending else None
        data = {"key": o.key, "title": o.title, "state": o.state, "state_reason": o.state_reason,
                "lifecycle": o.lifecycle, "owner": o.owner.handle if o.owner else None,
                "journeys": [j.key for j in o.journeys], "version": o.version, "available": available,
                "pending": {**services.request_dict(pending), "waiting_for": status.waiting_for()} if pending else None}
    if as_json:
        _echo_json(data)
        return
    click.echo(f"{data['key']}: {data['title']}")
    click.echo(f"  state: {data['state']}" + (f" ({data['state_reason']})" if data["state_reason"] else "")
               + f"   lifecycle: {data['lifecycle']}   version: {data['version']}")
    click.echo(f"  owner: {data['owner'] or '-'}   journeys: {', '.join(data['journeys'])}")
    if data["pending"]:
        p = data["pending"]
        click.echo(f"  awaiting approval: request #{p['id']} to {p['trigger']} ({p['from']} → {p['to']}), "
                   f"requested by {p['requested_by'] or 'the operator'}; waiting for {', '.join(p['waiting_for'])}")
    click.echo("  next:")
    for item in available:
        head = f"    {item['trigger']} → {item['to']}"
        notes = []
        if item["approval_text"]:
            notes.append(f"approval by {item['approval_text']}")
        if item["requires_reason"]:
            notes.append("reason required")
        click.echo(head + (f" ({'; '.join(notes)})" if notes else "") + (": ready" if item["ok"] else ":"))
        for unmet in item["unmet"]:
            click.echo(f"      - {unmet}")


def _move(ref, target, reason, version, as_handle):
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        result = services.request_transition(session, actor, ref, target, reason=reason, expected_version=version)
        click.echo(result.message)
        if result.request is not None:
            click.echo(f"request #{result.request.id}: approve with `govern opp approve {result.request.id} "
                       f"--as HANDLE`")


@opp.command("move")
@click.argument("ref")
@click.argument("target", metavar="TRIGGER_OR_STATE")
@click.option("--reason", help="Why (required for some transitions, e.g. park and reject).")
@click.option("--version", "version", type=int, help="The version you saw; refused if it changed since.")
@as_option
def opp_move(ref, target, reason, version, as_handle):
    """Move an opportunity now, or request approval when its lifecycle needs it."""
    _move(ref, target, reason, version, as_handle)


@opp.command("request")
@click.argument("ref")
@click.argument("target", metavar="TRIGGER_OR_STATE")
@click.option("--reason", help="Why (required for some transitions).")
@click.option("--version", "version", type=int, help="The version you saw; refused if it changed since.")
@as_option
def opp_request(ref, target, reason, version, as_handle):
    """Request a transition (the same as move: it moves at once when no approval is needed)."""
    _move(ref, target, reason, version, as_handle)


@opp.command("approve")
@click.argument("request_ref", metavar="REQUEST_OR_OPP")
@click.option("--reason", help="An optional note for the record.")
@as_option
def opp_approve(request_ref, reason, as_handle):
    """Approve a pending request (by number, or by the opportunity's key)."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        request = _request_for(session, request_ref)
        result = services.approve_request(session, actor, request.id, reason=reason)
        click.echo(result.message)


@opp.command("reject")
@click.argument("request_ref", metavar="REQUEST_OR_OPP")
@click.option("--reason", required=True, help="Why (mandatory).")
@as_option
def opp_reject(request_ref, reason, as_handle):
    """Reject a pending request, with a reason."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        request = _request_for(session, request_ref)
        services.reject_request(session, actor, request.id, reason)
        click.echo(f"rejected request #{request.id} ({request.trigger} {request.opportunity.key}): {reason}")


@opp.command("withdraw")
@click.argument("request_ref", metavar="REQUEST_OR_OPP")
@click.option("--reason", help="Why (optional).")
@as_option
def opp_withdraw(request_ref, reason, as_handle):
    """Withdraw a pending request (its requester, or the council)."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        request = _request_for(session, request_ref)
        services.withdraw_request(session, actor, request.id, reason)
        click.echo(f"withdrew request #{request.id} ({request.trigger} {request.opportunity.key})")


@opp.command("withdraw-opportunity")
@click.argument("opportunity")
@click.option("--reason", help="Why (optional; kept in the audit log).")
@as_option
def opp_withdraw_opportunity(opportunity, reason, as_handle):
    """Withdraw an opportunity of your own while it is in the lifecycle's first state (its evidence stays)."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        key = withdraw_opportunity(session, actor, opportunity, reason=reason)
        click.echo(f"withdrew {key}; its evidence is kept")


@opp.command("tick")
@click.argument("ref", metavar="OPP")
@click.argument("check", metavar="CHECK")
@click.option("--link", help="Where the evidence for the check is (required or refused as the check declares).")
@click.option("--note", help="An optional note for the record.")
@as_option
def opp_tick(ref, check, link, note, as_handle):
    """Tick a checklist check of an opportunity (the people the check names may)."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        tick = checklist.tick_check(session, actor, ref, check, link=link, note=note)
        key = get_opportunity(session, ref).key
        click.echo(f"ticked {tick.check} for {key}" + (f" ({tick.link})" if tick.link else ""))


@opp.command("untick")
@click.argument("ref", metavar="OPP")
@click.argument("check", metavar="CHECK")
@click.option("--reason", help="Why the tick is taken back (optional).")
@as_option
def opp_untick(ref, check, reason, as_handle):
    """Take back a checklist tick (the check's tickers may); the audit log keeps both."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        checklist.untick_check(session, actor, ref, check, reason=reason)
        click.echo(f"took back the tick of {check} for {get_opportunity(session, ref).key}")


@opp.command("history")
@click.argument("ref")
@as_option
@json_option
def opp_history(ref, as_handle, as_json):
    """Every request, decision and transition of an opportunity: who, when, why, on which guards."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        rows = services.opportunity_history(session, actor, ref)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no lifecycle history yet")
    for r in rows:
        at = r["at"].strftime("%Y-%m-%d %H:%M")
        what = {
            "opportunity.created": f"created in {r['to']}",
            "opportunity.transitioned": f"moved {r['from']} → {r['to']} ({r['trigger']})",
            "transition.requested": f"requested {r['trigger']} ({r['from']} → {r['to']}), request #{r['request']}",
            "approval.approved": f"approved request #{r['request']}",
            "approval.rejected": f"rejected request #{r['request']}",
            "approval.withdrawn": f"withdrew request #{r['request']}",
        }.get(r["action"], r["action"])
        click.echo(f"{at}  {r['actor']:<16} {what}" + (f" — {r['reason']}" if r["reason"] else ""))
        for g in (r.get("guards") or []) if r["action"] != "approval.approved" else []:
            click.echo(f"{'':>34}{'✓' if g['ok'] else '✗'} {g['message']}")


@opp.command("awaiting")
@as_option
@json_option
def opp_awaiting(as_handle, as_json):
    """What awaits me: pending requests I may approve (with --as); for the operator, every pending request."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        if actor.person_id is None:
            rows = []
            for request in pending_requests(session):
                status = services.approval_status(session, request)
                rows.append({**services.request_dict(request), "waiting_for": status.waiting_for(),
                             "title": request.opportunity.title, "capacities": []})
        else:
            rows = [a.to_dict() for a in services.pending_for(session, actor.person_id)]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("nothing awaits your approval" if as_handle else "no pending requests")
        return
    for r in rows:
        as_what = f" as {', '.join(r['capacities'])}" if r["capacities"] else ""
        click.echo(f"#{r['id']:<5} {r['opportunity']:<8} {r['trigger']} ({r['from']} → {r['to']}) "
                   f"requested by {r['requested_by'] or 'the operator'}{as_what}; waiting for "
                   f"{', '.join(r['waiting_for'])}")


# --- lifecycle definitions ---------------------------------------------------------------------------------------------


@click.group("workflows", cls=GovernGroup)
def workflows_group():
    """Lifecycle definitions: list, show and check."""


@workflows_group.command("list")
def workflows_list():
    """The lifecycle definitions shipped with govern."""
    for name in shipped_names():
        d = load_definition(name)
        click.echo(f"{name:<16} {d.title}: {' → '.join(s for s in d.states)}")


def _lifecycle(name: str):
    if name == "current":
        with get_runtime().db.session_scope() as session:
            return services.lifecycle_of(session)
    return get_lifecycle(name)


@workflows_group.command("show")
@click.argument("name", default="current")
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "svg"]), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
def workflows_show(name, fmt, output):
    """Draw a lifecycle (a shipped name, a file, or `current`: the one applied) with its guards and approvers."""
    lifecycle = _lifecycle(name)
    d = lifecycle.definition
    if fmt == "mermaid":
        text = to_mermaid(lifecycle)
    elif fmt == "svg":
        text = to_svg(lifecycle)
    else:
        lines = [f"{d.title} ({d.name}): starts in {d.initial}; final: {', '.join(d.final)}", ""]
        for s in d.states.values():
            lines.append(f"{s.name} ({s.title}; {s.kind}): {s.description}")
        lines.append("")
        for t in d.transitions:
            lines.append(f"{t.trigger}: {', '.join(t.sources)} → {t.dest}")
            for line in edge_lines(t):
                lines.append(f"    {line}")
        text = "\n".join(lines) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@workflows_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def workflows_check(file):
    """Validate a lifecycle definition file; every problem is listed with its place."""
    d = load_definition(file)
    click.echo(f"ok: lifecycle '{d.name}' with {len(d.states)} states and {len(d.transitions)} transitions")
