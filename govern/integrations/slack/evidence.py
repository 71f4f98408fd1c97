"""Slack's "Save as evidence" message shortcut: turn a message into an insight.

1. The shortcut (a `message_action` with callback_id `save_as_evidence`) opens a modal at once (views.open: the
   trigger_id lives 3 seconds) with the message's text — personal data scrubbed (e-mail addresses, phone and card
   numbers, Slack mentions) — the kind and the steps to pick; then the suggested steps (computed locally, named as
   suggestions) are added with views.update, so that computing them never delays the modal.
2. The submission (view_submission, same callback_id) records the insight as the submitter through
   `govern.services.evidence.record_evidence`, with the message's permalink (chat.getPermalink) as its link back and
   `slack` / `<channel>/<ts>` as its origin, so the same message is saved once. The message's author is not stored
   unless `slack.evidence_author: true` in govern.yaml; then the source names them.

Slack calls (users, views.open, chat.getPermalink, chat.postEphemeral) are made outside any database transaction.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import sqlalchemy as sa
from slack_sdk.errors import SlackApiError

from govern.errors import GovernError
from govern.model import Insight, Journey, Person, Step
from govern.queries.suggestions import StepDoc, step_documents, suggest_steps
from govern.services.common import get_setting
from govern.services.evidence import evidence_kinds, record_evidence
from govern.services.intake_mapping import scrub
from govern.integrations.slack import blocks
from govern.integrations.slack.approvals import ephemeral
from govern.integrations.slack.commands import actor_for, unmapped_text

log = logging.getLogger(__name__)

SAVE_AS_EVIDENCE = "save_as_evidence"  # the shortcut's callback_id (manifest.yaml) and the modal's
TEXT_BLOCK, TEXT_ACTION = "evidence_text", "text_input"
STEPS_BLOCK, STEPS_ACTION = "evidence_steps", "steps_select"
KIND_BLOCK, KIND_ACTION = "evidence_kind", "kind_select"
SOURCE_KEY = "slack"  # the origin of saved messages: (slack, "<channel>/<ts>") is unique
MAX_OPTIONS = 100  # Slack: at most 100 options in a select (option groups included)
MAX_TEXT = 3000  # a plain_text_input's initial value and max_length
_MENTION = re.compile(r"<[@!](?:[UWB][A-Z0-9]+|subteam\^[A-Z0-9]+|here|channel|everyone)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#C[A-Z0-9]+\|([^>]*)>")


def message_text(raw: str) -> str:
    """A Slack message as plain text with personal data scrubbed: mentions become "@someone", links their label (or
    address), channel references their name, Slack's &amp;/&lt;/&gt; are unescaped; then e-mail addresses, phone and
    card numbers are replaced (govern.services.intake_mapping.scrub)."""
    text = _MENTION.sub("@someone", raw or "")
    text = _CHANNEL.sub(lambda m: f"#{m.group(1)}", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return scrub(text).strip()


def _step_options(session, suggested: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """Option groups per journey (the suggested steps' journeys first), at most MAX_OPTIONS options in all."""
    rows = session.execute(sa.select(Journey.key, Journey.name, Step.key, Step.name)
                           .join(Step, Step.journey_id == Journey.id)
                           .order_by(Journey.position, Journey.id, Step.position, Step.id)).all()
    groups: dict[str, dict[str, Any]] = {}
    for jkey, jname, skey, sname in rows:
        groups.setdefault(jkey, {"label": blocks.plain(jname, 75), "options": []})["options"].append(
            {"text": blocks.plain(sname, 75), "value": f"{jkey}/{skey}"[:150]})
    first = list(dict.fromkeys(ref.partition("/")[0] for ref in suggested))
    ordered = [groups[k] for k in first if k in groups] + [g for k, g in groups.items() if k not in first]
    out, room, capped = [], MAX_OPTIONS, False
    for group in ordered:
        if room <= 0:
            capped = True
            break
        options = group["options"][:room]
        capped = capped or len(options) < len(group["options"])
        room -= len(options)
        out.append({"label": group["label"], "options": options})
    return out[:100], capped


def save_modal(text: str, kinds: tuple[str, ...], option_groups: list[dict[str, Any]], suggested: list[Any], *,
               capped: bool, metadata: dict[str, Any]) -> dict[str, Any]:
    kind_options = [{"text": blocks.plain(k, 75), "value": k} for k in kinds][:MAX_OPTIONS]
    initial_kind = next((o for o in kind_options if o["value"] == "quote"), kind_options[0])
    body: list[dict[str, Any]] = [
        {"type": "input", "block_id": TEXT_BLOCK, "label": blocks.plain("What did the customer say or do?", 2000),
         "element": {"type": "plain_text_input", "action_id": TEXT_ACTION, "multiline": True,
                     "initial_value": text[:MAX_TEXT], "max_length": MAX_TEXT}},
        {"type": "input", "block_id": KIND_BLOCK, "label": blocks.plain("Kind", 2000),
         "element": {"type": "static_select", "action_id": KIND_ACTION, "options": kind_options,
                     "initial_option": initial_kind}},
    ]
    if option_groups:
        body.append({"type": "input", "block_id": STEPS_BLOCK, "optional": True,
                     "label": blocks.plain("Steps it is about", 2000),
                     "hint": blocks.plain("None chosen: it waits in triage for the journey's people.", 2000),
                     "element": {"type": "multi_static_select", "action_id": STEPS_ACTION,
                                 "placeholder": blocks.plain("Choose steps", 150), "option_groups": option_groups}})
    notes = []
    if suggested:
        notes.append("Suggested steps (a suggestion, computed from the words): "
                     + ", ".join(f"{blocks.escape(s.journey)} › {blocks.escape(s.name)}" for s in suggested))
    if capped:
        notes.append(f"Only the first {MAX_OPTIONS} steps are listed; link more in the web app afterwards.")
    notes.append("E-mail addresses, phone and card numbers and mentions were removed from the text.")
    body.append(blocks.context(*notes))
    return {"type": "modal", "callback_id": SAVE_AS_EVIDENCE, "private_metadata": json.dumps(metadata)[:3000],
            "title": blocks.plain("Save as evidence", 24), "submit": blocks.plain("Save", 24),
            "close": blocks.plain("Cancel", 24), "blocks": body}


def open_save_modal(db, adapter, payload: dict[str, Any]) -> None:
    """The shortcut was used on a message: check the person may record evidence, then open the modal."""
    user_id = (payload.get("user") or {}).get("id", "")
    response_url = payload.get("response_url")
    message = payload.get("message") or {}
    channel = payload.get("channel") or {}
    ts = message.get("ts") or payload.get("message_ts")
    person_id = adapter.directory.person_id_for(db, user_id)
    note: tuple[str, str] | None = None
    view = None
    with db.session_scope() as session:
        person, actor = actor_for(session, person_id, user_id)
        text = message_text(message.get("text") or "")
        if person is None:
            note = (unmapped_text(user_id), ":bust_in_silhouette:")
        elif not actor.can("evidence.record"):
            note = ("You may not record evidence here; ask a coordinator of the journey.", ":lock:")
        elif not text:
            note = ("That message has no text to save as evidence.", ":information_source:")
        elif not channel.get("id") or not ts:
            note = ("I could not tell which message this is; nothing was saved.", ":warning:")
        else:
            existing = session.scalar(sa.select(Insight.number).where(
                Insight.source_key == SOURCE_KEY, Insight.external_id == f"{channel['id']}/{ts}"))
            if existing is not None:
                note = (f"This message is already saved as INS-{existing}.", ":information_source:")
            else:
                kinds = evidence_kinds(session)
                groups, capped = _step_options(session, [])
                metadata = {"channel": channel["id"], "channel_name": channel.get("name", ""), "ts": ts,
                            "author": message.get("user")}
                view = save_modal(text, kinds, groups, [], capped=capped, metadata=metadata)
    opened = None
    if view is not None:
        # Open first (the trigger_id expires in 3 seconds), then add the suggested steps with views.update.
        try:
            opened = adapter.client.views_open(trigger_id=payload.get("trigger_id"), view=view)["view"]
        except SlackApiError as err:
            log.warning("views.open failed: %s", err.response.get("error"))
            note = (f"I could not open the form (Slack said {err.response.get('error')}). Please try again.",
                    ":warning:")
    if note is not None:
        adapter.respond(response_url, ephemeral(*note))
    if opened is not None:
        _add_suggestions(db, adapter, opened, text, kinds, metadata)


def _add_suggestions(db, adapter, opened: dict[str, Any], text: str, kinds, metadata: dict[str, Any]) -> None:
    """The open modal again, its steps ordered and the suggested ones named (labelled a suggestion); the update is
    refused (hash_conflict) if the person changed the form meanwhile, which is fine: it stays as it was."""
    with db.session_scope() as session:
        docs: list[StepDoc] = step_documents(session)
        suggested = suggest_steps(text, docs, limit=3) if docs else []
        if not suggested:
            return
        groups, capped = _step_options(session, [s.step for s in suggested])
    view = save_modal(text, kinds, groups, suggested, capped=capped, metadata=metadata)
    try:
        adapter.client.views_update(view_id=opened["id"], hash=opened.get("hash"), view=view)
    except SlackApiError as err:
        log.info("views.update with suggestions skipped: %s", err.response.get("error"))


def _errors(block: str, message: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {block: message[:2000]}}


def handle_save_submission(db, adapter, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The modal was submitted: record the insight as the submitter. Returns `response_action: errors` to keep the
    modal open with the problem shown, or None to close it (and the submitter is told the insight's key)."""
    view = payload.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        channel, ts = str(meta["channel"]), str(meta["ts"])
    except (ValueError, KeyError, TypeError):
        return _errors(TEXT_BLOCK, "This form is out of date; use Save as evidence on the message again.")
    text = ((values.get(TEXT_BLOCK) or {}).get(TEXT_ACTION) or {}).get("value") or ""
    kind = (((values.get(KIND_BLOCK) or {}).get(KIND_ACTION) or {}).get("selected_option") or {}).get("value")
    steps = [o.get("value") for o in ((values.get(STEPS_BLOCK) or {}).get(STEPS_ACTION) or {}).get(
        "selected_options") or [] if isinstance(o, dict)]
    text = message_text(text)  # what was typed in the modal is scrubbed too
    if not text:
        return _errors(TEXT_BLOCK, "The text is required.")
    user_id = (payload.get("user") or {}).get("id", "")
    person_id = adapter.directory.person_id_for(db, user_id)
    author_id = meta.get("author")
    author_person = adapter.directory.person_id_for(db, author_id) if author_id else None
    try:
        permalink = adapter.client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
    except SlackApiError as err:
        log.warning("chat.getPermalink failed: %s", err.response.get("error"))
        permalink = None
    with db.session_scope() as session:
        person, actor = actor_for(session, person_id, user_id)
        if person is None:
            return _errors(TEXT_BLOCK, unmapped_text(user_id))
        external_id = f"{channel}/{ts}"
        existing = session.scalar(sa.select(Insight.number).where(Insight.source_key == SOURCE_KEY,
                                                                  Insight.external_id == external_id))
        if existing is not None:
            return _errors(TEXT_BLOCK, f"This message is already saved as INS-{existing}.")
        source = f"Slack #{meta.get('channel_name') or channel}"
        if (get_setting(session, "slack", {}) or {}).get("evidence_author") is True and author_person is not None:
            author = session.get(Person, author_person)
            if author is not None:
                source = f"{source}, message by {author.name}"
        try:
            insight = record_evidence(session, actor, text=text, source=source[:200], kind=kind or "quote",
                                      steps=steps, commit=False)
            insight.url, insight.source_key, insight.external_id = permalink, SOURCE_KEY, external_id
            session.commit()
        except GovernError as err:
            session.rollback()
            block = STEPS_BLOCK if "step" in str(err.details) else (KIND_BLOCK if "kind" in str(err.details)
                                                                    else TEXT_BLOCK)
            return _errors(block, err.message)
        key, where = insight.key, (", ".join(insight.step_refs) or "triage (no step chosen)")
    try:
        adapter.client.chat_postEphemeral(channel=channel, user=user_id,
                                          text=f"Saved as {key} on {where}.",
                                          blocks=blocks.notice(f"Saved as {key} on {where}.",
                                                               emoji=":white_check_mark:"))
    except SlackApiError as err:
        log.info("could not tell %s about %s: %s", user_id, key, err.response.get("error"))
    return None
