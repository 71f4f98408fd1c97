"""`govern jira check`: is Jira set up for us? Asked before the first push rather than learnt from a failed one.

Checks, each answered with a plain line: the connection and the deployment (Cloud or Data Center/Server) with the auth
mode in use (Cloud: e-mail + API token as basic auth; Data Center: a personal access token sent as `Bearer`, or user +
password); who we are; that the project exists; that every issue type the mapping and the lifecycle name exists in
it; and, from Jira's create metadata (`issue/createmeta/{project}/issuetypes/{id}`, Cloud and Data Center 8.4+), that
every field Jira requires on create is one we fill (Data Center's Epic Name for epics is the usual one: map it in
`jira.extra_fields`) and every field we fill is on the create screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govern.integrations.jira.adapter import JiraAdapter, Patience, ProjectProblem, classify
from govern.integrations.jira.mapping import JiraMapping

ALWAYS_FILLED = {"project", "issuetype", "summary", "description", "labels"}


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def good(self, text: str) -> None:
        self.lines.append(f"ok: {text}")

    def bad(self, text: str) -> None:
        self.lines.append(f"PROBLEM: {text}")
        self.problems.append(text)


def fields_we_fill(mapping: JiraMapping) -> set[str]:
    filled = set(ALWAYS_FILLED) | set(mapping.extra_fields)
    if mapping.components:
        filled.add("components")
    if mapping.priority_by_rank:
        filled.add("priority")
    if mapping.due_date:
        filled.add("duedate")
    return filled


def create_fields(adapter: JiraAdapter, project: str, type_id: str, patience: Patience) -> list[dict[str, Any]]:
    """Every field of the create screen of one issue type (paged; Cloud answers `fields`, Data Center `values`)."""
    out: list[dict[str, Any]] = []
    start = 0
    while True:
        body = patience.call(adapter.client()._get_json, f"issue/createmeta/{project}/issuetypes/{type_id}",
                             params={"startAt": start, "maxResults": 50})
        page = body.get("fields") or body.get("values") or body.get("results") or []
        out += page
        start += len(page)
        if not page or body.get("isLast") or start >= int(body.get("total") or 0):
            return out


def check(adapter: JiraAdapter, mapping: JiraMapping, *, issue_types: set[str] | None = None,
          patience: Patience | None = None) -> CheckReport:
    """Check the connection, the project, the issue types and their required fields; never raises for Jira's answers."""
    report = CheckReport()
    patience = patience or Patience(wait_seconds=60)
    try:
        deployment = patience.call(lambda: adapter.deployment)
        auth = ("basic auth: user + API token (Cloud) or password" if adapter.user
                else "a personal access token sent as Bearer (Data Center)")
        report.good(f"connected to {adapter.url}: Jira {deployment}, {auth}")
        if deployment == "Cloud" and not adapter.user:
            report.bad("Jira Cloud takes an API token as basic auth: set GOVERN_JIRA_USER to the account's e-mail")
        me = patience.call(lambda: adapter.client().myself())
        report.good(f"signed in as {me.get('displayName') or me.get('name') or me.get('accountId')}")
    except Exception as exc:  # noqa: BLE001 - refused, unreachable: that is the answer
        report.bad(f"cannot use Jira at {adapter.url}: {classify(exc).message}")
        return report
    if not mapping.enabled:
        report.good("jira.enabled is false in govern.yaml: nothing is pushed (checked anyway)")
    try:
        meta = patience.call(adapter.project_meta, mapping.project)
    except ProjectProblem as exc:
        report.bad(str(exc))
        return report
    except Exception as exc:  # noqa: BLE001
        report.bad(f"cannot read project {mapping.project}: {classify(exc).message}")
        return report
    report.good(f"project {mapping.project} exists (id {meta['id']})")
    wanted = {mapping.solution_issue_type} | set(issue_types or ()) | (
        {mapping.opportunity_issue_type} if mapping.opportunity_issue_type else set())
    filled = fields_we_fill(mapping)
    for name in sorted(wanted):
        type_id = meta["issue_types"].get(name)
        if type_id is None:
            report.bad(f"project {mapping.project} has no issue type {name!r} "
                       f"(it has: {', '.join(sorted(meta['issue_types'])) or 'none'}); fix jira.issue_types")
            continue
        try:
            screen = create_fields(adapter, mapping.project, type_id, patience)
        except Exception as exc:  # noqa: BLE001 - e.g. an old Data Center without the endpoint
            report.bad(f"cannot read the create fields of {name} in {mapping.project}: {classify(exc).message}")
            continue
        on_screen = {f.get("fieldId") or f.get("key") for f in screen}
        missing = [f for f in screen if f.get("required") and not f.get("hasDefaultValue")
                   and (f.get("fieldId") or f.get("key")) not in filled]
        for f in missing:
            field_id = f.get("fieldId") or f.get("key")
            report.bad(f"{name} in {mapping.project} requires {f.get('name')} ({field_id}), which we do not fill: "
                       f"add it to jira.extra_fields in govern.yaml, e.g. {field_id}: \"{{title}}\"")
        extra = sorted(filled - on_screen - {"project", "issuetype"}) if on_screen else []
        for field_id in extra:
            report.bad(f"{name} in {mapping.project}: we fill {field_id}, which is not on its create screen "
                       "(Jira would refuse every item): add it to the screen or remove it from the jira section")
        if not missing and not extra:
            report.good(f"issue type {name} exists and every field Jira requires on create is filled")
    return report
