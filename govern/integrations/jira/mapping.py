"""The `jira` section of govern.yaml (stored in the `jira` Setting): which project, which issue types, how a solution's
fields become a backlog item's fields, and how Jira's status categories come back as a solution's state.

```yaml
jira:
  enabled: true
  project: OPS
  issue_types: {solution: Epic}          # or solution_issue_type: Epic; optionally opportunity: Initiative
  labels: [customer-journey]             # added to our own stable label govern-sol-<id>
  components: [Web]
  priority_by_rank:                      # our portfolio rank -> Jira priority; the last band catches the rest
    - {up_to: 3, priority: Highest}
    - {up_to: 10, priority: High}
    - {up_to: 25, priority: Medium}
    - {priority: Low}
  due_date: true                         # the solution's due date becomes Jira's due date
  extra_fields: {customfield_10011: "{title}"}   # e.g. Epic Name on Jira Server; {title} {key} {opportunity} filled in
  status_map: {new: todo, indeterminate: in_progress, done: done}   # by status category key (or a status name)
  ranking: true                          # order the backlog by our rank where the project allows it
  timezone: UTC                          # the integration user's Jira time zone (JQL dates are read in it)
  timeout_seconds: 10
```
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from govern.escaping import jira_wiki
from govern.integrations.jira.adf import adf_from_text
from govern.errors import InvalidInput

LABEL_PREFIX = "govern-sol-"
INSTALLATION_PREFIX = "govern-inst-"
INSTALLATION_SETTING = "installation"
SETTING_KEY = "jira"
SYNC_STATE_KEY = "jira.sync"
DEFAULT_STATUS_MAP = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
DEFAULT_PRIORITY_BANDS = ({"up_to": 3, "priority": "Highest"}, {"up_to": 10, "priority": "High"},
                          {"up_to": 25, "priority": "Medium"}, {"priority": "Low"})
SOLUTION_STATES = ("todo", "in_progress", "done")


def solution_label(solution_id: int) -> str:
    """Our stable key on every backlog item we create: found again by JQL after a crash or a retried POST."""
    return f"{LABEL_PREFIX}{solution_id}"


def installation_label(installation_id: str) -> str:
    """The label that says which installation created an item: production and staging may share one Jira site and
    both have a SOL-1, so adoption and the pull look only at items that carry this installation's label."""
    return f"{INSTALLATION_PREFIX}{installation_id}"


def installation_labels(labels: list[str] | None) -> set[str]:
    return {label for label in labels or [] if label.startswith(INSTALLATION_PREFIX)}


def solution_id_from_labels(labels: list[str] | None) -> int | None:
    for label in labels or []:
        if label.startswith(LABEL_PREFIX) and label[len(LABEL_PREFIX):].isdigit():
            return int(label[len(LABEL_PREFIX):])
    return None


@dataclass(frozen=True)
class JiraMapping:
    enabled: bool = True
    project: str = "OPS"
    solution_issue_type: str = "Epic"
    opportunity_issue_type: str | None = None
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    priority_by_rank: tuple[dict[str, Any], ...] = DEFAULT_PRIORITY_BANDS
    due_date: bool = True
    extra_fields: dict[str, Any] = field(default_factory=dict)
    status_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_STATUS_MAP))
    ranking: bool = True
    timezone: str = "UTC"
    timeout_seconds: float = 10.0

    @classmethod
    def from_setting(cls, value: Mapping[str, Any] | None) -> "JiraMapping":
        value = dict(value or {})
        problems = validate_mapping(value)
        if problems:
            raise InvalidInput("the jira section of govern.yaml is not valid", problems)
        types = value.get("issue_types") or {}
        return cls(
            enabled=bool(value.get("enabled", True)),
            project=str(value.get("project", "OPS")),
            solution_issue_type=str(types.get("solution") or value.get("solution_issue_type")
                                    or value.get("issue_type") or "Epic"),
            opportunity_issue_type=types.get("opportunity") or value.get("opportunity_issue_type"),
            labels=tuple(value.get("labels") or ()),
            components=tuple(value.get("components") or ()),
            priority_by_rank=tuple(value.get("priority_by_rank") or DEFAULT_PRIORITY_BANDS),
            due_date=bool(value.get("due_date", True)),
            extra_fields=dict(value.get("extra_fields") or {}),
            status_map={**DEFAULT_STATUS_MAP, **(value.get("status_map") or {})},
            ranking=bool(value.get("ranking", True)),
            timezone=str(value.get("timezone", "UTC")),
            timeout_seconds=float(value.get("timeout_seconds", 10)),
        )

    # --- outbound ---------------------------------------------------------------------------------------------------

    def priority_for(self, rank: int | None) -> str | None:
        if not self.priority_by_rank:
            return None
        for band in self.priority_by_rank:
            limit = band.get("up_to")
            if limit is None or (rank is not None and rank <= int(limit)):
                return band["priority"]
        return None

    def fields_for(self, solution, *, project_id: str, issuetype_id: str, rank: int | None, link: str,
                   cloud: bool) -> dict[str, Any]:
        """The `fields` of one create call for a solution (REST v3 on Cloud wants ADF for the description)."""
        opportunity = solution.opportunity
        # Cloud's ADF carries text in text nodes; Server's wiki markup would read `{html}` or `[x|javascript:…]` in
        # a title as markup, so the data is escaped there.
        data = (lambda value: value) if cloud else jira_wiki
        text = (f"{data(solution.description)}\n\n" if solution.description else "") + (
            f"Opportunity {opportunity.key}: {data(opportunity.title)}\n"
            f"Managed in govern as {solution.key}: {link}")
        fields: dict[str, Any] = {
            "project": {"id": project_id},
            "issuetype": {"id": issuetype_id},
            "summary": solution.title[:255],
            "description": adf_from_text(text) if cloud else text,
            "labels": [solution_label(solution.id), *self.labels],
        }
        if self.components:
            fields["components"] = [{"name": c} for c in self.components]
        priority = self.priority_for(rank)
        if priority:
            fields["priority"] = {"name": priority}
        if self.due_date and solution.due_on:
            fields["duedate"] = solution.due_on.isoformat()
        values = {"title": solution.title, "key": solution.key, "opportunity": opportunity.key}
        for name, template in self.extra_fields.items():
            fields[name] = template.format(**values) if isinstance(template, str) else template
        return fields

    # --- inbound ----------------------------------------------------------------------------------------------------

    def state_for(self, status: Mapping[str, Any] | None) -> str | None:
        """Our solution state for a Jira status: by status name first (an override), then by status category key."""
        if not status:
            return None
        name = status.get("name")
        if name in self.status_map:
            return self.status_map[name]
        category = (status.get("statusCategory") or {}).get("key")
        return self.status_map.get(category)

    def zone(self) -> dt.tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except ZoneInfoNotFoundError:
            return dt.timezone.utc

    def jql_time(self, utc_naive: dt.datetime) -> str:
        """A UTC instant as a JQL date in the integration user's time zone, to the minute (JQL's precision)."""
        local = utc_naive.replace(tzinfo=dt.timezone.utc).astimezone(self.zone())
        return local.strftime("%Y/%m/%d %H:%M")


def validate_mapping(value: Mapping[str, Any]) -> dict[str, str]:
    """Problems in a `jira` section, keyed by path (used by `govern apply` through the Setting and at load)."""
    problems: dict[str, str] = {}
    if not isinstance(value, Mapping):
        return {"jira": "must be a mapping"}
    known = {"project", "issue_types", "issue_type", "solution_issue_type", "opportunity_issue_type", "labels", "components", "priority_by_rank", "due_date",
             "extra_fields", "status_map", "ranking", "timezone", "timeout_seconds", "push_on", "enabled",
             "webhook"}
    for key in value:
        if key not in known:
            problems[f"jira.{key}"] = f"unknown setting (known: {', '.join(sorted(known))})"
    project = value.get("project")
    if project is not None and (not isinstance(project, str) or not project.strip()):
        problems["jira.project"] = "must be a Jira project key such as OPS"
    for key in ("labels", "components"):
        items = value.get(key)
        if items is not None and (not isinstance(items, list) or not all(isinstance(i, str) for i in items)):
            problems[f"jira.{key}"] = "must be a list of names"
    for n, label in enumerate(value.get("labels") or []):
        if isinstance(label, str) and " " in label:
            problems[f"jira.labels[{n}]"] = "a Jira label cannot contain spaces"
    for n, band in enumerate(value.get("priority_by_rank") or []):
        if not isinstance(band, Mapping) or "priority" not in band:
            problems[f"jira.priority_by_rank[{n}]"] = "each band is {up_to: N, priority: NAME} (the last without up_to)"
    for key, state in (value.get("status_map") or {}).items():
        if state not in SOLUTION_STATES:
            problems[f"jira.status_map.{key}"] = f"must be one of {', '.join(SOLUTION_STATES)}, got {state!r}"
    timezone = value.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            problems["jira.timezone"] = f"unknown time zone {timezone!r}"
    return problems
