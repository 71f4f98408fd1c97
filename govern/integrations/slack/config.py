"""The `slack` section of govern.yaml, checked on `govern apply` (errors name their place, e.g.
`slack.notifications.cx-council.transitions: unknown kind`).

    slack:
      command: /journey            # the slash command's name as registered in the Slack app
      council_channel: cx-council  # ownership gaps, and journeys without a channel of their own (nor a parent's)
      approvals: channel           # channel | dm | both: where approval requests go
      notifications:               # per channel ("*": every channel), per kind: on or off (default on)
        "*": {transition: true}
        cx-council: {evaluation_due: false}
      ack_budget_ms: 50            # answer in the response when ready this fast, else through response_url
      evidence_author: false       # "Save as evidence" names the message's author in the insight's source
"""

from __future__ import annotations

import re
from typing import Any

from govern.integrations.slack.delivery import KINDS

CHANNEL = re.compile(r"^#?[a-z0-9_-]{1,80}$")
COMMAND = re.compile(r"^/[a-z0-9_-]{1,31}$")
KEYS = ("command", "council_channel", "approvals", "notifications", "ack_budget_ms", "evidence_author")
APPROVAL_ROUTES = ("channel", "dm", "both")


def validate_slack_config(section: Any, path: str = "slack") -> dict[str, str]:
    """Every problem in the section as {"slack.field": "message"}; empty when it is fine."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        return {path: "must be a mapping"}
    errors: dict[str, str] = {}
    for key in section:
        if key not in KEYS:
            errors[f"{path}.{key}"] = f"unknown setting (settings: {', '.join(KEYS)})"
    command = section.get("command")
    if command is not None and (not isinstance(command, str) or not COMMAND.match(command)):
        errors[f"{path}.command"] = "a slash command such as /journey (lower case, at most 32 characters)"
    council = section.get("council_channel")
    if council is not None and (not isinstance(council, str) or not CHANNEL.match(council)):
        errors[f"{path}.council_channel"] = "not a Slack channel name"
    if section.get("approvals") is not None and section["approvals"] not in APPROVAL_ROUTES:
        errors[f"{path}.approvals"] = f"one of {', '.join(APPROVAL_ROUTES)}"
    budget = section.get("ack_budget_ms")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not 0 <= budget <= 2500):
        errors[f"{path}.ack_budget_ms"] = "milliseconds between 0 and 2500 (Slack gives up after 3000)"
    author = section.get("evidence_author")
    if author is not None and not isinstance(author, bool):
        errors[f"{path}.evidence_author"] = "true or false (default false: the author of a saved message is not stored)"
    notifications = section.get("notifications")
    if notifications is not None:
        if not isinstance(notifications, dict):
            errors[f"{path}.notifications"] = "a mapping of channel to {kind: true|false}"
        else:
            for channel, kinds in notifications.items():
                where = f"{path}.notifications.{channel}"
                if channel != "*" and (not isinstance(channel, str) or not CHANNEL.match(channel)):
                    errors[where] = "not a Slack channel name (or * for every channel)"
                    continue
                if not isinstance(kinds, dict):
                    errors[where] = "a mapping of kind to true or false"
                    continue
                for kind, on in kinds.items():
                    if kind not in KINDS:
                        errors[f"{where}.{kind}"] = f"unknown kind (kinds: {', '.join(KINDS)})"
                    elif not isinstance(on, bool):
                        errors[f"{where}.{kind}"] = "true or false"
    return errors
