"""A stand-in Jira server for tests and benchmarks: the REST endpoints the `jira` client really calls, nothing more.

Faithful to Atlassian's public REST documentation rather than to our convenience:
- Server / Data Center mode (`deploymentType: "Server"`) answers REST v2 (and `latest`); the old `/search` pages with
  `startAt`/`maxResults`/`total`.
- Cloud mode (`deploymentType: "Cloud"`) answers v2 and v3; v3 speaks Atlassian Document Format (ADF) for rich text and
  refuses a plain-string description; `/search` answers 410 Gone and `/search/jql` pages with `nextPageToken`.
- `issue/bulk` always answers `{"issues": [...], "errors": [...]}`: 201 when any issue was created, 400 when none was.
- A simplified workflow (To Do / In Progress / In Review / Done) with global transitions named after their target status,
  status categories `new` / `indeterminate` / `done` with Jira's ids (2 / 4 / 3).

Test controls are Python methods on `JiraStandIn` (same process) and the same under `/_standin/...` (other processes):
move an issue to a status, fault knobs (`Faults`), a search-lag mode (`search_lag_seconds`, below), an outage mode (`start_outage`: every call refused until a time on
the stand-in's clock, which a test may simulate), per-endpoint call counters, and a webhook sender that signs the body
the way Jira does when a webhook has a secret: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Jira Cloud
(admin webhooks with a secret, since 2024) and Jira Data Center 10 both send this header, so one verification covers
both deployment types; older Server versions without webhook secrets need a secret query parameter instead.

Search lag (`search_lag_seconds`, on the stand-in's clock), after Atlassian's "Search after write with search and
reconcile" notes: JQL search does not offer read-after-write consistency; after a write, a search may answer stale
results "for some time", from a few seconds to minutes (most changes within seconds; bulk operations longer). So a
created issue is found by `search` / `search/jql` only `search_lag_seconds` after it was created, while reading it by key
(`GET issue/{key}`) sees it at once. On Cloud, `search/jql` takes `reconcileIssues` (up to 50 issue ids) to get those
issues consistently, as Jira does; the lag applies in both deployment modes (Data Center's index is asynchronous too).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import itertools
import json
import random
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from flask import Flask, Response, abort, g, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

from govern.integrations.jira.adf import adf_from_text, is_adf, text_from_adf

# --- static data: statuses, issue types, fields, priorities --------------------------------------------------------

STATUS_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}

# name -> (status id, category key, transition id that leads to it)
WORKFLOW = {
    "To Do": ("10000", "new", "11"),
    "In Progress": ("10001", "indeterminate", "21"),
    "In Review": ("10002", "indeterminate", "41"),
    "Done": ("10003", "done", "31"),
}

ISSUE_TYPES = [
    {"id": "10000", "name": "Epic", "description": "A big user story that needs to be broken down.", "subtask": False,
     "hierarchyLevel": 1},
    {"id": "10001", "name": "Story", "description": "A user story.", "subtask": False, "hierarchyLevel": 0},
    {"id": "10002", "name": "Task", "description": "A task that needs to be done.", "subtask": False,
     "hierarchyLevel": 0},
]

PRIORITIES = [
    {"id": "1", "name": "Highest"}, {"id": "2", "name": "High"}, {"id": "3", "name": "Medium"},
    {"id": "4", "name": "Low"}, {"id": "5", "name": "Lowest"},
]

RANK_FIELD_ID = "customfield_10019"
EPIC_NAME_FIELD_ID = "customfield_10011"

SYSTEM_FIELDS = [
    ("summary", "Summary", "string"), ("description", "Description", "string"), ("issuetype", "Issue Type", "issuetype"),
    ("project", "Project", "project"), ("labels", "Labels", "array"), ("components", "Component/s", "array"),
    ("priority", "Priority", "priority"), ("duedate", "Due date", "date"), ("status", "Status", "status"),
    ("created", "Created", "datetime"), ("updated", "Updated", "datetime"), ("reporter", "Reporter", "user"),
    ("assignee", "Assignee", "user"), ("resolution", "Resolution", "resolution"),
    ("statuscategorychangedate", "Status Category Changed", "datetime"),
]
CLAUSE_NAMES = {"issuetype": ["issuetype", "type"], "components": ["component"], "duedate": ["due", "duedate"],
                "labels": ["labels"], "status": ["status"]}


def _fmt_time(value: dt.datetime) -> str:
    """Jira's timestamp format: 2024-05-01T10:00:00.000+0000."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}" + "+0000"


# --- faults ------------------------------------------------------------------------------------------------------------

FAULT_KINDS = ("500", "502", "503", "429", "timeout", "drop")


@dataclass
class Faults:
    """Fault knobs. `rate` is the share of API calls that fail; each failure picks one of `kinds`.

    - "500"/"502": a server error before anything is applied.
    - "503"/"429": refused with `Retry-After` (`retry_after_style` "seconds" or "date"), nothing applied.
    - "timeout": the write IS applied, then the answer is held back `timeout_seconds` (a client with a shorter timeout
      gives up; the work is done anyway, as with a real overloaded server).
    - "drop": the write IS applied, then the connection is closed without an answer ("lose the answer": the create
      lands, the client sees a connection reset and cannot know).
    `slow_seconds` delays every answer. `only_writes` limits faults to POST/PUT/DELETE.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after: int = 1
    retry_after_style: str = "seconds"
    timeout_seconds: float = 2.0
    slow_seconds: float = 0.0
    only_writes: bool = False
    seed: int | None = None
    script: list[str] = field(default_factory=list)  # faults for the next calls, in order, before `rate` applies
    write_script: list[str] = field(default_factory=list)  # the same for the next POST/PUT calls only

    def __post_init__(self):
        unknown = (set(self.kinds) | set(self.script) | set(self.write_script)) - set(FAULT_KINDS) - {"ok"}
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self._random = random.Random(self.seed)

    def draw(self, method: str) -> str | None:
        if self.write_script and method in ("POST", "PUT"):
            fault = self.write_script.pop(0)
            return None if fault == "ok" else fault
        if self.script:
            fault = self.script.pop(0)
            return None if fault == "ok" else fault
        if self.rate <= 0 or (self.only_writes and method == "GET"):
            return None
        if self._random.random() >= self.rate:
            return None
        return self._random.choice(self.kinds)

    def retry_after_header(self) -> str:
        if self.retry_after_style == "date":
            when = time.time() + self.retry_after
            return email.utils.formatdate(when, usegmt=True)
        return str(self.retry_after)


OUTAGE_KINDS = ("503", "502", "429", "refuse")


@dataclass
class Outage:
    """Jira down (maintenance, an incident, a rate-limit storm) until `until` on the stand-in's clock (None: until
    ended by hand). Every API call fails the same way, nothing is applied: "503"/"429" with Retry-After (when
    `retry_after` is set), "502" from a proxy in front of a dead Jira, "refuse": the connection closes unanswered."""

    kind: str = "503"
    until: dt.datetime | None = None
    retry_after: int | None = None

    def __post_init__(self):
        if self.kind not in OUTAGE_KINDS:
            raise ValueError(f"unknown outage kind {self.kind!r} (one of {', '.join(OUTAGE_KINDS)})")


# --- JQL ---------------------------------------------------------------------------------------------------------------


class JqlError(Exception):
    pass


_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|!~|=|>|<|~|\(|\)|,)|(?P<word>[^\s=!<>~(),"']+))"""
)
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")


def _tokenize(jql: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    jql = jql.strip()
    while pos < len(jql):
        match = _TOKEN.match(jql, pos)
        if not match or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
        pos = match.end()
        if match.group("str") is not None:
            raw = match.group("str")[1:-1]
            tokens.append(("str", re.sub(r"\\(.)", r"\1", raw)))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        elif match.group("word") is not None:
            tokens.append(("word", match.group("word")))
    return tokens


class JqlQuery:
    """The subset of JQL a sync needs: AND / OR / NOT, parentheses, = != > >= < <= ~ IN / NOT IN / IS [NOT] EMPTY,
    on project, key, id, labels, status, statusCategory, issuetype, priority, component, summary, created, updated,
    duedate; ORDER BY any of those (and Rank)."""

    FIELDS = {"project", "key", "issuekey", "id", "labels", "status", "statuscategory", "issuetype", "type", "priority",
              "component", "summary", "text", "created", "updated", "duedate", "due", "rank"}

    def __init__(self, jql: str):
        self.jql = jql or ""
        self.tokens = _tokenize(self.jql)
        self.pos = 0
        self.where = None
        self.order: list[tuple[str, bool]] = []
        if self.tokens and not self._at_word("order"):
            self.where = self._or()
        if self._at_word("order"):
            self._take()
            if not self._at_word("by"):
                raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
            self._take()
            while True:
                name = self._field_name()
                descending = False
                if self._at_word("asc") or self._at_word("desc"):
                    descending = self._take()[1].lower() == "desc"
                self.order.append((name, descending))
                if self._peek() == ("op", ","):
                    self._take()
                    continue
                break
        if self.pos != len(self.tokens):
            raise JqlError(f"Error in the JQL Query: unexpected '{self.tokens[self.pos][1]}'.")

    @property
    def bounded(self) -> bool:
        return self.where is not None

    # parsing
    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def _take(self):
        token = self._peek()
        if token[0] is None:
            raise JqlError("Error in the JQL Query: The query ends unexpectedly.")
        self.pos += 1
        return token

    def _at_word(self, word: str) -> bool:
        kind, value = self._peek()
        return kind == "word" and value.lower() == word

    def _field_name(self) -> str:
        kind, value = self._take()
        name = value.lower()
        if name not in self.FIELDS:
            raise JqlError(f"Field '{value}' does not exist or you do not have permission to view it.")
        return {"issuekey": "key", "type": "issuetype", "due": "duedate", "statuscategory": "statuscategory"}.get(
            name, name)

    def _or(self):
        left = self._and()
        while self._at_word("or"):
            self._take()
            left = ("or", left, self._and())
        return left

    def _and(self):
        left = self._not()
        while self._at_word("and"):
            self._take()
            left = ("and", left, self._not())
        return left

    def _not(self):
        if self._at_word("not"):
            self._take()
            return ("not", self._not())
        if self._peek() == ("op", "("):
            self._take()
            inner = self._or()
            if self._take() != ("op", ")"):
                raise JqlError("Error in the JQL Query: Expecting ')'.")
            return inner
        return self._clause()

    def _value(self):
        kind, value = self._take()
        if kind not in ("str", "word"):
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{value}'.")
        return value

    def _clause(self):
        name = self._field_name()
        kind, op = self._take()
        if kind == "word" and op.lower() == "not" and self._at_word("in"):
            self._take()
            op = "not in"
        elif kind == "word" and op.lower() == "is":
            negate = False
            if self._at_word("not"):
                self._take()
                negate = True
            word = self._value().lower()
            if word not in ("empty", "null"):
                raise JqlError("Error in the JQL Query: Expecting EMPTY or NULL after IS.")
            return ("empty", name, negate)
        elif kind == "word" and op.lower() == "in":
            op = "in"
        elif kind != "op":
            raise JqlError(f"Error in the JQL Query: Expecting operator but got '{op}'.")
        if op in ("in", "not in"):
            if self._take() != ("op", "("):
                raise JqlError("Error in the JQL Query: Expecting '(' after IN.")
            values = [self._value()]
            while self._peek() == ("op", ","):
                self._take()
                values.append(self._value())
            if self._take() != ("op", ")"):
                raise JqlError("Error in the JQL Query: Expecting ')' to close the IN list.")
            return ("cmp", name, op, values)
        return ("cmp", name, op, [self._value()])

    # evaluation
    def matches(self, issue: "StoredIssue") -> bool:
        return self.where is None or self._eval(self.where, issue)

    def _eval(self, node, issue) -> bool:
        kind = node[0]
        if kind == "or":
            return self._eval(node[1], issue) or self._eval(node[2], issue)
        if kind == "and":
            return self._eval(node[1], issue) and self._eval(node[2], issue)
        if kind == "not":
            return not self._eval(node[1], issue)
        if kind == "empty":
            values = issue.jql_values(node[1])
            empty = not values or values == [None]
            return (not empty) if node[2] else empty
        _, name, op, raw_values = node
        have = issue.jql_values(name)
        if name in ("created", "updated", "duedate"):
            wanted = [_parse_jql_date(v) for v in raw_values]
            if name != "duedate":  # Jira compares the exact instant with the given minute (a bare date is 00:00)
                wanted = [w if isinstance(w, dt.datetime) else dt.datetime.combine(w, dt.time()) for w in wanted]
            have = [h for h in have if h is not None]
        else:
            wanted = [v.lower() for v in raw_values]
            have = [str(h).lower() for h in have if h is not None]
        if op == "=":
            return any(h == wanted[0] for h in have)
        if op == "!=":
            return all(h != wanted[0] for h in have)
        if op == "in":
            return any(h in wanted for h in have)
        if op == "not in":
            return all(h not in wanted for h in have)
        if op == "~":
            return any(str(wanted[0]).lower() in h for h in have)
        if op == "!~":
            return all(str(wanted[0]).lower() not in h for h in have)
        comparisons = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
                       "<=": lambda a, b: a <= b}
        return any(comparisons[op](h, wanted[0]) for h in have)

    def sort(self, issues: list["StoredIssue"]) -> list["StoredIssue"]:
        result = list(issues)
        for name, descending in reversed(self.order or [("key", True)]):
            result.sort(key=lambda i: i.sort_key(name), reverse=descending)
        return result


def _parse_jql_date(value: str):
    for fmt in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed.date() if len(value) <= 10 else parsed
    raise JqlError(f"Date value '{value}' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
                   "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'.")


# --- the stored issue --------------------------------------------------------------------------------------------------


@dataclass
class StoredIssue:
    id: str
    key: str
    project_key: str
    issuetype_id: str
    summary: str
    description: str | None
    labels: list[str]
    components: list[str]
    priority_id: str | None
    duedate: str | None
    status: str
    created: dt.datetime
    updated: dt.datetime
    rank: int
    reporter: str
    custom: dict[str, Any] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    remotelinks: list[dict[str, Any]] = field(default_factory=list)
    status_changed: dt.datetime | None = None

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])

    def jql_values(self, name: str) -> list[Any]:
        status_id, category, _ = WORKFLOW[self.status]
        return {
            "project": [self.project_key],
            "key": [self.key],
            "id": [self.id],
            "labels": self.labels or [None],
            "status": [self.status, status_id],
            "statuscategory": [STATUS_CATEGORIES[category]["name"], category, str(STATUS_CATEGORIES[category]["id"])],
            "issuetype": [t["name"] for t in ISSUE_TYPES if t["id"] == self.issuetype_id] + [self.issuetype_id],
            "priority": [p["name"] for p in PRIORITIES if p["id"] == self.priority_id] + [self.priority_id],
            "component": self.components or [None],
            "summary": [self.summary],
            "text": [self.summary, self.description or ""],
            "created": [self.created],
            "updated": [self.updated],
            "duedate": [dt.date.fromisoformat(self.duedate)] if self.duedate else [None],
            "rank": [self.rank],
        }[name]

    def sort_key(self, name: str):
        if name == "key":
            return (self.project_key, self.number)
        if name in ("created", "updated"):
            return getattr(self, name)
        if name == "rank":
            return self.rank
        if name == "duedate":
            return self.duedate or "9999"
        values = self.jql_values(name)
        return str(values[0] if values else "")


# --- the stand-in ------------------------------------------------------------------------------------------------------


class JiraStandIn:
    """State and behaviour of the fake Jira; `app` is its Flask app, `serve()` runs it on a free loopback port."""

    def __init__(
        self,
        deployment: str = "Server",
        *,
        projects: Iterable[str] = ("OPS",),
        user: str = "govern-bot",
        token: str = "s3cret-token",
        require_auth: bool = True,
        ranking: bool = True,
        components: Iterable[str] = ("Web", "Mobile", "Support", "Billing"),
        max_results_cap: int = 100,
        bulk_limit: int = 50,
        clock: Callable[[], dt.datetime] | None = None,
        search_lag_seconds: float = 0.0,
    ):
        if deployment not in ("Server", "Cloud"):
            raise ValueError("deployment is 'Server' or 'Cloud'")
        self.deployment = deployment
        self.user = user
        self.token = token
        self.require_auth = require_auth
        self.ranking = ranking
        self.components = list(components)
        self.max_results_cap = max_results_cap
        self.bulk_limit = bulk_limit
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        self.search_lag_seconds = search_lag_seconds  # a created issue shows in JQL search this long after
        self.projects = {key: {"id": str(10000 + i), "key": key, "name": key.title()}
                         for i, key in enumerate(projects)}
        self.required_fields: dict[str, dict[str, str]] = {}  # issue type name -> {field id: error text}
        self.faults = Faults()
        self.outage: Outage | None = None
        self.calls_refused_by_outage = 0
        self.calls: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()  # by kind, for tests that must prove faults really happened
        self.webhooks: list[tuple[str, str | None]] = []  # (url, secret) registered to receive issue events
        self.events: list[dict[str, Any]] = []  # every webhook payload Jira would have sent, in order
        self.base_url = "http://jira.invalid"
        self.lock = threading.RLock()
        self.issues: dict[str, StoredIssue] = {}
        self._ids = itertools.count(10001)
        self._numbers: dict[str, itertools.count] = {key: itertools.count(1) for key in self.projects}
        self._ranks = itertools.count(1)
        self._comment_ids = itertools.count(10000)
        self._link_ids = itertools.count(10000)
        self.app = create_app(self)
        self._server = None
        self._thread = None

    # --- running ------------------------------------------------------------------------------------------------------

    def serve(self) -> str:
        """Serve the app in a thread on a free 127.0.0.1 port; returns the base URL."""
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="jira-standin", daemon=True)
        self._thread.start()
        return self.base_url

    start = serve

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        self.serve()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- test controls ------------------------------------------------------------------------------------------------

    def set_faults(self, **knobs) -> Faults:
        self.faults = Faults(**knobs)
        return self.faults

    def start_outage(self, kind: str = "503", *, until: dt.datetime | None = None,
                     retry_after: int | None = None) -> Outage:
        """Take Jira down until `until` (on the stand-in's clock) or until `end_outage()`."""
        self.outage = Outage(kind, until, retry_after)
        return self.outage

    def end_outage(self) -> None:
        self.outage = None

    def outage_now(self) -> Outage | None:
        outage = self.outage
        if outage is None or (outage.until is not None and self.clock() >= outage.until):
            return None
        return outage

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def require_field(self, issuetype: str, field_id: str, message: str) -> None:
        """Make a field mandatory for an issue type, as a project's field configuration can."""
        self.required_fields.setdefault(issuetype, {})[field_id] = message

    def create_fields(self, issuetype: str) -> list[dict[str, Any]]:
        """The create screen's fields for an issue type, as createmeta answers them (required, default, schema)."""
        system = [("summary", "Summary", True, False), ("issuetype", "Issue Type", True, False),
                  ("project", "Project", True, False), ("reporter", "Reporter", True, True),
                  ("description", "Description", False, False), ("labels", "Labels", False, False),
                  ("components", "Component/s", False, False), ("priority", "Priority", False, True),
                  ("duedate", "Due date", False, False)]
        fields = [{"required": required, "schema": {"type": "string", "system": field_id}, "name": name,
                   "fieldId": field_id, "key": field_id, "hasDefaultValue": default, "operations": ["set"]}
                  for field_id, name, required, default in system]
        names = {EPIC_NAME_FIELD_ID: "Epic Name"}
        for field_id, _ in self.required_fields.get(issuetype, {}).items():
            fields.append({"required": True, "schema": {"type": "string", "custom": "custom", "customId": 0},
                           "name": names.get(field_id, field_id), "fieldId": field_id, "key": field_id,
                           "hasDefaultValue": False, "operations": ["set"]})
        return fields

    def issues_with_label(self, label: str) -> list[StoredIssue]:
        with self.lock:
            return [i for i in self.issues.values() if label in i.labels]

    def move_issue(self, key: str, status: str, *, by: str = "alice") -> dict[str, Any]:
        """Move an issue to a status as a person working in Jira would; returns the webhook payload it causes."""
        with self.lock:
            issue = self.issues[key]
            return self._transition(issue, status, by=by)

    def register_webhook(self, url: str, secret: str | None = None) -> None:
        self.webhooks.append((url, secret))

    def sign(self, body: bytes, secret: str) -> str:
        return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    def webhook_request(self, payload: dict[str, Any], secret: str | None,
                        identifier: str | None = None) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers Jira sends for one event (signed when the webhook has a secret).

        `X-Atlassian-Webhook-Identifier` identifies the delivery: unique per event and webhook, the same on Jira's
        retries of it (here: derived from the body unless given, so re-sending a payload is a retry)."""
        body = json.dumps(payload).encode()
        identifier = identifier or hashlib.sha256(body).hexdigest()[:32]
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Atlassian Webhook HTTP Client",
                   "X-Atlassian-Webhook-Identifier": identifier, "X-Atlassian-Webhook-Flow": "Primary"}
        if secret:
            headers["X-Hub-Signature"] = self.sign(body, secret)
        return body, headers

    def send_webhook(self, url: str, payload: dict[str, Any], secret: str | None = None, timeout: float = 10,
                     identifier: str | None = None):
        """POST one event to a URL the way Jira does; returns the `requests` response."""
        import requests

        body, headers = self.webhook_request(payload, secret, identifier)
        return requests.post(url, data=body, headers=headers, timeout=timeout)

    def client(self, **kwargs):
        """The real `jira` client pointed at this stand-in (REST v3 on Cloud, v2 on Server), without its own retries."""
        import jira as jira_lib

        options = {"rest_api_version": "3"} if self.deployment == "Cloud" else {}
        kwargs.setdefault("max_retries", 0)
        return jira_lib.JIRA(self.base_url, basic_auth=(self.user, self.token), options=options, **kwargs)

    # --- rendering ----------------------------------------------------------------------------------------------------

    def api_base(self, version: str) -> str:
        return f"{self.base_url}/rest/api/{version}"

    def user_json(self, name: str | None = None) -> dict[str, Any]:
        name = name or self.user
        if self.deployment == "Cloud":
            return {"self": f"{self.base_url}/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5-{name}",
                    "accountId": f"5b10ac8d82e05b22cc7d4ef5-{name}", "accountType": "atlassian",
                    "displayName": name, "active": True, "timeZone": "UTC"}
        return {"self": f"{self.base_url}/rest/api/2/user?username={name}", "name": name, "key": name,
                "emailAddress": f"{name}@example.org", "displayName": name, "active": True, "timeZone": "UTC"}

    def status_json(self, name: str) -> dict[str, Any]:
        status_id, category, _ = WORKFLOW[name]
        cat = dict(STATUS_CATEGORIES[category], self=f"{self.base_url}/rest/api/2/statuscategory/"
                                                      f"{STATUS_CATEGORIES[category]['id']}")
        return {"self": f"{self.base_url}/rest/api/2/status/{status_id}", "description": "", "name": name,
                "id": status_id, "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
                "statusCategory": cat}

    def issuetype_json(self, type_id: str) -> dict[str, Any]:
        issue_type = next(t for t in ISSUE_TYPES if t["id"] == type_id)
        return dict(issue_type, self=f"{self.base_url}/rest/api/2/issuetype/{type_id}",
                    iconUrl=f"{self.base_url}/images/icons/issuetypes/{issue_type['name'].lower()}.svg")

    def project_json(self, key: str, expand_issue_types: bool) -> dict[str, Any]:
        project = self.projects[key]
        data = {"expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
                "self": f"{self.base_url}/rest/api/2/project/{project['id']}", "id": project["id"],
                "key": key, "name": project["name"], "projectTypeKey": "software",
                "lead": self.user_json(),
                "components": [{"self": f"{self.base_url}/rest/api/2/component/{10000 + i}", "id": str(10000 + i),
                                "name": name} for i, name in enumerate(self.components)]}
        if expand_issue_types or self.deployment == "Server":
            data["issueTypes"] = [self.issuetype_json(t["id"]) for t in ISSUE_TYPES]
        return data

    def issue_json(self, issue: StoredIssue, version: str, fields: list[str] | None = None) -> dict[str, Any]:
        description: Any = issue.description
        if version == "3":
            description = adf_from_text(issue.description)
        all_fields = {
            "summary": issue.summary,
            "description": description,
            "issuetype": self.issuetype_json(issue.issuetype_id),
            "project": {"self": f"{self.base_url}/rest/api/2/project/{self.projects[issue.project_key]['id']}",
                        "id": self.projects[issue.project_key]["id"], "key": issue.project_key,
                        "name": self.projects[issue.project_key]["name"], "projectTypeKey": "software"},
            "labels": list(issue.labels),
            "components": [{"self": f"{self.base_url}/rest/api/2/component/{10000 + self.components.index(c)}",
                            "id": str(10000 + self.components.index(c)), "name": c} for c in issue.components],
            "priority": (dict(next(p for p in PRIORITIES if p["id"] == issue.priority_id),
                              self=f"{self.base_url}/rest/api/2/priority/{issue.priority_id}")
                         if issue.priority_id else None),
            "duedate": issue.duedate,
            "status": self.status_json(issue.status),
            "created": _fmt_time(issue.created),
            "updated": _fmt_time(issue.updated),
            "statuscategorychangedate": _fmt_time(issue.status_changed or issue.created),
            "reporter": self.user_json(issue.reporter),
            "assignee": None,
            "resolution": ({"id": "10000", "name": "Done"} if WORKFLOW[issue.status][1] == "done" else None),
        }
        if self.ranking:
            all_fields[RANK_FIELD_ID] = f"0|i{issue.rank:05d}:"
        all_fields.update(issue.custom)
        chosen = _select_fields(all_fields, fields)
        return {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
                "id": issue.id, "self": f"{self.api_base(version)}/issue/{issue.id}", "key": issue.key,
                "fields": chosen}

    def event_payload(self, event: str, issue: StoredIssue, by: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Jira's webhook body: `webhookEvent`, `issue_event_type_name`, `user`, `issue` (REST v2 shape), `changelog`."""
        payload = {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": event,
            "issue_event_type_name": {"jira:issue_created": "issue_created"}.get(event, "issue_generic"),
            "user": self.user_json(by),
            "issue": self.issue_json(issue, "2"),
        }
        if items:
            payload["changelog"] = {"id": str(next(self._comment_ids)), "items": items}
        self.events.append(payload)
        for url, secret in list(self.webhooks):
            threading.Thread(target=self._post_quietly, args=(url, payload, secret), daemon=True).start()
        return payload

    def _post_quietly(self, url, payload, secret):
        try:
            self.send_webhook(url, payload, secret)
        except Exception:  # Jira retries webhooks on its own schedule; a stand-in just moves on
            pass

    # --- behaviour ----------------------------------------------------------------------------------------------------

    def _transition(self, issue: StoredIssue, status: str, by: str) -> dict[str, Any]:
        old = issue.status
        issue.status = status
        now = self.clock()
        issue.updated = now
        if WORKFLOW[old][1] != WORKFLOW[status][1]:
            issue.status_changed = now
        items = [{"field": "status", "fieldtype": "jira", "from": WORKFLOW[old][0], "fromString": old,
                  "to": WORKFLOW[status][0], "toString": status}]
        return self.event_payload("jira:issue_updated", issue, by, items)

    def validate_create(self, fields: dict[str, Any], version: str) -> tuple[dict[str, str], dict[str, Any]]:
        """Check a create's fields like Jira does; returns (errors by field, normalised values)."""
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        project = fields.get("project") or {}
        key = None
        if isinstance(project, dict):
            if "key" in project:
                key = project["key"] if project["key"] in self.projects else None
            elif "id" in project:
                key = next((k for k, p in self.projects.items() if p["id"] == str(project["id"])), None)
        if key is None:
            errors["project"] = "valid project is required"
        out["project"] = key
        issuetype = fields.get("issuetype") or {}
        type_id = None
        if isinstance(issuetype, dict):
            if "id" in issuetype:
                type_id = next((t["id"] for t in ISSUE_TYPES if t["id"] == str(issuetype["id"])), None)
            elif "name" in issuetype:
                type_id = next((t["id"] for t in ISSUE_TYPES if t["name"] == issuetype["name"]), None)
        if type_id is None:
            errors["issuetype"] = "valid issue type is required"
        out["issuetype"] = type_id
        summary = fields.get("summary")
        if not summary or not str(summary).strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(str(summary)) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        out["summary"] = summary
        errors_desc, out["description"] = self._description(fields.get("description"), version)
        if errors_desc:
            errors["description"] = errors_desc
        labels = fields.get("labels") or []
        if not isinstance(labels, list) or any(not isinstance(x, str) or " " in x for x in labels):
            errors["labels"] = "The label can't contain spaces."
        out["labels"] = labels if isinstance(labels, list) else []
        components = []
        for comp in fields.get("components") or []:
            name = comp.get("name") if isinstance(comp, dict) else None
            if isinstance(comp, dict) and "id" in comp:
                idx = int(comp["id"]) - 10000
                name = self.components[idx] if 0 <= idx < len(self.components) else None
            if name not in self.components:
                errors["components"] = f"Component name '{comp.get('name', comp.get('id'))}' is not valid"
            else:
                components.append(name)
        out["components"] = components
        priority = fields.get("priority")
        out["priority"] = "3"
        if priority is not None:
            match = next((p["id"] for p in PRIORITIES if isinstance(priority, dict)
                          and (p["id"] == str(priority.get("id")) or p["name"] == priority.get("name"))), None)
            if match is None:
                errors["priority"] = f"Priority name '{priority.get('name', priority.get('id'))}' is not valid"
            out["priority"] = match
        duedate = fields.get("duedate")
        if duedate:
            try:
                dt.date.fromisoformat(duedate)
            except (TypeError, ValueError):
                errors["duedate"] = "Error parsing date string: " + str(duedate)
        out["duedate"] = duedate or None
        custom = {k: v for k, v in fields.items() if k.startswith("customfield_")}
        type_name = next((t["name"] for t in ISSUE_TYPES if t["id"] == type_id), None)
        for field_id, message in self.required_fields.get(type_name or "", {}).items():
            if not custom.get(field_id):
                errors[field_id] = message
        out["custom"] = custom
        known = {"project", "issuetype", "summary", "description", "labels", "components", "priority", "duedate",
                 "reporter", "assignee"}
        for name in fields:
            if name not in known and not name.startswith("customfield_"):
                errors[name] = (f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")
        return errors, out

    def _description(self, value: Any, version: str) -> tuple[str | None, str | None]:
        if value is None:
            return None, None
        if version == "3":
            if not is_adf(value):
                return "Operation value must be an Atlassian Document (see the Atlassian Document Format)", None
            return None, text_from_adf(value)
        if not isinstance(value, str):
            return "Operation value must be a string", None
        return None, value

    def create(self, out: dict[str, Any], by: str) -> StoredIssue:
        now = self.clock()
        number = next(self._numbers[out["project"]])
        issue = StoredIssue(
            id=str(next(self._ids)), key=f"{out['project']}-{number}", project_key=out["project"],
            issuetype_id=out["issuetype"], summary=out["summary"], description=out["description"],
            labels=list(out["labels"]), components=out["components"], priority_id=out["priority"],
            duedate=out["duedate"], status="To Do", created=now, updated=now, rank=next(self._ranks) * 10,
            reporter=by, custom=out["custom"])
        self.issues[issue.key] = issue
        self.event_payload("jira:issue_created", issue, by, [])
        return issue

    def find(self, key_or_id: str) -> StoredIssue | None:
        issue = self.issues.get(key_or_id.upper())
        if issue is None:
            issue = next((i for i in self.issues.values() if i.id == key_or_id), None)
        return issue


class _QuietHandler(WSGIRequestHandler):
    """No access log: tests and benchmarks make thousands of calls, and dropped connections are on purpose."""

    def log(self, *args, **kwargs):
        pass


def _select_fields(all_fields: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Jira's `fields` parameter: `*all`, `*navigable`, names, and `-name` exclusions; empty means all."""
    if not fields:
        return dict(all_fields)
    wanted: set[str] = set()
    excluded = {f[1:] for f in fields if f.startswith("-")}
    for name in fields:
        if name in ("*all", "*navigable"):
            wanted |= set(all_fields)
        elif not name.startswith("-"):
            wanted.add(name)
    return {k: v for k, v in all_fields.items() if k in wanted and k not in excluded}


def _fields_param(values: list[str]) -> list[str] | None:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return names or None


# --- the Flask app -----------------------------------------------------------------------------------------------------


def _error(status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None,
           headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"errorMessages": messages or [], "errors": errors or {}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def create_app(jira: JiraStandIn) -> Flask:
    """The stand-in's Flask app; every API route is under /rest/api/{2,3,latest}/ (v3 only in Cloud mode)."""
    app = Flask("jira_standin")
    app.config["JSON_SORT_KEYS"] = False
    api = "/rest/api/<version>"

    @app.before_request
    def _gate():
        g.fault = None
        if request.path.startswith("/_standin/"):
            return None
        version = (request.view_args or {}).get("version")
        if version is not None and (version not in ("2", "3", "latest")
                                    or (version == "3" and jira.deployment != "Cloud")):
            return _error(404, ["null for uri: " + request.url])
        rule = request.url_rule.rule if request.url_rule else request.path
        name = f"{request.method} {rule.replace('/rest/api/<version>/', '')}"
        with jira.lock:
            jira.calls[name] += 1
        outage = jira.outage_now()
        if outage is not None:
            with jira.lock:
                jira.calls_refused_by_outage += 1
            if outage.kind == "refuse":
                g.fault = "drop"
                return Response(status=503)
            headers = {"Retry-After": str(outage.retry_after)} if outage.retry_after is not None else None
            message = {"503": "Service Unavailable", "502": "Bad Gateway", "429": "Rate limit exceeded."}[outage.kind]
            return _error(int(outage.kind), [message], headers=headers)
        if jira.require_auth and not _authorised():
            return _error(401, ["You are not authenticated. Authentication required to perform this operation."])
        faults = jira.faults
        if faults.slow_seconds:
            time.sleep(faults.slow_seconds)
        with jira.lock:
            fault = faults.draw(request.method)
            if fault:
                jira.faults_injected[fault] += 1
        if fault in ("500", "502"):
            return _error(int(fault), ["Internal server error"])
        if fault in ("429", "503"):
            message = "Rate limit exceeded." if fault == "429" else "Service Unavailable"
            return _error(int(fault), [message], headers={"Retry-After": faults.retry_after_header()})
        g.fault = fault  # "timeout" and "drop" happen after the work is done
        return None

    @app.after_request
    def _after(response):
        fault = g.get("fault")
        if fault == "timeout":
            time.sleep(jira.faults.timeout_seconds)
        elif fault == "drop":
            sock = request.environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        return response

    def _authorised() -> bool:
        auth = request.authorization
        if auth is None:
            return False
        if auth.type == "basic":
            return auth.username == jira.user and auth.password == jira.token
        if auth.type == "bearer":
            return auth.token == jira.token
        return False

    def _json_body() -> dict[str, Any]:
        data = request.get_json(force=True, silent=True)
        if not isinstance(data, dict):
            abort(_error(400, ["Unexpected character: was expecting JSON content."]))
        return data

    def _issue_or_404(key: str) -> StoredIssue:
        issue = jira.find(key)
        if issue is None:
            abort(_error(404, ["Issue does not exist or you do not have permission to see it."]))
        return issue

    def _by() -> str:
        auth = request.authorization
        return (auth.username if auth and auth.type == "basic" else None) or jira.user

    # server, fields, projects, users

    @app.get(f"{api}/serverInfo")
    def server_info(version):
        now = jira.clock()
        info = {"baseUrl": jira.base_url, "buildDate": "2024-04-30T00:00:00.000+0000",
                "serverTime": _fmt_time(now), "scmInfo": "0e8b1b7a6e0e", "serverTitle": "Jira"}
        if jira.deployment == "Cloud":
            info.update(version="1001.0.0-SNAPSHOT", versionNumbers=[1001, 0, 0], deploymentType="Cloud",
                        buildNumber=100282, defaultLocale={"locale": "en_US"})
        else:
            info.update(version="9.12.8", versionNumbers=[9, 12, 8], deploymentType="Server", buildNumber=9120008)
        return jsonify(info)

    @app.get(f"{api}/myself")
    def myself(version):
        return jsonify(jira.user_json(_by()))

    @app.get(f"{api}/field")
    def fields(version):
        out = []
        for field_id, name, kind in SYSTEM_FIELDS:
            out.append({"id": field_id, "key": field_id, "name": name, "custom": False, "orderable": True,
                        "navigable": True, "searchable": True,
                        "clauseNames": CLAUSE_NAMES.get(field_id, [field_id]),
                        "schema": {"type": kind, "system": field_id}})
        customs = [(EPIC_NAME_FIELD_ID, "Epic Name", "com.pyxis.greenhopper.jira:gh-epic-label", 10011)]
        if jira.ranking:
            customs.append((RANK_FIELD_ID, "Rank", "com.pyxis.greenhopper.jira:gh-lexo-rank", 10019))
        for field_id, name, custom, custom_id in customs:
            out.append({"id": field_id, "key": field_id, "name": name, "custom": True, "orderable": True,
                        "navigable": True, "searchable": True,
                        "clauseNames": [f"cf[{custom_id}]", name],
                        "schema": {"type": "any", "custom": custom, "customId": custom_id}})
        return jsonify(out)

    @app.get(f"{api}/project/<key>")
    def project(version, key):
        with jira.lock:
            match = next((k for k, p in jira.projects.items() if k == key.upper() or p["id"] == key), None)
            if match is None:
                return _error(404, [f"No project could be found with key '{key}'."])
            expand = request.args.get("expand", "")
            return jsonify(jira.project_json(match, "issueTypes" in expand))

    # create metadata (Data Center 8.4+ and Cloud): the issue types of a project, and the fields of one of them

    def _meta_page(items: list, key: str):
        start = int(request.args.get("startAt") or 0)
        size = min(int(request.args.get("maxResults") or 50), 200)
        page = items[start:start + size]
        body: dict[str, Any] = {"maxResults": size, "startAt": start, "total": len(items)}
        if jira.deployment == "Cloud":
            body[key] = page
        else:
            body.update(values=page, isLast=start + len(page) >= len(items))
        return jsonify(body)

    @app.get(f"{api}/issue/createmeta/<project>/issuetypes")
    def createmeta_issuetypes(version, project):
        with jira.lock:
            match = next((k for k, p in jira.projects.items() if k == project.upper() or p["id"] == project), None)
            if match is None:
                return _error(404, [f"No project could be found with key '{project}'."])
            return _meta_page([jira.issuetype_json(t["id"]) for t in ISSUE_TYPES], "issueTypes")

    @app.get(f"{api}/issue/createmeta/<project>/issuetypes/<type_id>")
    def createmeta_fields(version, project, type_id):
        with jira.lock:
            match = next((k for k, p in jira.projects.items() if k == project.upper() or p["id"] == project), None)
            issue_type = next((t for t in ISSUE_TYPES if t["id"] == type_id), None)
            if match is None or issue_type is None:
                return _error(404, ["Issue type with given ID does not exist or you do not have permission to see "
                                    "it." if match else f"No project could be found with key '{project}'."])
            return _meta_page(jira.create_fields(issue_type["name"]), "fields")

    @app.get(f"{api}/priority")
    def priorities(version):
        return jsonify([dict(p, self=f"{jira.base_url}/rest/api/2/priority/{p['id']}") for p in PRIORITIES])

    @app.get("/rest/applinks/latest/listApplicationlinks")
    def applinks():
        return jsonify({"list": []})

    # issues

    @app.post(f"{api}/issue")
    def create_issue(version):
        data = _json_body()
        with jira.lock:
            errors, out = jira.validate_create(data.get("fields") or {}, version)
            if errors:
                return _error(400, [], errors)
            issue = jira.create(out, _by())
        response = jsonify({"id": issue.id, "key": issue.key, "self": f"{jira.api_base(version)}/issue/{issue.id}"})
        response.status_code = 201
        return response

    @app.post(f"{api}/issue/bulk")
    def bulk_create(version):
        data = _json_body()
        updates = data.get("issueUpdates")
        if not isinstance(updates, list):
            return _error(400, ["issueUpdates is required"])
        if len(updates) > jira.bulk_limit:  # still the bulk shape: every element failed, nothing created
            message = f"The number of issues to create in bulk can't be greater than {jira.bulk_limit}."
            response = jsonify({"issues": [], "errors": [
                {"status": 400, "elementErrors": {"errorMessages": [message], "errors": {}}, "failedElementNumber": n}
                for n in range(len(updates))]})
            response.status_code = 400
            return response
        created, failed = [], []
        with jira.lock:
            for index, update in enumerate(updates):
                errors, out = jira.validate_create((update or {}).get("fields") or {}, version)
                if errors:
                    failed.append({"status": 400, "elementErrors": {"errorMessages": [], "errors": errors},
                                   "failedElementNumber": index})
                    continue
                issue = jira.create(out, _by())
                created.append({"id": issue.id, "key": issue.key,
                                "self": f"{jira.api_base(version)}/issue/{issue.id}"})
        response = jsonify({"issues": created, "errors": failed})
        response.status_code = 201 if created or not failed else 400
        return response

    @app.get(f"{api}/issue/<key>")
    def get_issue(version, key):
        with jira.lock:
            issue = _issue_or_404(key)
            return jsonify(jira.issue_json(issue, version, _fields_param(request.args.getlist("fields"))))

    @app.put(f"{api}/issue/<key>")
    def edit_issue(version, key):
        data = _json_body()
        with jira.lock:
            issue = _issue_or_404(key)
            fields = dict(data.get("fields") or {})
            current = {"project": {"key": issue.project_key}, "issuetype": {"id": issue.issuetype_id},
                       "summary": issue.summary}
            errors, out = jira.validate_create({**current, **fields}, version)
            errors = {k: v for k, v in errors.items() if k in fields}
            if errors:
                return _error(400, [], errors)
            attributes = {"summary": "summary", "description": "description", "labels": "labels",
                          "components": "components", "priority": "priority_id", "duedate": "duedate"}
            items = []
            for name in fields:
                if name.startswith("customfield_"):
                    issue.custom[name] = fields[name]
                elif name in attributes:
                    old = getattr(issue, attributes[name])
                    setattr(issue, attributes[name], out.get(name))
                    items.append({"field": name, "fieldtype": "jira", "from": None, "fromString": str(old),
                                  "to": None, "toString": str(out.get(name))})
            for op in (data.get("update") or {}).get("labels", []):
                if "add" in op and op["add"] not in issue.labels:
                    issue.labels.append(op["add"])
                if "remove" in op and op["remove"] in issue.labels:
                    issue.labels.remove(op["remove"])
                if "set" in op:
                    issue.labels = list(op["set"])
            issue.updated = jira.clock()
            jira.event_payload("jira:issue_updated", issue, _by(), items)
        return Response(status=204)

    @app.get(f"{api}/issue/<key>/transitions")
    def list_transitions(version, key):
        with jira.lock:
            issue = _issue_or_404(key)
            transitions = []
            for name, (_status_id, _cat, transition_id) in WORKFLOW.items():
                if name == issue.status:
                    continue
                if request.args.get("transitionId") and request.args["transitionId"] != transition_id:
                    continue
                transitions.append({"id": transition_id, "name": name, "to": jira.status_json(name),
                                    "hasScreen": False, "isGlobal": True, "isInitial": False, "isAvailable": True,
                                    "isConditional": False, "isLooped": False})
            return jsonify({"expand": "transitions", "transitions": transitions})

    @app.post(f"{api}/issue/<key>/transitions")
    def do_transition(version, key):
        data = _json_body()
        with jira.lock:
            issue = _issue_or_404(key)
            transition_id = str((data.get("transition") or {}).get("id", ""))
            target = next((n for n, (_s, _c, t) in WORKFLOW.items() if t == transition_id and n != issue.status),
                          None)
            if target is None:
                return _error(400, [f"Transition id '{transition_id}' is not valid for this issue."])
            for op in ((data.get("update") or {}).get("comment") or []):
                if "add" in op:
                    issue.comments.append(_comment(jira, issue, op["add"].get("body", ""), _by(), version))
            jira._transition(issue, target, by=_by())
        return Response(status=204)

    @app.get(f"{api}/issue/<key>/comment")
    def list_comments(version, key):
        with jira.lock:
            issue = _issue_or_404(key)
            comments = [_render_comment(c, version) for c in issue.comments]
            return jsonify({"startAt": 0, "maxResults": len(comments), "total": len(comments),
                            "comments": comments})

    @app.post(f"{api}/issue/<key>/comment")
    def add_comment(version, key):
        data = _json_body()
        body = data.get("body")
        if version == "3" and not is_adf(body):
            return _error(400, [], {"comment": "Comment body is not valid!"})
        if version != "3" and (not isinstance(body, str) or not body.strip()):
            return _error(400, [], {"comment": "Comment body can not be empty!"})
        with jira.lock:
            issue = _issue_or_404(key)
            text = text_from_adf(body) if version == "3" else body
            comment = _comment(jira, issue, text, _by(), version)
            issue.comments.append(comment)
            issue.updated = jira.clock()
            jira.event_payload("comment_created", issue, _by(), [])
        response = jsonify(_render_comment(comment, version))
        response.status_code = 201
        return response

    @app.get(f"{api}/issue/<key>/remotelink")
    def list_links(version, key):
        with jira.lock:
            issue = _issue_or_404(key)
            return jsonify(issue.remotelinks)

    @app.post(f"{api}/issue/<key>/remotelink")
    def add_link(version, key):
        data = _json_body()
        obj = data.get("object") or {}
        if not obj.get("url") or not obj.get("title"):
            return _error(400, [], {"object": "'url' and 'title' are required for a remote link object."})
        with jira.lock:
            issue = _issue_or_404(key)
            global_id = data.get("globalId")
            existing = next((l for l in issue.remotelinks if global_id and l.get("globalId") == global_id), None)
            if existing is not None:  # Jira updates a link with the same globalId instead of adding another
                existing.update(object=obj, relationship=data.get("relationship"))
                status, link = 200, existing
            else:
                link_id = next(jira._link_ids)
                link = {"id": link_id, "self": f"{jira.api_base(version)}/issue/{key}/remotelink/{link_id}",
                        "globalId": global_id, "application": data.get("application") or {},
                        "relationship": data.get("relationship"), "object": obj}
                issue.remotelinks.append(link)
                status = 201
            issue.updated = jira.clock()
        response = jsonify({"id": link["id"], "self": link["self"]})
        response.status_code = status
        return response

    # search

    def _run_search(version, jql: str, fields: list[str] | None, reconcile: Iterable[str] = ()):
        try:
            query = JqlQuery(jql)
        except JqlError as exc:
            abort(_error(400, [str(exc)]))
        reconcile = {str(i) for i in reconcile}
        with jira.lock:
            horizon = jira.clock() - dt.timedelta(seconds=jira.search_lag_seconds)
            indexed = [i for i in jira.issues.values()
                       if not jira.search_lag_seconds or i.created <= horizon or i.id in reconcile]
            matched = query.sort([i for i in indexed if query.matches(i)])
        return query, matched

    @app.route(f"{api}/search", methods=["GET", "POST"])
    def search(version):
        if jira.deployment == "Cloud":
            return _error(410, ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
                                "API. A full migration guideline is available at "
                                "https://developer.atlassian.com/changelog/#CHANGE-2046"])
        params = _json_body() if request.method == "POST" else request.args
        fields = (_fields_param(params.getlist("fields")) if request.method == "GET"
                  else params.get("fields"))
        start = int(params.get("startAt") or 0)
        size = min(int(params.get("maxResults") or 50), jira.max_results_cap)
        _, matched = _run_search(version, params.get("jql", ""), fields)
        with jira.lock:
            page = [jira.issue_json(i, version, fields) for i in matched[start:start + size]]
        return jsonify({"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(matched),
                        "issues": page})

    @app.route(f"{api}/search/jql", methods=["GET", "POST"])
    def search_jql(version):
        if jira.deployment != "Cloud":
            return _error(404, ["null for uri: " + request.url])
        params = _json_body() if request.method == "POST" else request.args
        fields = (_fields_param(params.getlist("fields")) if request.method == "GET"
                  else params.get("fields"))
        fields = fields or ["id"]  # the enhanced search returns only ids unless asked for fields
        size = min(int(params.get("maxResults") or 50), jira.max_results_cap)
        jql = params.get("jql", "")
        token = params.get("nextPageToken")
        start = 0
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
                assert decoded["jql"] == jql
                start = int(decoded["offset"])
            except Exception:
                return _error(400, ["The provided next page token is invalid or expired."])
        reconcile = params.get("reconcileIssues") or []
        if isinstance(reconcile, str):
            reconcile = [r for r in reconcile.split(",") if r.strip()]
        if len(reconcile) > 50:
            return _error(400, ["reconcileIssues accepts at most 50 issue ids."])
        query, matched = _run_search(version, jql, fields, reconcile)
        if not query.bounded:
            return _error(400, ["Unbounded JQL queries are not allowed here. Please add a search restriction to "
                                "your query."])
        with jira.lock:
            page = [jira.issue_json(i, version, fields) for i in matched[start:start + size]]
        body: dict[str, Any] = {"issues": page, "isLast": start + size >= len(matched)}
        if start + size < len(matched):
            body["nextPageToken"] = base64.urlsafe_b64encode(
                json.dumps({"jql": jql, "offset": start + size}).encode()).decode()
        return jsonify(body)

    # agile ranking (Jira Software)

    @app.put("/rest/agile/1.0/issue/rank")
    def rank(**_):
        if not jira.ranking:
            return _error(404, ["null for uri: " + request.url])
        data = _json_body()
        keys = data.get("issues") or []
        if len(keys) > 50:
            return _error(400, ["Cannot rank more than 50 issues at once."])
        with jira.lock:
            anchor_key = data.get("rankBeforeIssue") or data.get("rankAfterIssue")
            anchor = jira.find(str(anchor_key or ""))
            moving = [jira.find(str(k)) for k in keys]
            if anchor is None or any(m is None for m in moving):
                return _error(400, ["Issue does not exist or you do not have permission to see it."])
            moving_ids = {m.id for m in moving}
            others = sorted((i for i in jira.issues.values() if i.id not in moving_ids), key=lambda i: i.rank)
            position = others.index(anchor) + (0 if data.get("rankBeforeIssue") else 1)
            ordered = others[:position] + moving + others[position:]
            for n, issue in enumerate(ordered, start=1):
                issue.rank = n * 10
        return Response(status=204)

    # test controls (no faults, no counting)

    @app.post("/_standin/faults")
    def set_faults():
        knobs = request.get_json(force=True) or {}
        if "kinds" in knobs:
            knobs["kinds"] = tuple(knobs["kinds"])
        jira.set_faults(**knobs)
        return jsonify({"ok": True})

    @app.post("/_standin/outage")
    def set_outage():
        knobs = request.get_json(force=True) or {}
        if not knobs.get("kind"):
            jira.end_outage()
        else:
            until = dt.datetime.fromisoformat(knobs["until"]) if knobs.get("until") else None
            jira.start_outage(knobs["kind"], until=until, retry_after=knobs.get("retry_after"))
        return jsonify({"ok": True})

    @app.get("/_standin/calls")
    def get_calls():
        with jira.lock:
            return jsonify({"total": jira.total_calls, "calls": dict(jira.calls)})

    @app.post("/_standin/calls/reset")
    def reset_calls():
        jira.reset_calls()
        return jsonify({"ok": True})

    @app.post("/_standin/issues/<key>/status")
    def move(key):
        data = request.get_json(force=True) or {}
        with jira.lock:
            if jira.find(key) is None or data.get("status") not in WORKFLOW:
                return _error(404, ["no such issue or status"])
            payload = jira.move_issue(jira.find(key).key, data["status"], by=data.get("by", "alice"))
        return jsonify(payload)

    @app.get("/_standin/issues")
    def dump():
        with jira.lock:
            return jsonify([{"key": i.key, "labels": i.labels, "status": i.status, "summary": i.summary}
                            for i in jira.issues.values()])

    return app


def _comment(jira: JiraStandIn, issue: StoredIssue, text: str, by: str, version: str) -> dict[str, Any]:
    now = _fmt_time(jira.clock())
    comment_id = str(next(jira._comment_ids))
    return {"self": f"{jira.api_base('2')}/issue/{issue.id}/comment/{comment_id}", "id": comment_id,
            "author": jira.user_json(by), "body": text, "updateAuthor": jira.user_json(by), "created": now,
            "updated": now}


def _render_comment(comment: dict[str, Any], version: str) -> dict[str, Any]:
    if version == "3":
        return dict(comment, body=adf_from_text(comment["body"]))
    return dict(comment)


def main() -> None:  # pragma: no cover - a manual runner: python -m tests.standins.jira [Server|Cloud]
    import sys

    standin = JiraStandIn(sys.argv[1] if len(sys.argv) > 1 else "Server")
    print(standin.serve(), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
