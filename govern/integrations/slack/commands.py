"""The `/journey` slash command: reads the text, finds who is asking, calls the same services as the API, answers
in Block Kit. It holds no rules: permissions, guards and approvals are the services' business.

Every answer is a dict ready for Slack (a slash-command response or a response_url post); nothing here raises to
the caller: malformed input gets the usage of its subcommand, domain errors their plain words, anything unexpected
a short apology (logged with its trace on our side, never shown).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.errors import GovernError, GuardsUnmet, InvalidInput, NotFound, PermissionDenied
from govern.model import Journey, Opportunity, Person, Ritual
from govern.policy import Actor
from govern.services import evidence as evidence_services
from govern.services import opportunities as opportunity_services
from govern.queries.portfolio import open_opportunities
from govern.queries.requests import pending_request
from govern.queries.states import state_catalog
from govern.services.common import get_opportunity, get_setting, load_actor
from govern.integrations.slack import blocks
from govern.vocabulary import DEFAULT as DEFAULT_WORDS, Vocabulary, vocabulary_of
from govern.integrations.slack.parsing import USAGES, Malformed, parse, split_on_quote
from govern.rituals import agenda as agenda_mod
from govern.rituals import services as ritual_services
from govern.scoring import score_opportunity
from govern.workflows.services import approve_request, pending_for, reject_request, request_transition

log = logging.getLogger(__name__)

DEFAULT_COMMAND = "/journey"
OPP_KEY = re.compile(r"^(?:OPP-)?\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class Invocation:
    """One slash command as Slack sent it (the fields we use)."""

    user_id: str
    text: str
    command: str = DEFAULT_COMMAND
    user_name: str = ""
    channel_id: str = ""
    response_url: str | None = None
    trigger_id: str | None = None


class Unmapped(Exception):
    """A write (or a question about "mine") by a Slack user we cannot match to a person."""

    def __init__(self, reading: bool = False):
        super().__init__("unmapped Slack user")
        self.reading = reading


@dataclass
class Context:
    session: Session
    invocation: Invocation
    person: Person | None
    actor: Actor
    command: str
    settings: dict[str, Any] = field(default_factory=dict)
    rest: str = ""  # the raw text after the subcommand (quotes kept)
    link: tuple[str, str] | None = None  # (path in the web app, what it shows): the answer links back to it

    def link_to(self, path: str, label: str) -> None:
        self.link = (path, label)

    def writer(self) -> Actor:
        """The actor for a write; an unmapped Slack user may read but not write."""
        if self.person is None:
            raise Unmapped()
        return self.actor


def slack_settings(session: Session) -> dict[str, Any]:
    value = get_setting(session, "slack", {}) or {}
    return value if isinstance(value, dict) else {}


def command_name(settings: dict[str, Any]) -> str:
    name = str(settings.get("command") or DEFAULT_COMMAND).strip()
    return name if name.startswith("/") else "/" + name


def viewer_for(slack_user_id: str) -> Actor:
    """How an unmapped Slack user acts: a viewer (reads everything, changes nothing)."""
    return Actor(person_id=None, handle=f"slack:{slack_user_id}", roles=frozenset({"viewer"}))


def actor_for(session: Session, person_id: int | None, slack_user_id: str) -> tuple[Person | None, Actor]:
    """The person (found beforehand by `SlackDirectory.person_id_for`, outside any transaction) and how they act."""
    person = session.get(Person, person_id) if person_id is not None else None
    if person is None:
        return None, viewer_for(slack_user_id)
    return person, load_actor(session, person)


def unmapped_text(slack_user_id: str, reading: bool = False) -> str:
    what = "I do not know what is yours" if reading else "I cannot make changes for you"
    return (f"I could not match your Slack account ({slack_user_id}) to a person in govern, so {what}. "
            "You can still read (status, list, agenda, owner). Ask an admin to add your Slack id or your "
            "Slack e-mail address to your entry under `people` in govern.yaml.")


# --- running a command ------------------------------------------------------------------------------------------------


def run(db, directory, invocation: Invocation, on_settings: Callable[[dict], None] | None = None,
        base_url: str | None = None) -> dict[str, Any]:
    """Answer one slash command (in its own session); always returns a Slack message body. `on_settings` sees the
    `slack` setting as read for this command (the adapter picks up its acknowledgement budget from it); with
    `base_url` (GOVERN_BASE_URL) an answer about something links back to it in the web app."""
    public = False
    command = invocation.command or DEFAULT_COMMAND
    words = DEFAULT_WORDS
    try:
        person_id = directory.person_id_for(db, invocation.user_id) if directory is not None else None
        with db.session_scope() as session:
            settings = slack_settings(session)
            words = vocabulary_of(session)
            if on_settings is not None:
                on_settings(settings)
            command = command_name(settings) if settings.get("command") else command
            person, actor = actor_for(session, person_id, invocation.user_id)
            ctx = Context(session, invocation, person, actor, command, settings)
            try:
                parsed = parse(invocation.text)
            except Malformed as bad:
                return _worded(usage(command, bad.subcommand, bad.problem), words)
            public = parsed.public
            if parsed.subcommand is None:
                return _worded(blocks.reply(f"I do not know '{parsed.word}'.",
                                    blocks.notice(f"I do not know '{parsed.word}'.", emoji=":thinking_face:")
                                    + blocks.help_blocks(command, USAGES)), words)
            handler = HANDLERS[parsed.subcommand]
            ctx.rest = parsed.rest
            try:
                text, body = handler(ctx, list(parsed.args))
            except Malformed as bad:
                return _worded(usage(command, bad.subcommand, bad.problem), words)
            if base_url and ctx.link and len(body) < 50:
                path, label = ctx.link
                body = [*body, blocks.context(f"<{base_url.rstrip('/')}{path}|Open {blocks.escape(label)} in the "
                                              "web app>")]
            return _worded(blocks.reply(text, body, in_channel=public), words)
    except Unmapped as unmapped:
        text = unmapped_text(invocation.user_id, unmapped.reading)
        return _worded(blocks.reply(text, blocks.notice(text, emoji=":bust_in_silhouette:")), words)
    except GovernError as err:
        return _worded(error_reply(err), words)
    except Exception:  # noqa: BLE001 - the user gets an apology, the log gets the trace
        log.exception("slack command failed: %r", invocation.text)
        text = "Something went wrong on our side; nothing was changed. Please try again in a moment."
        return _worded(blocks.reply(text, blocks.notice(text, emoji=":warning:")), words)


def _worded(reply: dict[str, Any], words: Vocabulary) -> dict[str, Any]:
    """Every text of a reply in the organisation's words: `{opportunity}` → "improvement idea" (escaped for mrkdwn)."""
    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return words.fill(value, escape=blocks.escape)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value
    return walk(reply)


def usage(command: str, subcommand: str, problem: str | None = None) -> dict[str, Any]:
    line, does = USAGES[subcommand]
    return blocks.reply(f"Usage: {command} {line}", blocks.usage_blocks(command, line, does, problem))


def error_reply(err: GovernError) -> dict[str, Any]:
    """A domain error in plain words (guards listed one per line)."""
    if isinstance(err, GuardsUnmet):
        unmet = (err.details or {}).get("unmet") or []
        head = err.message.split(":", 1)[0] if unmet else err.message
        text = head + (":\n" + "\n".join(f"• {u}" for u in unmet) if unmet else "")
        return blocks.reply(err.message, blocks.notice(text, emoji=":no_entry:"))
    emoji = {PermissionDenied: ":lock:", NotFound: ":mag:", InvalidInput: ":warning:"}.get(type(err), ":warning:")
    return blocks.reply(err.message, blocks.notice(err.message, emoji=emoji))


# --- references -------------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^\w'-]+", text.lower()) if w]


def find_opportunity(session: Session, ref: str) -> Opportunity:
    """By key (`OPP-12`, `12`) or by title words that match exactly one opportunity."""
    ref = ref.strip()
    if OPP_KEY.match(ref):
        return get_opportunity(session, ref)
    words = _words(ref)
    if not words:
        raise NotFound("which {opportunity}? Name it by key (OPP-12) or by words from its title", {"opportunity": ref})
    query = sa.select(Opportunity).order_by(Opportunity.number)
    for word in words:
        query = query.where(sa.func.lower(Opportunity.title).contains(word, autoescape=True))
    found = list(session.scalars(query.limit(6)))
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"no {{opportunity}} matches '{ref}'; try its key (e.g. OPP-12) or `list`", {"opportunity": ref})
    names = "; ".join(f"{o.key} {o.title}" for o in found[:5])
    raise NotFound(f"'{ref}' matches more than one {{opportunity}} ({names}{' …' if len(found) > 5 else ''}); "
                   "use its key", {"opportunity": ref})


def find_journey(session: Session, ref: str) -> Journey:
    """By key (`switching-providers`) or by name words that match exactly one journey."""
    journey = session.scalar(sa.select(Journey).where(sa.func.lower(Journey.key) == ref.strip().lower()))
    if journey is not None:
        return journey
    words = _words(ref)
    query = sa.select(Journey).order_by(Journey.key)
    for word in words:
        query = query.where(sa.func.lower(Journey.name).contains(word, autoescape=True))
    found = list(session.scalars(query.limit(6))) if words else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"no journey matches '{ref}'; use its key (e.g. switching-providers)", {"journey": ref})
    raise NotFound(f"'{ref}' matches several journeys ({', '.join(j.key for j in found[:5])}); use its key",
                   {"journey": ref})


def find_ritual(session: Session, ref: str) -> Ritual:
    ritual = session.scalar(sa.select(Ritual).where(sa.func.lower(Ritual.key) == ref.strip().lower()))
    if ritual is not None:
        return ritual
    words = _words(ref)
    query = sa.select(Ritual).where(Ritual.active.is_(True)).order_by(Ritual.key)
    for word in words:
        query = query.where(sa.func.lower(Ritual.name).contains(word, autoescape=True))
    found = list(session.scalars(query.limit(6))) if words else []
    if len(found) == 1:
        return found[0]
    keys = ", ".join(session.scalars(sa.select(Ritual.key).where(Ritual.active.is_(True)).order_by(Ritual.key)))
    raise NotFound(f"no single ritual matches '{ref}' (rituals: {keys or 'none'})", {"ritual": ref})


def _score_text(session: Session, opp: Opportunity) -> str | None:
    try:
        score = score_opportunity(session, opp)
    except Exception:  # noqa: BLE001 - a score is a nicety on the status card
        log.warning("Slack status card: no score for opportunity %s", opp.key, exc_info=True)
        return None
    if score.value is None:
        return f"missing {', '.join(score.missing)}" if score.missing else None
    return f"{score.value:.1f} ({score.model})"


# --- subcommands: each returns (fallback text, blocks) ----------------------------------------------------------------


def cmd_help(ctx: Context, args: list[str]):
    return f"{ctx.command} help", blocks.help_blocks(ctx.command, USAGES)


def cmd_status(ctx: Context, args: list[str]):
    if not args:
        raise Malformed("status", "which {opportunity}?")
    opp = find_opportunity(ctx.session, " ".join(args))
    pending = [r for r in [pending_request(ctx.session, opp.id)] if r is not None]
    ctx.link_to(f"/opportunities/{opp.key}", opp.key)
    states = state_catalog(ctx.session, opp.lifecycle)
    return blocks.escape(f"{opp.key} {opp.title}: {states.title_of(opp.state)}"), blocks.opportunity_status(
        opp, score=_score_text(ctx.session, opp), pending=pending, states=states)


def cmd_list(ctx: Context, args: list[str]):
    what = " ".join(args).strip()
    ctx.link_to("/opportunities", "every opportunity")
    if what.lower() == "awaiting":
        if ctx.person is None:
            raise Unmapped(reading=True)
        awaiting = [a.request for a in pending_for(ctx.session, ctx.person.id)]
        return f"{len(awaiting)} request(s) await you", blocks.approval_list("Awaiting your approval", awaiting,
                                                                             states=state_catalog(ctx.session))
    if what.lower() == "all" or (what == "" and ctx.person is None):
        found = open_opportunities(ctx.session)
        body = blocks.opportunity_list("Open {opportunities}", found, states=state_catalog(ctx.session))
        if what == "":  # say why a bare `list` shows everything here, and how to get one's own
            body.append(blocks.context("Every open {opportunity}: Slack could not tell who you are, so there is no "
                                       "“yours”. `list all` always shows them all; `list JOURNEY` one journey's."))
        return f"{len(found)} open {{opportunities}}", body
    if what.lower() in ("", "mine"):
        if ctx.person is None:
            raise Unmapped(reading=True)
        found = open_opportunities(ctx.session, owner=ctx.person.handle)
        body = blocks.opportunity_list("Your open {opportunities}", found, empty="You own no open {opportunities}.",
                                     states=state_catalog(ctx.session))
        body.append(blocks.context("The {opportunities} you own. `list all` for every open one, `list awaiting` for "
                                   "requests awaiting you, `list JOURNEY` for one journey's."))
        return f"{len(found)} open {{opportunities}} of yours", body
    journey = find_journey(ctx.session, what)
    ctx.link_to(f"/journeys/{journey.key}", journey.name)
    found = open_opportunities(ctx.session, journey=journey.key)
    return blocks.escape(f"{len(found)} open {{opportunities}} in {journey.name}"), blocks.opportunity_list(
        f"Open {{opportunities}} in {journey.name}", found, states=state_catalog(ctx.session))


def _kind_of(session: Session, source: str) -> str:
    word = source.strip().lower().replace(" ", "_")
    kinds = evidence_services.evidence_kinds(session)
    return next((k for k in (word, word.rstrip("s")) if k in kinds), "other")


def cmd_evidence(ctx: Context, args: list[str]):
    # The opportunity is everything before the quoted evidence (a key or title words), the source what follows.
    parts = split_on_quote(ctx.rest)
    if parts is None or not parts[0]:
        raise Malformed("evidence", "give the {opportunity}, then the evidence in quotes"
                        if args else "which {opportunity}, and what evidence?")
    ref, text, source = parts
    if not text.strip():
        raise Malformed("evidence", "the evidence text is empty")
    source = source.strip().strip('"').strip("'").strip() or "Slack"
    actor = ctx.writer()
    opp = find_opportunity(ctx.session, ref)
    ctx.link_to(f"/opportunities/{opp.key}", opp.key)
    insight = evidence_services.record_evidence(ctx.session, actor, text=text.strip(), source=source,
                                                kind=_kind_of(ctx.session, source), commit=False)
    opportunity_services.link_evidence(ctx.session, actor, opp.key, [insight.key])  # commits both, once
    return f"Recorded {insight.key} on {opp.key}", blocks.evidence_recorded(insight, opp)


def cmd_move(ctx: Context, args: list[str]):
    if len(args) < 2:
        raise Malformed("move", "give the {opportunity} and the state to move it to")
    actor = ctx.writer()
    opp = find_opportunity(ctx.session, args[0])
    ctx.link_to(f"/opportunities/{opp.key}", opp.key)
    reason = " ".join(args[2:]).strip() or None
    result = request_transition(ctx.session, actor, opp.key, args[1].lower(), reason=reason)
    emoji = ":white_check_mark:" if result.moved else ":hourglass_flowing_sand:"
    message = result.message[0].upper() + result.message[1:] if result.message else "Done."
    return message, blocks.notice(message, emoji=emoji)


def cmd_approve(ctx: Context, args: list[str]):
    if not args:
        raise Malformed("approve", "which {opportunity}?")
    actor = ctx.writer()
    opp = find_opportunity(ctx.session, " ".join(args))
    ctx.link_to(f"/opportunities/{opp.key}", opp.key)
    request = pending_request(ctx.session, opp.id)
    if request is None:
        raise NotFound(f"{opp.key} has no request awaiting approval", {"opportunity": opp.key})
    result = approve_request(ctx.session, actor, request.id)
    message = result.message[0].upper() + result.message[1:]
    return message, blocks.notice(message, emoji=":white_check_mark:")


def cmd_reject(ctx: Context, args: list[str]):
    if len(args) < 2:
        raise Malformed("reject", "a reason is required")
    actor = ctx.writer()
    opp = find_opportunity(ctx.session, args[0])
    ctx.link_to(f"/opportunities/{opp.key}", opp.key)
    request = pending_request(ctx.session, opp.id)
    if request is None:
        raise NotFound(f"{opp.key} has no request awaiting approval", {"opportunity": opp.key})
    reason = " ".join(args[1:])
    reject_request(ctx.session, actor, request.id, reason)
    states = state_catalog(ctx.session, opp.lifecycle)
    message = (f"Rejected the request for {opp.key} "
               f"({states.title_of(request.from_state)} → {states.title_of(request.to_state)})")
    return message, blocks.notice(f"{message}: {reason}", emoji=":x:")


def cmd_agenda(ctx: Context, args: list[str]):
    if args:
        ritual = find_ritual(ctx.session, " ".join(args))
    else:
        soonest = ritual_services.upcoming(ctx.session, ctx.actor, limit=1)
        if not soonest:
            return "No rituals are scheduled.", blocks.notice("No rituals are scheduled.")
        ritual = soonest[0].ritual
    agenda = ritual_services.agenda_for(ctx.session, ctx.actor, ritual.key)
    return blocks.escape(agenda_mod.summary_text(agenda)), blocks.agenda_blocks(agenda)


def cmd_owner(ctx: Context, args: list[str]):
    if not args:
        raise Malformed("owner", "which journey?")
    journey = find_journey(ctx.session, " ".join(args))
    ctx.link_to(f"/journeys/{journey.key}", journey.name)
    owner = journey.owner
    text = blocks.escape(f"{journey.name} is owned by {owner.name}" if owner else f"{journey.name} has no owner")
    return text, blocks.owner_blocks(journey)


HANDLERS: dict[str, Callable[[Context, list[str]], tuple[str, list[dict[str, Any]]]]] = {
    "help": cmd_help, "status": cmd_status, "list": cmd_list, "evidence": cmd_evidence, "move": cmd_move,
    "approve": cmd_approve, "reject": cmd_reject, "agenda": cmd_agenda, "owner": cmd_owner,
}

# Subcommands that are always finished through response_url (they build something from much of the data).
DEFERRED = {"agenda"}
