"""Block Kit builders: what govern says in Slack, kept within Slack's limits (3,000 characters a section, 50 blocks).

Builders take domain objects (or plain values) and return lists of blocks; `reply()` wraps them into a slash-command
or response_url answer. Every message also carries a plain `text` fallback for notifications and screen readers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence
import json

from govern.escaping import slack_text
from govern.kpis.verdicts import VERDICT_MARKS, outcome_text
from govern.queries.states import ACTIVE, EVALUATION, FINAL, PARKED, StateCatalog

MAX_BLOCKS = 50
SECTION_LIMIT = 3000

APPROVE_ACTION = "approval.approve"
REJECT_ACTION = "approval.reject"
REJECT_MODAL = "approval.reject_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"

# An emoji per kind of lifecycle state (govern.queries.states), never per state name: any lifecycle reads right.
KIND_EMOJI = {
    ACTIVE: ":hammer_and_wrench:", EVALUATION: ":bar_chart:", PARKED: ":parking:", FINAL: ":checkered_flag:",
}


# --- primitives -------------------------------------------------------------------------------------------------------


def escape(value: Any) -> str:
    """Escape the three characters Slack's mrkdwn reserves (so `<!channel>` in a title stays text)."""
    return slack_text(value)


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def plain(value: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(value or " ", limit), "emoji": True}


def mrkdwn(value: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(value or " ", SECTION_LIMIT)}


def header(value: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(value, 150)}


def section(value: str, *, fields: Sequence[str] = (), block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(value)}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": clip(f, 2000)} for f in fields[:10]]
    if block_id:
        block["block_id"] = block_id
    return block


def context(*parts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(p) for p in parts[:10] if p] or [mrkdwn(" ")]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(label, 75), "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    return element


def cap(blocks: list[dict[str, Any]], limit: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """Keep a message within Slack's block limit, saying how much was left out."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    return kept + [context(f"… and {len(blocks) - len(kept)} more not shown here; see the web app.")]


def reply(text: str, blocks: list[dict[str, Any]] | None = None, *, in_channel: bool = False,
          replace_original: bool | None = None) -> dict[str, Any]:
    """A slash-command or response_url answer; ephemeral (only the asker sees it) unless in_channel."""
    body: dict[str, Any] = {"response_type": "in_channel" if in_channel else "ephemeral", "text": clip(text, 3000)}
    if blocks:
        body["blocks"] = cap(blocks)
    if replace_original is not None:
        body["replace_original"] = replace_original
    return body


def when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def person_name(person: Any) -> str:
    if person is None:
        return "nobody"
    return getattr(person, "name", None) or getattr(person, "handle", None) or str(person)


def state_title(state: str | None, states: Any = None) -> str:
    """A state as people read it: its title from the lifecycle (`states`, a `StateCatalog`), escaped for mrkdwn."""
    if not state:
        return "—"
    return escape(states.title_of(state) if states is not None else state)


def state_label(state: str, states: StateCatalog | None = None) -> str:
    """A state as people call it, with its kind's emoji (from the lifecycle definition when `states` is given)."""
    if states is None:
        return f":small_blue_diamond: {escape(state)}"
    info = states.info(state)
    return f"{KIND_EMOJI.get(info.kind, ':small_blue_diamond:')} {escape(info.title)}"


def step_text(from_state: str | None, to_state: str | None, states: Any = None) -> str:
    return f"{state_title(from_state, states)} → {state_title(to_state, states)}"


# --- help and usage ---------------------------------------------------------------------------------------------------


def help_blocks(command: str, usages: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """The command reference: one line per subcommand (usage and what it does)."""
    lines = [f"`{command} {usage}`  {escape(does)}" for usage, does in usages.values()]
    return [
        header(f"{command}: journey ops from Slack"),
        section("\n".join(lines)),
        context("Name {a_opportunity} by key (`OPP-12`) or by words from its title, in quotes when more follows "
                f"(`{command} move \"switchers informed\" prioritise`). "
                "Answers are only visible to you unless you add `--public`."),
    ]


def usage_blocks(command: str, usage: str, does: str, problem: str | None = None) -> list[dict[str, Any]]:
    blocks = []
    if problem:
        blocks.append(section(f":warning: {escape(problem)}"))
    blocks.append(section(f"Usage: `{command} {usage}`\n{escape(does)}"))
    return blocks


def notice(text: str, *, emoji: str = ":information_source:") -> list[dict[str, Any]]:
    return [section(f"{emoji} {escape(text)}")]


# --- opportunities ----------------------------------------------------------------------------------------------------


def opportunity_line(opp: Any, states: Any = None) -> str:
    owner = person_name(getattr(opp, "owner", None)) if getattr(opp, "owner", None) else "no owner"
    return f"*{opp.key}* {escape(opp.title)} · {state_label(opp.state, states)} · {escape(owner)}"


def opportunity_status(opp: Any, *, score: Any = None, pending: Iterable[Any] = (),
                       link: str | None = None, states: Any = None) -> list[dict[str, Any]]:
    """Where an opportunity stands: state, owner, journeys, evidence, solutions, score and open approval requests."""
    journeys = ", ".join(escape(j.name) for j in getattr(opp, "journeys", [])) or "none"
    insights = list(getattr(opp, "insights", []))
    solutions = list(getattr(opp, "solutions", []))
    fields = [
        f"*State*\n{state_label(opp.state, states)}" + (f"\n_{escape(opp.state_reason)}_" if opp.state_reason else ""),
        f"*Owner*\n{escape(person_name(opp.owner))}",
        f"*Journeys*\n{journeys}",
        f"*Evidence*\n{len(insights)} {{{'insight' if len(insights) == 1 else 'insights'}}}",
        f"*{{Solutions}}*\n{len(solutions)}" + (
            f" ({sum(1 for s in solutions if s.state == 'done')} done)" if solutions else ""),
        f"*Score*\n{escape(score) if score is not None else 'not scored'}",
    ]
    title = f"<{link}|{opp.key}>" if link else opp.key
    blocks = [section(f"*{title}* {escape(opp.title)}", fields=fields)]
    for insight in insights[-3:]:
        blocks.append(context(f"{insight.key}: “{escape(clip(insight.text, 200))}” — {escape(insight.source)}"))
    evaluated = [link for link in getattr(opp, "kpi_links", []) if getattr(link, "verdict", None)]
    if evaluated:  # the recorded KPI outcome in words: "▲ Porting CSAT: 3.1 → 3.9, improved, target not met (target 4)"
        blocks.append(section("*KPI outcome*\n" + "\n".join(
            f"{VERDICT_MARKS.get(link.verdict, '')} " + outcome_text(
                escape(link.kpi.name), link.verdict, link.baseline_value, link.outcome_value, link.kpi.target,
                escape(link.kpi.unit) if link.kpi.unit else None) for link in evaluated)))
    for request in pending:
        blocks.append(section(
            f":hourglass_flowing_sand: Awaiting approval: *{step_text(request.from_state, request.to_state, states)}* "
            f"requested by {escape(person_name(request.requested_by))}"
            + (f" — _{escape(request.reason)}_" if request.reason else "")))
    blocks.append(context(f"In {state_title(opp.state, states)} since {when(getattr(opp, 'state_changed_at', None))}"))
    return blocks


def opportunity_list(title: str, opportunities: Sequence[Any], *, empty: str = "Nothing here.",
                     states: Any = None) -> list[dict[str, Any]]:
    if not opportunities:
        return [section(f"*{escape(title)}*\n{escape(empty)}")]
    lines = [opportunity_line(o, states) for o in opportunities]
    blocks = [section(f"*{escape(title)}* ({len(opportunities)})")]
    chunk: list[str] = []
    for line in lines:  # pack lines into sections below the per-section limit
        if sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 50:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return cap(blocks)


def approval_list(title: str, requests: Sequence[Any], *, empty: str = "Nothing awaits you.",
                  states: Any = None) -> list[dict[str, Any]]:
    if not requests:
        return [section(f"*{escape(title)}*\n{escape(empty)}")]
    lines = [f"*{r.opportunity.key}* {escape(r.opportunity.title)} · {step_text(r.from_state, r.to_state, states)} · "
             f"asked by {escape(person_name(r.requested_by))}" for r in requests]
    return cap([section(f"*{escape(title)}* ({len(requests)})"), section("\n".join(lines))])


def evidence_recorded(insight: Any, opp: Any) -> list[dict[str, Any]]:
    return [section(f":memo: Recorded {insight.key} on *{opp.key}* {escape(opp.title)}\n"
                    f"“{escape(clip(insight.text, 500))}” — {escape(insight.source)}")]


def transition_notice(opp: Any, from_state: str | None, to_state: str, *, actor: str, reason: str | None = None,
                      link: str | None = None, states: Any = None) -> list[dict[str, Any]]:
    """Posted to a journey's channel when an opportunity changes state."""
    title = f"<{link}|{opp.key}>" if link else opp.key
    text = f"*{title}* {escape(opp.title)} moved {state_title(from_state, states)} → *{state_title(to_state, states)}* by {escape(actor)}"
    if reason:
        text += f"\n_{escape(reason)}_"
    return [section(text)]


# --- approvals --------------------------------------------------------------------------------------------------------


def approval_request(request_id: int, opp: Any, *, from_state: str, to_state: str, requested_by: str,
                     reason: str | None, approvers: str | None = None, link: str | None = None,
                     states: Any = None) -> list[dict[str, Any]]:
    """An approval request with Approve and Reject buttons; the button value is the request id."""
    title = f"<{link}|{opp.key}>" if link else opp.key
    text = (f":raised_hand: *Approval needed*: {title} {escape(opp.title)}\n"
            f"*{step_text(from_state, to_state, states)}*, requested by {escape(requested_by)}")
    if reason:
        text += f"\n_{escape(reason)}_"
    blocks = [section(text, block_id=f"approval-{request_id}")]
    if approvers:
        blocks.append(context(f"Who may decide: {escape(approvers)}"))
    blocks.append({
        "type": "actions", "block_id": f"approval-actions-{request_id}",
        "elements": [
            button("Approve", APPROVE_ACTION, str(request_id), style="primary"),
            button("Reject", REJECT_ACTION, str(request_id), style="danger"),
        ],
    })
    return blocks


def approval_outcome(request_id: int, opp: Any, *, from_state: str, to_state: str, outcome: str, by: str,
                     reason: str | None = None, detail: str | None = None,
                     states: Any = None) -> list[dict[str, Any]]:
    """The approval message after a decision: the buttons are gone, the outcome and who decided are shown."""
    emoji = {"approved": ":white_check_mark:", "rejected": ":x:", "withdrawn": ":leftwards_arrow_with_hook:"}.get(
        outcome, ":ballot_box_with_check:")
    text = f"{emoji} *{opp.key}* {escape(opp.title)}\n*{step_text(from_state, to_state, states)}*: {outcome} by {escape(by)}"
    if reason:
        text += f"\n_{escape(reason)}_"
    blocks = [section(text, block_id=f"approval-{request_id}")]
    if detail:
        blocks.append(context(escape(detail)))
    return blocks


def reject_reason_modal(request_id: int, opp: Any, *, channel_id: str | None, message_ts: str | None,
                        response_url: str | None = None) -> dict[str, Any]:
    """The modal asking why a request is rejected; private_metadata carries where to show the outcome."""
    metadata = json.dumps({"request_id": request_id, "channel": channel_id, "ts": message_ts,
                           "response_url": response_url})
    return {
        "type": "modal",
        "callback_id": REJECT_MODAL,
        "private_metadata": metadata,
        "title": plain("Reject request", 24),
        "submit": plain("Reject", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            section(f"Reject the request to move *{opp.key}* {escape(opp.title)}?"),
            {"type": "input", "block_id": REASON_BLOCK, "label": plain("Reason (required)", 2000),
             "element": {"type": "plain_text_input", "action_id": REASON_ACTION, "multiline": True,
                         "min_length": 3, "max_length": 2000}},
        ],
    }


# --- journeys, owners and agendas -------------------------------------------------------------------------------------


def owner_blocks(journey: Any) -> list[dict[str, Any]]:
    owner = getattr(journey, "owner", None)
    if owner is None:
        return [section(f":warning: *{escape(journey.name)}* (`{journey.key}`) has *no owner*: an ownership gap. "
                        "Every journey needs one accountable owner.")]
    contact = f" (<@{owner.slack_id}>)" if getattr(owner, "slack_id", None) else ""
    return [section(f"*{escape(journey.name)}* (`{journey.key}`) is owned by *{escape(owner.name)}*{contact}.")]


def ownership_gap(journeys: Sequence[Any]) -> list[dict[str, Any]]:
    names = ", ".join(f"*{escape(j.name)}*" for j in journeys)
    return [section(f":warning: Ownership gap: {names} {'has' if len(journeys) == 1 else 'have'} no journey owner.")]


def evaluation_due(opp: Any, *, due: Any = None) -> list[dict[str, Any]]:
    suffix = f" (due {when(due) if not isinstance(due, str) else escape(due)})" if due else ""
    return [section(f":bar_chart: Evaluation due for *{opp.key}* {escape(opp.title)}{suffix}: "
                    "record the KPI outcome and the verdict.")]


def agenda_blocks(agenda: dict[str, Any], *, link: str | None = None) -> list[dict[str, Any]]:
    """An agenda as the rituals package builds it (plain data): a header, when and where, then one section per agenda
    section with its item count; `link` adds "Open the agenda".

    Also takes the looser forms `{"ritual": {"name"}, "scheduled_at", "sections": [{"title", "items": [...]}]}` and
    `{"sections": {"title": [items]}}`; items that are dicts show their `text`, `title` or `key`.
    """
    ritual = agenda.get("ritual")
    name = (ritual.get("name") if isinstance(ritual, dict) else ritual) or agenda.get("title") or "Agenda"
    blocks = [header(f"Agenda: {name}")]
    where = [agenda.get("local_time") or agenda.get("scheduled_at") or agenda.get("starts_at")]
    if isinstance(agenda.get("scope"), dict):
        where.append(f"scope: {agenda['scope'].get('label')}")
    if isinstance(ritual, dict) and ritual.get("piggyback_on"):
        where.append(f"during the {ritual['piggyback_on']}")
    if any(where):
        blocks.append(context(escape(" · ".join(str(w) for w in where if w))))
    sections = agenda.get("sections") or []
    if isinstance(sections, dict):
        sections = [{"title": k, "items": v} for k, v in sections.items()]
    for part in sections:
        title = part.get("title") or part.get("name") or part.get("key") or "Items"
        items = part.get("items") or []
        lines = [f"• {escape(_item_text(i))}" for i in items] or ["_nothing_"]
        text = f"*{escape(title)}* ({len(items)})\n" + "\n".join(lines)
        if len(text) > SECTION_LIMIT - 100:
            text = text[:SECTION_LIMIT - 120].rsplit("\n", 1)[0] + "\n… and more"
        blocks.append(section(text))
    added = agenda.get("added") or []
    if added:  # points people put on the agenda before the meeting
        lines = [f"• {escape(str(i.get('text', '')))}" + (f" _({escape(str(i['added_by']))})_" if i.get("added_by")
                                                          else "") for i in added]
        text = f"*Added to the agenda* ({len(added)})\n" + "\n".join(lines)
        if len(text) > SECTION_LIMIT - 100:
            text = text[:SECTION_LIMIT - 120].rsplit("\n", 1)[0] + "\n… and more"
        blocks.append(section(text))
    if not sections and not added:
        blocks.append(section("_Nothing on the agenda._"))
    if link:
        blocks.append(context(f"<{link}|Open the agenda>"))
    return cap(blocks)


def _item_text(item: Any) -> str:
    if isinstance(item, dict):
        for key in ("text", "summary", "title", "name", "key"):
            if item.get(key):
                prefix = f"{item['key']} " if key != "key" and item.get("key") else ""
                return prefix + str(item[key])
        return ", ".join(f"{k}: {v}" for k, v in item.items())
    return str(item)
