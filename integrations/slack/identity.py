"""Who is who: a Slack user maps to a person by the stored Slack id, else by e-mail through `users.lookupByEmail`.

Look-ups are cached per process (found ids for an hour, misses for ten minutes) so that a busy channel does not spend
Slack's rate limit; the cache holds nothing that matters: losing it costs a few look-ups.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from govern.model import Person

FOUND_TTL = 3600.0
MISS_TTL = 600.0


class SlackDirectory:
    """Maps Slack user ids and people both ways, using `users.lookupByEmail` for people without a stored Slack id."""

    def __init__(self, client: WebClient | None):
        self.client = client
        self._by_email: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def slack_id_by_email(self, email: str | None) -> str | None:
        """The Slack user id registered with this e-mail address, or None (cached, misses included)."""
        if not email or self.client is None:
            return None
        key = email.strip().lower()
        now = time.monotonic()
        with self._lock:
            cached = self._by_email.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            user = self.client.users_lookupByEmail(email=email)["user"]
            found, ttl = (None if user.get("deleted") else user["id"]), FOUND_TTL
        except SlackApiError as err:
            if err.response.get("error") != "users_not_found":
                return None  # rate limited or unavailable: do not cache, ask again next time
            found, ttl = None, MISS_TTL
        with self._lock:
            self._by_email[key] = (found, now + ttl if found else now + MISS_TTL)
        return found

    def slack_id_for(self, person: Person | None) -> str | None:
        """Where to reach a person in Slack: their stored id, or the one their e-mail is registered under."""
        if person is None:
            return None
        return person.slack_id or self.slack_id_by_email(person.email)

    def person_for(self, session: Session, slack_user_id: str) -> Person | None:
        """The active person behind a Slack user, or None when nobody matches (the user may read, not write)."""
        person = session.scalar(sa.select(Person).where(Person.slack_id == slack_user_id))
        if person is not None:
            return person if person.active else None
        # No stored id: compare the Slack ids registered under our people's e-mail addresses (cached look-ups).
        candidates = session.scalars(
            sa.select(Person).where(Person.slack_id.is_(None), Person.email.is_not(None), Person.active.is_(True))
            .order_by(Person.id))
        for candidate in candidates:
            if self.slack_id_by_email(candidate.email) == slack_user_id:
                return candidate
        return None

    def forget(self) -> None:
        with self._lock:
            self._by_email.clear()
