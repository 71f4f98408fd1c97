"""Effects a transition has once it happens: the names a definition may use, their parameters and their meaning.

Effects are performed by `workflows.services` inside the transition's own transaction: database effects (KPI
baselines, outcomes) as writes, outside effects (Slack, Jira, the scheduler) as outbox messages, never network calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class EffectSpec:
    name: str
    description: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


EFFECTS: dict[str, EffectSpec] = {
    spec.name: spec
    for spec in (
        EffectSpec("notify", "post the transition to a Slack channel: `journey` (each touched journey's channel) or "
                   "a named channel such as `#cx-council`", required=("channel",), optional=("message",)),
        EffectSpec("create_backlog_items", "create one backlog item (Jira) per {solution} that has none yet",
                   optional=("issue_type",)),
        EffectSpec("record_kpi_baseline", "record the current value of every targeted KPI as its baseline"),
        EffectSpec("record_outcome", "compare the latest measurement of every targeted KPI taken at least "
                   "`measure_after_days` after the change went live (default: the lifecycle's) with its baseline and "
                   "target and record the outcome (target met; improved, target not met; improved (no target); no "
                   "change; worse)", optional=("measure_after_days",)),
        EffectSpec("schedule_evaluation", "put an evaluation review on the agenda `after_days` days from now",
                   required=("after_days",)),
    )
}


@dataclass(frozen=True)
class Effect:
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        if self.name == "notify":
            return f"notify {self.params.get('channel')}"
        if self.name == "schedule_evaluation":
            return f"evaluate after {self.params.get('after_days')} days"
        return self.name.replace("_", " ")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


def parse_effect(item: Any, path: str) -> tuple[Effect | None, dict[str, str]]:
    """One `effects` list item (`create_backlog_items` or `{notify: {channel: journey}}`) → (Effect, problems)."""
    if isinstance(item, str):
        name, params = item, {}
    elif isinstance(item, Mapping) and len(item) == 1:
        (name, params), = item.items()
        params = {} if params is None else params
    else:
        return None, {path: f"an effect is a name or a one-key mapping {{name: {{params}}}}, got {item!r}"}
    if name not in EFFECTS:
        return None, {path: f"unknown effect {name!r} (effects: {', '.join(EFFECTS)})"}
    spec = EFFECTS[name]
    if not isinstance(params, Mapping):
        return None, {f"{path}.{name}": f"parameters must be a mapping, got {params!r}"}
    problems: dict[str, str] = {}
    for key in params:
        if key not in spec.required + spec.optional:
            allowed = ", ".join(spec.required + spec.optional) or "none"
            problems[f"{path}.{name}.{key}"] = f"unknown parameter for {name} (allowed: {allowed})"
    for key in spec.required:
        if key not in params:
            problems[f"{path}.{name}.{key}"] = "is required"
    if name == "notify" and "channel" in params:
        channel = params["channel"]
        if not isinstance(channel, str) or not (channel == "journey" or channel.startswith("#")):
            problems[f"{path}.notify.channel"] = f"must be 'journey' or a channel name like '#cx-council', got {channel!r}"
    if name == "schedule_evaluation" and "after_days" in params:
        days = params["after_days"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            problems[f"{path}.schedule_evaluation.after_days"] = f"must be a whole number of days ≥ 1, got {days!r}"
    if name == "record_outcome" and "measure_after_days" in params:
        days = params["measure_after_days"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            problems[f"{path}.record_outcome.measure_after_days"] = f"must be a whole number of days ≥ 0, got {days!r}"
    if problems:
        return None, problems
    return Effect(name, dict(params)), {}
