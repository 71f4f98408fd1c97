"""The Slack adapter: one per process, built by the composition layer when GOVERN_SLACK_BOT_TOKEN and
GOVERN_SLACK_SIGNING_SECRET are set (else Slack is disabled, visibly in /healthz and on the Slack endpoints).

It holds the Web API client (GOVERN_SLACK_API_URL points it at a stand-in), the signing secret, the identity directory
(Slack user ↔ person, cached) and a small thread pool that finishes slow commands through `response_url` so that every
request from Slack is acknowledged within its 3-second deadline.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from govern.settings import Config
from govern.integrations.slack.identity import SlackDirectory

log = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com/api/"
# How long a request from Slack may wait for its answer before we acknowledge it and finish through response_url.
# Slack gives up after 3 s; we aim to acknowledge well within 300 ms so that a busy server, a slow network between
# Slack and us, or a burst of commands never comes near the deadline. Most commands take 10-40 ms on an idle server
# and are answered inline; in a burst the rest are acknowledged empty and their answer follows a moment later, which
# looks the same to the person (one answer). `ack_budget_ms` in the `slack` setting changes it.
INLINE_BUDGET_SECONDS = 0.05


class SlackAdapter:
    """Everything the Slack endpoints and the deliverer share in one process."""

    def __init__(self, *, bot_token: str, signing_secret: str, api_url: str | None = None,
                 workers: int = 4, inline_budget: float = INLINE_BUDGET_SECONDS, timeout: int = 10,
                 base_url: str | None = None):
        self.signing_secret = signing_secret
        # The web app's public address (GOVERN_BASE_URL): every notification links back to what it is about.
        self.base_url = (base_url or "http://127.0.0.1:5000").rstrip("/")
        self.api_url = api_url or SLACK_API_URL
        # No retry handlers: request handlers must not sleep through a 429, and the outbox worker retries
        # notifications itself after Slack's Retry-After.
        self.client = WebClient(token=bot_token, base_url=self.api_url, timeout=timeout)
        self.directory = SlackDirectory(self.client)
        self.inline_budget = inline_budget
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack")
        self.timeout = timeout
        self._in_flight: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, fn) -> Future:
        """Run work for a request from Slack on the pool (tracked, so that shutdown can let it finish)."""
        future = self.executor.submit(fn)
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self._lock:
            self._in_flight.discard(future)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted piece of work (and its response_url follow-up) has finished."""
        with self._lock:
            pending = set(self._in_flight)
        done, not_done = wait(pending, timeout=timeout)
        return not not_done

    def apply_settings(self, settings: dict) -> None:
        """Take `ack_budget_ms` from the `slack` setting (govern.yaml) when it is there; it applies from the next
        request on (reading the database on the request's own clock would cost what the budget is meant to save)."""
        value = settings.get("ack_budget_ms")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.inline_budget = max(0.0, min(float(value), 2500.0)) / 1000.0

    def respond(self, response_url: str | None, body: dict) -> bool:
        """Post a (late) answer to a response_url; True when Slack accepted it."""
        if not response_url:
            return False
        try:
            response = WebhookClient(response_url, timeout=self.timeout).send_dict(body)
        except Exception as exc:  # noqa: BLE001 - a lost follow-up is logged, never raised into a worker thread
            log.warning("slack response_url post failed: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("slack response_url answered %s: %s", response.status_code, response.body[:200])
        return response.status_code == 200

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)


def build(config: Config) -> SlackAdapter | None:
    """The adapter when Slack is configured; None (disabled) otherwise."""
    if not config.slack_enabled:
        return None
    return SlackAdapter(bot_token=config.slack_bot_token, signing_secret=config.slack_signing_secret,
                        api_url=config.slack_api_url, base_url=config.base_url)
