"""The small interfaces between the outbox worker and the adapters that deliver its messages (Jira, Slack, ...).

A `Deliverer` owns one outbox topic. The worker claims due messages of that topic, hands them over in batches of at most
`batch_size` OUTSIDE any database transaction, and records the `Outcome` returned for each message:

- ``delivered``: done; `external_ref` (e.g. a Jira issue key or a Slack message ts) is stored on the message.
- ``retry``: a temporary failure; tried again after `retry_after` seconds when given (a 429/503 Retry-After), otherwise
  after an exponential backoff with jitter chosen by the worker. After the worker's maximum attempts it becomes ``dead``.
- ``failed``: a permanent failure (a 4xx that will never succeed); `error` carries the remote error text. Kept for
  people to see and retry by hand (`govern outbox retry ID`) once the cause is fixed.
- ``dead``: give up now without further attempts.

A deliverer must answer one Outcome per message it was given (the worker treats a missing one as ``retry``), must not
raise for per-message problems, and must be safe to call again for a message whose earlier attempt may have landed
(a crash can happen between the remote write and the worker recording it): deliveries are idempotent. A message whose
`unsure_since` is set had an attempt that may have landed (its answer was lost, or its worker died mid-delivery): the
deliverer looks for it at the remote before writing again. A deliverer with `records_each = True` (chat: a post cannot
be recognised by a label in a search) is handed one message at a time and each outcome is recorded as it comes.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
from typing import Literal, Protocol, Sequence, runtime_checkable
import email.utils
import time

from govern.model import OutboxMessage

OutcomeStatus = Literal["delivered", "retry", "failed", "dead"]
OUTCOME_STATUSES: tuple[str, ...] = ("delivered", "retry", "failed", "dead")


@dataclass(frozen=True)
class Outcome:
    """What happened to one outbox message."""

    message_id: int
    status: OutcomeStatus
    error: str | None = None
    external_ref: str | None = None
    retry_after: float | None = None  # seconds; set from Retry-After on 429/503
    # A retry whose write may have landed without our knowing (a timeout, a connection dropped after sending): when.
    # The next attempt looks at the remote before writing again. `settled`: the deliverer looked and found that
    # nothing is in doubt any more. Neither: whatever the message had stays (see worker.record_outcomes).
    unsure_since: dt.datetime | None = None
    settled: bool = False
    # A retry that is no failure of the remote (the message waits for a settle time of its own): due again after
    # `retry_after` seconds without pausing the topic or counting against it.
    waiting: bool = False

    def __post_init__(self):
        if self.status not in OUTCOME_STATUSES:
            raise ValueError(f"unknown outcome status {self.status!r}")

    @classmethod
    def delivered(cls, message_id: int, external_ref: str | None = None) -> "Outcome":
        return cls(message_id, "delivered", external_ref=external_ref)

    @classmethod
    def retry(cls, message_id: int, error: str, retry_after: float | None = None, *,
              unsure_since: dt.datetime | None = None, settled: bool = False) -> "Outcome":
        return cls(message_id, "retry", error=error, retry_after=retry_after, unsure_since=unsure_since,
                   settled=settled)

    @classmethod
    def wait(cls, message_id: int, why: str, seconds: float) -> "Outcome":
        return cls(message_id, "retry", error=why, retry_after=max(0.0, seconds), waiting=True)

    @classmethod
    def failed(cls, message_id: int, error: str) -> "Outcome":
        return cls(message_id, "failed", error=error)

    @classmethod
    def dead(cls, message_id: int, error: str) -> "Outcome":
        return cls(message_id, "dead", error=error)


@runtime_checkable
class Deliverer(Protocol):
    """Delivers the outbox messages of one topic."""

    topic: str
    batch_size: int

    def deliver(self, messages: Sequence[OutboxMessage]) -> list[Outcome]:
        """Deliver these messages (detached copies; do not write to them) and answer one Outcome per message."""
        ...


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110); None when absent or junk."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
