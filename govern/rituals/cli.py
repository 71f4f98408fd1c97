"""CLI for rituals (`govern rituals …`) and the scheduler process (`govern scheduler`).

Every command delegates to `rituals.services`; refusals come back as domain errors that GovernGroup turns into a message
on stderr and an exit code (2 invalid input, 3 not found, 4 not allowed, 5 conflict).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path

import click

from govern.audit import jsonable
from govern.errors import InvalidInput
from govern.yamltext import load_yaml, read_text_file
from govern.cli.support import CommandFailed, GovernGroup, as_option, get_runtime, resolve_actor
from govern.rituals import agenda as agenda_mod
from govern.rituals import services
from govern.rituals.cadence import as_utc, describe, zone
from govern.rituals.scheduler import RitualScheduler, clock_from_spec

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
at_option = click.option("--at", "at", metavar="TIME",
                         help="The occurrence's start, e.g. 2026-04-01T10:00 (the ritual's local time) or with "
                              "Z or an offset.")


def _echo_json(value) -> None:
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def _local(ritual, at) -> str:
    return as_utc(at).astimezone(zone(ritual.timezone)).strftime("%a %Y-%m-%d %H:%M %Z")


@click.group(cls=GovernGroup)
def rituals():
    """Rituals: list, next, agenda, hold, skip, calendar-token, follow-ups."""


@rituals.command("list")
@as_option
@json_option
def list_command(as_handle, as_json):
    """List the rituals with their cadence and next occurrence."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        rows = []
        for ritual in services.list_rituals(session, actor):
            nxt = services.upcoming(session, actor, ritual=ritual.key, limit=1)
            rows.append({
                "key": ritual.key, "name": ritual.name,
                "cadence": describe(ritual.cadence_kind, ritual.cadence, ritual.timezone),
                "duration_minutes": ritual.duration_minutes, "scope": agenda_mod.scope_label(session, ritual),
                "slack_channel": ritual.slack_channel, "piggyback_on": ritual.piggyback_on,
                "next": services.iso(nxt[0].scheduled_at) if nxt else None,
                "next_local": _local(ritual, nxt[0].scheduled_at) if nxt else None,
            })
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no rituals (add them to the rituals: section of govern.yaml and run govern apply)")
    for r in rows:
        extra = f"  during: {r['piggyback_on']}" if r["piggyback_on"] else ""
        click.echo(f"{r['key']:<28} {r['name']}  [{r['cadence']}]  next: {r['next_local'] or '-'}"
                   f"  {r['slack_channel'] or ''}{extra}")


@rituals.command("next")
@click.argument("ritual", required=False)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 500))
@as_option
@json_option
def next_command(ritual, limit, as_handle, as_json):
    """The next occurrences (of one ritual, or of all), soonest first."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        rows = [{"ritual": u.ritual.key, "name": u.ritual.name, "scheduled_at": services.iso(u.scheduled_at),
                 "local": _local(u.ritual, u.scheduled_at), "status": u.status,
                 "occurrence_id": u.occurrence.id if u.occurrence else None}
                for u in services.upcoming(session, actor, ritual=ritual, limit=limit)]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['local']:<30} {r['ritual']:<28} {r['status']}")


@rituals.command("agenda")
@click.argument("ritual")
@at_option
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("--fresh", is_flag=True, help="Rebuild from live data even if the agenda was already posted.")
@click.option("--publish", is_flag=True, help="Build it now and announce it in the ritual's channel (once per occurrence).")
@as_option
def agenda_command(ritual, at, fmt, fresh, publish, as_handle):
    """The agenda of the next occurrence (or the one --at TIME): as posted, or built now from live data."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        if publish:
            occurrence = services.publish_agenda(session, actor, ritual, at=at)
            agenda = occurrence.agenda
            click.echo(f"agenda of {occurrence.ritual.name} ({services._local(occurrence.ritual, occurrence)}) "
                       f"queued for {occurrence.ritual.slack_channel or 'no channel (none configured)'}", err=True)
        else:
            agenda = services.agenda_for(session, actor, ritual, at=at, fresh=fresh)
    if fmt == "json":
        _echo_json(agenda)
    else:
        click.echo(agenda_mod.to_markdown(agenda), nl=False)


def _parse_follow_up(text: str) -> dict:
    owner, sep1, rest = text.partition(":")
    due, sep2, what = rest.partition(":")
    if not (sep1 and sep2 and what.strip()):
        raise click.BadParameter(f"write OWNER:YYYY-MM-DD:TEXT, got {text!r}", param_hint="--follow-up")
    return {"owner": owner.strip(), "due_on": due.strip(), "text": what.strip()}


@rituals.command("hold")
@click.argument("ritual")
@at_option
@click.option("--present", multiple=True, metavar="HANDLE", help="Who attended (repeat, or comma-separated).")
@click.option("--absent", multiple=True, metavar="HANDLE", help="Who was expected but absent.")
@click.option("--notes", help="Notes for the minutes.")
@click.option("--decision", "decision_texts", multiple=True, metavar="TEXT", help="A decision (repeat).")
@click.option("--approve", "approvals", multiple=True, metavar="OPP|#REQUEST",
              help="Approve the pending request of an opportunity (as --as; the lifecycle's rules apply).")
@click.option("--reject", "rejections", multiple=True, nargs=2, metavar="OPP|#REQUEST REASON",
              help="Reject a pending request, with the reason.")
@click.option("--follow-up", "follow_ups", multiple=True, metavar="OWNER:YYYY-MM-DD:TEXT",
              help="A follow-up action with its owner and due date (repeat).")
@click.option("--minutes", "minutes_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML or JSON with attendance, notes, decisions (text, opportunity, request, outcome, reason, "
                   "follow_ups) and follow_ups.")
@as_option
@json_option
def hold_command(ritual, at, present, absent, notes, decision_texts, approvals, rejections, follow_ups,
                 minutes_file, as_handle, as_json):
    """Record an occurrence as held (the latest that has begun, or --at TIME) with its minutes and decisions."""
    data: dict = {}
    if minutes_file:
        try:  # bounded like every file from outside (size, depth, aliases, plain data; the line named)
            data = load_yaml(read_text_file(minutes_file), str(minutes_file)) or {}
        except InvalidInput as exc:
            raise CommandFailed(exc.message, 2) from None
        if not isinstance(data, dict):
            raise CommandFailed(f"{minutes_file}: expected a mapping with attendance, notes, decisions", 2)
    attendance = data.get("attendance")
    if present or absent:
        attendance = dict(attendance or {})
        for group, here in ((present, True), (absent, False)):
            for item in group:
                for handle in filter(None, (h.strip() for h in item.split(","))):
                    attendance[handle] = here
    decisions = list(data.get("decisions") or [])
    decisions += [{"text": text} for text in decision_texts]
    for ref in approvals:
        decisions.append({"text": f"Approved {ref}", "outcome": "approve", **_request_ref(ref)})
    for ref, reason in rejections:
        decisions.append({"text": f"Rejected {ref}", "outcome": "reject", "reason": reason, **_request_ref(ref)})
    follow_up_items = list(data.get("follow_ups") or []) + [_parse_follow_up(f) for f in follow_ups]
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        r = services.get_ritual(session, ritual)
        occurrence = services.resolve_occurrence(session, r, at=at, default="last")
        session.commit()
        occurrence = services.hold_ritual(session, actor, occurrence.id, attendance=attendance,
                                          notes=notes if notes is not None else data.get("notes"),
                                          decisions=decisions, follow_ups=follow_up_items)
        record = services.minutes(session, actor, occurrence.id)
    if as_json:
        _echo_json(record)
        return
    o = record["occurrence"]
    click.echo(f"held: {o['ritual_name']} of {o['local_time']} (occurrence {o['id']})")
    for d in record["decisions"]:
        click.echo(f"  decision #{d['id']}: {d['text']}" + (f" [{d['outcome']}]" if d["outcome"] else ""))
        for f in d["follow_ups"]:
            click.echo(f"    follow-up #{f['id']}: {f['text']} ({f['owner']}, due {f['due_on']})")
    for f in record["follow_ups"]:
        click.echo(f"  follow-up #{f['id']}: {f['text']} ({f['owner']}, due {f['due_on']})")


def _request_ref(ref: str) -> dict:
    text = ref.strip()
    if text.startswith("#") or text.isdigit():
        return {"request": int(text.lstrip("#"))}
    return {"opportunity": text}


@rituals.command("skip")
@click.argument("ritual")
@at_option
@click.option("--reason", help="Why (shown in the minutes and the audit trail).")
@click.option("--cancel", is_flag=True, help="Cancel (the meeting is called off) rather than skip.")
@as_option
def skip_command(ritual, at, reason, cancel, as_handle):
    """Skip (or --cancel) the next occurrence, or the one --at TIME; no agenda is posted for it."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        r = services.get_ritual(session, ritual)
        occurrence = services.resolve_occurrence(session, r, at=at, default="next")
        session.commit()
        change = services.cancel_occurrence if cancel else services.skip_occurrence
        occurrence = change(session, actor, occurrence.id, reason=reason)
        click.echo(f"{occurrence.status}: {r.name} of {services._local(r, occurrence)} (occurrence {occurrence.id})")


@rituals.command("calendar-token")
@click.option("--ritual", "ritual_key", metavar="KEY", help="A feed of this ritual.")
@click.option("--person", metavar="HANDLE", help="A feed of the rituals this person attends.")
@click.option("--revoke", type=int, metavar="ID", help="Revoke the token with this id.")
@click.option("--list", "list_tokens", is_flag=True, help="List the tokens you can see.")
@as_option
def calendar_token_command(ritual_key, person, revoke, list_tokens, as_handle):
    """Create (or --revoke / --list) an unguessable calendar feed link to subscribe to from a calendar app."""
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        if list_tokens:
            for t in services.list_calendar_tokens(session, actor):
                what = f"ritual {t.ritual_id}" if t.ritual_id else f"person {t.person_id}"
                state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
                click.echo(f"#{t.id:<5} {what:<14} created {t.created_at:%Y-%m-%d}  {state}")
            return
        if revoke is not None:
            token = services.revoke_calendar_token(session, actor, revoke)
            click.echo(f"revoked calendar token #{token.id}; its link no longer works")
            return
        issued = services.create_calendar_token(session, actor, ritual=ritual_key, person=person)
    click.echo(f"{runtime.config.base_url.rstrip('/')}{issued.path}")
    click.echo(f"(token #{issued.token.id}; shown once — revoke with `govern rituals calendar-token --revoke "
               f"{issued.token.id}`)", err=True)


@rituals.command("follow-ups")
@click.option("--owner", metavar="HANDLE", help="Only this person's.")
@click.option("--ritual", "ritual_key", metavar="KEY", help="Only this ritual's.")
@click.option("--done", type=int, metavar="ID", help="Mark this follow-up done.")
@as_option
@json_option
def follow_ups_command(owner, ritual_key, done, as_handle, as_json):
    """Open follow-ups (they stay on the next agenda until done), or mark one --done."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        if done is not None:
            f = services.complete_follow_up(session, actor, done)
            click.echo(f"done: follow-up #{f.id} {f.text}")
            return
        rows = [services.follow_up_dict(f) for f in services.open_follow_ups(session, actor, owner=owner,
                                                                                ritual=ritual_key)]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no open follow-ups")
    for f in rows:
        click.echo(f"#{f['id']:<5} due {f['due_on'] or '-':<10} {f['owner'] or '-':<12} {f['text']}")


@click.command()
@click.option("--tick", "tick_seconds", type=float, default=30.0, show_default=True,
              help="Seconds between rounds (agendas also go out on time between rounds).")
@click.option("--name", help="This process's name in the occurrence records (default host:pid).")
@click.option("--once", is_flag=True, help="Run one round (lead if free, fire what is due) and exit.")
@click.option("--clock", "clock_spec", default=None, hidden=True,
              help="Tests: system, or compressed:ORIGIN:FACTOR:EPOCH|@FILE.")
@click.option("--fire-delay", type=float, default=0.0, hidden=True, help="Tests: hold each agenda build open.")
@click.option("--announce-dir", type=click.Path(file_okay=False, path_type=Path), default=None, hidden=True)
def scheduler(tick_seconds, name, once, clock_spec, fire_delay, announce_dir):
    """Run the ritual scheduler alone (leader-elected: start as many as you like, one leads)."""
    runtime = get_runtime()
    runtime.db.upgrade()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "alembic"):  # a line per tick or per migration plug-in is noise here
        logging.getLogger(noisy).setLevel(logging.WARNING)
    tick = max(tick_seconds, 0.05)
    try:
        clock = clock_from_spec(clock_spec)
    except ValueError as exc:
        raise CommandFailed(str(exc), 2) from None
    runner = RitualScheduler(runtime.db, clock=clock, instance_path=runtime.config.instance_path,
                             tick_seconds=tick, name=name, fire_delay=fire_delay, announce_dir=announce_dir)
    if once:
        report = runner.tick()
        runner.stop()
        click.echo(f"leader: {report.leader}; occurrences recorded: {report.synced}; fired: {report.fired}; "
                   f"missed: {report.missed}")
        return
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    runner.start()
    click.echo(f"ritual scheduler {runner.name} running (tick {tick:g}s); Ctrl+C to stop", err=True)
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        runner.stop()
