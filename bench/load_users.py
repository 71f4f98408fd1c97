"""The simulated council members of `bench/load.py` (a locust file; run `bench/load.py`, not this file).

Each user signs in through the web form (CSRF token from the sign-in page) as one of the example organisation's people
(round robin, demo password) and holds that person's API token. Then, with a short pause between actions, it mixes:
the board, opportunity pages, the evidence list, the approvals inbox, requesting a transition (through the web form
shown on the opportunity page, or through the API after asking it which transitions are open), approving a pending
request (the inbox's Approve button, or the API's "awaiting me" list) and the API lists.

Every answer is classified here, not by locust: 5xx (and a dropped connection) is a server error; a 409 or 403 on a
state-changing call, or the error notice a web form redirects to, is a legitimate domain refusal (a guard unmet, a
request already decided by someone faster, separation of duties, a stale version) and is counted by its message; any
other 4xx is an unexpected answer (a bug in this file or the app). At the end every sample and outcome is written as
JSON to $LOAD_RESULTS for bench/load.py to report.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    print("bench/load_users.py is the locust file of bench/load.py: run `python bench/load.py` instead.")
    sys.exit(0)

import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402

from locust import HttpUser, between, events, task  # noqa: E402

TOKENS: dict[str, str] = json.loads(os.environ["LOAD_TOKENS"])  # handle -> API token secret
PASSWORD = os.environ["LOAD_PASSWORD"]
OPPORTUNITIES = int(os.environ.get("LOAD_OPPORTUNITIES", "10000"))
RESULTS = os.environ["LOAD_RESULTS"]

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NOTICE_ERROR = re.compile(r'class="notice notice-error"[^>]*>([^<]*)<')
TRANSITION_FORM = re.compile(
    r'<form method="post" action="(/opportunities/[^"/]+/transition)"[^>]*>.*?name="trigger" value="([^"]+)"'
    r'.*?name="version" value="(\d+)"', re.S)
APPROVE_FORM = re.compile(r'action="(/approvals/\d+/approve)"[^>]*>.*?name="version" value="(\d+)"', re.S)
# Numbers, keys and quoted names vary per request; a refusal is counted by the shape of its message.
VARIES = re.compile(r"\b[A-Z]+-\d+\b|#\d+|\b\d+\b|'[^']*'|\"[^\"]*\"")

handles = itertools.cycle(sorted(TOKENS))
samples: dict[str, list[float]] = defaultdict(list)   # page name -> response times (ms)
server_errors: Counter = Counter()                    # "name: status" -> count
refusals: Counter = Counter()                         # "name: status message" -> count
unexpected: Counter = Counter()                       # "name: status message" -> count
done: Counter = Counter()                             # what actually changed: "transition moved", "approved", ...
reconnects: Counter = Counter()                       # name -> keep-alive connections closed under a request, retried


def shape(message: str) -> str:
    return " ".join(VARIES.sub("…", message).split())[:110]


def api_message(response) -> str:
    try:
        return response.json()["error"]["message"]
    except Exception:  # not our error shape (a proxy page, an HTML error)
        return (response.text or "")[:80]


class CouncilMember(HttpUser):
    wait_time = between(1, 4)  # a person reads a page before the next click

    def on_start(self):
        self.handle = next(handles)
        self.api = {"Authorization": f"Bearer {TOKENS[self.handle]}"}
        for _ in range(3):  # a refused sign-in (counted) is tried again, as a person would
            page = self.get("/login", "GET /login")
            token = CSRF.search(page.text).group(1)
            _, outcome = self.call("POST", "/login", "POST /login", expect=(302,),
                                   data={"handle": self.handle, "password": PASSWORD, "csrf_token": token})
            if outcome == "ok":
                break
        self.csrf = CSRF.search(self.get("/board", "GET /board").text).group(1)  # the signed-in session's token

    # --- requests and their classification ------------------------------------------------------------------------------

    def call(self, method: str, path: str, name: str, expect=(200,), refusable=False, **kwargs):
        """One request and its outcome. A keep-alive connection the server closed just as the request went out is
        retried once on a new connection, as browsers do (gunicorn closes idle connections after 2 s), and counted."""
        for attempt in (1, 2):
            with self.client.request(method, path, name=name, catch_response=True, allow_redirects=False,
                                     **kwargs) as response:
                if attempt == 1 and response.status_code == 0 and "Connection aborted" in str(response.error):
                    reconnects[name] += 1
                    response.success()
                    continue
                return response, self.classify(response, name, expect, refusable)

    def get(self, path: str, name: str, headers=None):
        return self.call("GET", path, name, headers=headers)[0]

    def classify(self, response, name: str, expect=(200,), refusable=False) -> str:
        """Record the outcome; locust itself only hears of server errors and unexpected answers."""
        samples[name].append(response.request_meta["response_time"])
        status = response.status_code
        if status in expect:
            response.success()
            return "ok"
        if status == 0 or status >= 500:
            failure = status or f"no answer ({type(response.error).__name__}: {str(response.error)[:60]})"
            server_errors[f"{name}: {failure}"] += 1
            response.failure(f"server error {status}")
            return "error"
        message = shape(api_message(response) if "/api/" in response.url else response.reason or "")
        if refusable and status in (403, 409):
            refusals[f"{name}: {status} {message}"] += 1
            response.success()
            return "refused"
        unexpected[f"{name}: {status} {message}"] += 1
        response.failure(f"unexpected {status}")
        return "unexpected"

    def form(self, path: str, name: str, data: dict) -> None:
        """Post a web form and follow its redirect, as a browser does; an error notice there is a refusal."""
        response, outcome = self.call("POST", path, name, expect=(302,), refusable=True,
                                      data={**data, "csrf_token": self.csrf})
        if outcome != "ok":
            return
        landing = self.get(response.headers["Location"], "GET (page after a form)")
        notice = NOTICE_ERROR.search(landing.text)
        if notice:
            refusals[f"{name}: notice {shape(notice.group(1))}"] += 1
        else:
            done[name] += 1

    def some_opportunity(self) -> str:
        return f"OPP-{random.randint(1, OPPORTUNITIES)}"

    # --- what a council member does -------------------------------------------------------------------------------------

    @task(6)
    def board(self):
        self.get("/board", "GET /board")

    @task(8)
    def opportunity_page(self):
        self.get(f"/opportunities/{self.some_opportunity()}", "GET /opportunities/[key]")

    @task(3)
    def evidence(self):
        self.get("/evidence", "GET /evidence")

    @task(2)
    def approvals_inbox(self):
        self.get("/approvals", "GET /approvals")

    @task(3)
    def request_transition_on_the_page(self):
        """Open an opportunity and press one of the transition buttons it offers this person (if any)."""
        page = self.get(f"/opportunities/{self.some_opportunity()}", "GET /opportunities/[key]")
        forms = TRANSITION_FORM.findall(page.text)
        if forms:
            action, trigger, version = random.choice(forms)
            self.form(action, "POST /opportunities/[key]/transition (form)",
                      {"trigger": trigger, "version": version, "reason": "load run", "next": action.rsplit("/", 1)[0]})

    @task(2)
    def request_transition_by_api(self):
        key = self.some_opportunity()
        listed = self.get(f"/api/v1/opportunities/{key}/transitions", "API GET /opportunities/[key]/transitions",
                          headers=self.api)
        if listed.status_code != 200:
            return
        items = listed.json()
        items = items.get("items", items) if isinstance(items, dict) else items
        open_ = [t["trigger"] for t in items if t.get("ok") and t.get("may_request") and not t.get("blocked_by_request")]
        if not open_:
            return
        name = "API POST /opportunities/[key]/transitions"
        _, outcome = self.call("POST", f"/api/v1/opportunities/{key}/transitions", name, expect=(200, 202),
                               refusable=True, headers=self.api,
                               json={"trigger": random.choice(open_), "reason": "load run"})
        if outcome == "ok":
            done[name] += 1

    @task(2)
    def approve_in_the_inbox(self):
        page = self.get("/approvals", "GET /approvals")
        forms = APPROVE_FORM.findall(page.text)
        if forms:
            action, version = random.choice(forms[:10])  # the first ones: people race for the same requests
            self.form(action, "POST /approvals/[id]/approve (form)", {"version": version, "next": "/approvals"})

    @task(2)
    def approve_by_api(self):
        awaiting = self.get("/api/v1/approvals/awaiting", "API GET /approvals/awaiting", headers=self.api)
        if awaiting.status_code != 200:
            return
        body = awaiting.json()
        items = body.get("items", body) if isinstance(body, dict) else body
        if not items:
            return
        request_id = random.choice(items[:10])["id"]
        name = "API POST /approvals/[id]/approve"
        _, outcome = self.call("POST", f"/api/v1/approvals/{request_id}/approve", name, expect=(200,),
                               refusable=True, headers=self.api, json={"reason": "load run"})
        if outcome == "ok":
            done[name] += 1

    @task(2)
    def health(self):
        """The baseline in the same run: an answer that reads no database, so its time is the queueing alone."""
        self.get("/healthz", "GET /healthz (baseline: no database)")

    @task(4)
    def api_lists(self):
        path = random.choice(("/opportunities", "/insights", "/approvals", "/journeys"))
        self.get(f"/api/v1{path}", f"API GET {path}", headers=self.api)


@events.quitting.add_listener
def write_results(environment, **_):
    with open(RESULTS, "w", encoding="utf-8") as out:
        json.dump({"samples": samples, "server_errors": server_errors, "refusals": refusals, "unexpected": unexpected,
                   "done": done, "reconnects": reconnects}, out)
