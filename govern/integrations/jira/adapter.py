"""The Jira adapter: one long-lived `jira.JIRA` client per process, built lazily from GOVERN_JIRA_URL/USER/TOKEN.

- Nothing connects at build time; the first use asks `serverInfo` (the library does) and switches to REST v3 on Cloud.
- The library's own retries are off (`max_retries=0`): it retries POSTs after a connection error, which can create an
  issue twice, and it sleeps through 429s inside the call. The outbox worker retries instead, idempotently, and honours
  Retry-After without holding anything.
- Project and issue-type ids are looked up once (`project/{key}?expand=issueTypes`) and cached.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from jira import JIRA, JIRAError
import json
import random
import time

from govern.integrations.delivery import parse_retry_after

log = logging.getLogger(__name__)


class JiraUnavailable(Exception):
    """Jira could not be asked (not configured)."""


@dataclass(frozen=True)
class Failure:
    """A classified Jira failure: `permanent` ones will not succeed by trying again."""

    permanent: bool
    message: str
    retry_after: float | None = None
    status: int | None = None


def jira_error_text(exc: JIRAError) -> str:
    """Jira's own words: `errorMessages` and `errors` (field: message) from the response body."""
    response = getattr(exc, "response", None)
    parts: list[str] = []
    if response is not None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            parts += [str(m) for m in body.get("errorMessages") or []]
            errors = body.get("errors")
            if isinstance(errors, dict):
                parts += [f"{field}: {message}" for field, message in errors.items()]
    if not parts and exc.text:
        parts.append(str(exc.text))
    return "; ".join(parts) or f"HTTP {exc.status_code}"


def classify(exc: BaseException) -> Failure:
    """Sort an exception from a Jira call into retry-later or permanent, with Retry-After when Jira gave one."""
    if isinstance(exc, JIRAError):
        status = exc.status_code
        text = jira_error_text(exc)
        headers = exc.response.headers if getattr(exc, "response", None) is not None else {}
        if status in (429, 503):
            return Failure(False, f"Jira answered {status}: {text}", parse_retry_after(headers.get("Retry-After")),
                           status)
        if status is None or status >= 500 or status in (408, 409, 423):
            return Failure(False, f"Jira answered {status}: {text}", None, status)
        return Failure(True, f"Jira refused ({status}): {text}", None, status)
    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return Failure(False, f"Jira did not answer: {type(exc).__name__}")
    if isinstance(exc, requests.RequestException):
        return Failure(False, f"request to Jira failed: {type(exc).__name__}: {exc}")
    return Failure(False, f"{type(exc).__name__}: {exc}")


def answer_lost(exc: BaseException) -> bool:
    """Whether a failed write may have landed: the request went out and its answer never came (a read timeout, the
    connection reset or closed after sending, an answer that could not be read). A refused or unreachable connection,
    or any answer from Jira (4xx, 5xx, 429), means nothing was written."""
    if isinstance(exc, JIRAError):
        return exc.status_code is None  # the library's own wrapper without an HTTP answer
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.Timeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        seen, cause = set(), exc
        while cause is not None and id(cause) not in seen:  # walk the wrapped causes (urllib3's, the socket's)
            seen.add(id(cause))
            if isinstance(cause, (ConnectionRefusedError, urllib3.exceptions.NewConnectionError,
                                  urllib3.exceptions.NameResolutionError)):
                return False
            inner = [a for a in getattr(cause, "args", ()) if isinstance(a, BaseException)]
            cause = getattr(cause, "reason", None) or (inner[0] if inner else None) or cause.__cause__ \
                or cause.__context__
        return True
    return not isinstance(exc, requests.RequestException)


@dataclass
class Patience:
    """How long a command or job waits out Jira's transient failures (429/503 with Retry-After, 5xx, no answer)
    before giving up for this run: like the outbox worker, Retry-After first, else exponential backoff with jitter.
    `sleep` is injectable so that tests wait in simulated time."""

    wait_seconds: float = 300.0
    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    sleep: Any = None  # Callable[[float], None]; time.sleep when None
    waited: float = 0.0
    retries: int = 0

    def call(self, fn, *args, **kwargs):
        """fn(*args, **kwargs), tried again after transient failures until it answers or patience runs out."""
        failures = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except (JIRAError, requests.RequestException) as exc:
                failure = classify(exc)
                if failure.permanent:
                    raise
                failures += 1
                delay = (failure.retry_after if failure.retry_after is not None
                         else min(self.cap_seconds, self.base_seconds * 2 ** (failures - 1)) * random.uniform(0.5, 1))
                if self.waited + delay > self.wait_seconds:
                    raise
                log.info("Jira: %s; trying again in %.1f s", failure.message, delay)
                (self.sleep or time.sleep)(delay)
                self.waited += delay
                self.retries += 1


class ProjectProblem(Exception):
    """The mapping names a project or issue type Jira does not have: permanent until govern.yaml is fixed."""


class JiraAdapter:
    """Holds the connection settings and a lazily built, shared client."""

    def __init__(self, url: str, user: str | None, token: str, *, timeout: float = 10.0,
                 identity: tuple[str, ...] = ()):
        self.url = url.rstrip("/")
        self.user = user
        self.token = token
        self.timeout = timeout
        self._client: JIRA | None = None
        self._lock = threading.Lock()
        self._projects: dict[str, dict[str, Any]] = {}
        # Names Jira may show for our own integration user in webhooks (echo suppression).
        self.identity = {i for i in (user, *identity) if i}

    def __repr__(self) -> str:
        return f"JiraAdapter({self.url!r}, user={self.user!r})"

    @property
    def deployment(self) -> str:
        return self.client().deploymentType or "Server"

    @property
    def is_cloud(self) -> bool:
        return self.deployment == "Cloud"

    def client(self) -> JIRA:
        """The shared client; built on first use (one `serverInfo` call), REST v3 on Cloud, v2 on Server/DC."""
        with self._lock:
            if self._client is None:
                auth: dict[str, Any] = ({"basic_auth": (self.user, self.token)} if self.user
                                        else {"token_auth": self.token})
                client = JIRA(self.url, max_retries=0, timeout=self.timeout, **auth)
                if client.deploymentType == "Cloud":
                    client._options["rest_api_version"] = "3"  # Cloud: REST v3 (ADF) for reads and writes
                self._client = client
            return self._client

    def reset(self) -> None:
        with self._lock:
            self._client = None
            self._projects.clear()

    def browse_url(self, key: str) -> str:
        return f"{self.url}/browse/{key}"

    def project_meta(self, key: str) -> dict[str, Any]:
        """{"id": ..., "issue_types": {name: id}} for a project, asked once per process."""
        if key not in self._projects:
            try:
                project = self.client()._get_json(f"project/{key}", params={"expand": "issueTypes"})
            except JIRAError as exc:
                if exc.status_code == 404:
                    raise ProjectProblem(f"Jira has no project {key!r} (or the integration user cannot see it): "
                                         f"{jira_error_text(exc)}") from None
                raise
            self._projects[key] = {
                "id": str(project["id"]),
                "issue_types": {t["name"]: str(t["id"]) for t in project.get("issueTypes") or []},
            }
        return self._projects[key]

    def issue_type_id(self, project_key: str, name: str) -> str:
        types = self.project_meta(project_key)["issue_types"]
        if name not in types:  # maybe added in Jira since we asked: ask once more before saying no
            self._projects.pop(project_key, None)
            types = self.project_meta(project_key)["issue_types"]
        if name not in types:
            raise ProjectProblem(f"project {project_key} has no issue type {name!r} "
                                 f"(it has: {', '.join(sorted(types)) or 'none'})")
        return types[name]

    def search(self, jql: str, fields: list[str], *, page_size: int = 100, token: str | None = None,
               start_at: int = 0) -> dict[str, Any]:
        """One page of a JQL search: `search/jql` with nextPageToken on Cloud, `search` with startAt on Server/DC.

        Answers {"issues": [...], "next": token-or-offset-or-None}. (The client's own search helpers first fetch the
        field list to translate names; asking the endpoint directly keeps a sync to one call per page.)
        """
        client = self.client()
        if self.is_cloud:
            params: dict[str, Any] = {"jql": jql, "fields": ",".join(fields), "maxResults": page_size}
            if token:
                params["nextPageToken"] = token
            body = client._get_json("search/jql", params=params)
            return {"issues": body.get("issues") or [], "next": body.get("nextPageToken")}
        params = {"jql": jql, "fields": ",".join(fields), "startAt": start_at, "maxResults": page_size}
        body = client._get_json("search", params=params)
        issues = body.get("issues") or []
        total = int(body.get("total") or 0)
        end = int(body.get("startAt") or start_at) + len(issues)
        return {"issues": issues, "next": end if issues and end < total else None}

    def search_all(self, jql: str, fields: list[str], *, page_size: int = 100):
        """Every page of a search, one page at a time (a generator of issue lists)."""
        token: Any = None
        start = 0
        while True:
            page = self.search(jql, fields, page_size=page_size, token=token if self.is_cloud else None,
                               start_at=start)
            yield page["issues"]
            if page["next"] is None:
                return
            if self.is_cloud:
                token = page["next"]
            else:
                start = page["next"]

    def bulk_create(self, field_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST issue/bulk (≤ 50): one {"key", "id"} or {"error"} per input, in input order."""
        client = self.client()
        results = client.create_issues(field_list, prefetch=False)
        out = []
        for result in results:
            if result["status"] == "Success":
                out.append({"key": result["issue"].key, "id": result["issue"].id})
            else:
                error = result["error"]
                if isinstance(error, dict):
                    text = "; ".join(f"{k}: {v}" for k, v in error.items())
                else:
                    text = str(error)
                out.append({"error": text or "Jira refused the item without saying why"})
        return out

    def rank_after(self, keys: list[str], anchor: str) -> None:
        """Order `keys` (≤ 50) right after `anchor` in the backlog (Jira Software's agile rank API)."""
        client = self.client()
        url = client._get_url("issue/rank", base=client.AGILE_BASE_URL)
        client._session.put(url, data=json.dumps({"issues": keys, "rankAfterIssue": anchor}))


def build(config) -> JiraAdapter | None:
    """The adapter for `govern.app.build_adapters`: None (disabled, visibly) unless GOVERN_JIRA_URL and TOKEN are set."""
    if not getattr(config, "jira_enabled", False):
        return None
    return JiraAdapter(config.jira_url, config.jira_user, config.jira_token, timeout=config.jira_timeout)
