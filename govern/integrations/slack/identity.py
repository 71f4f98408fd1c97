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

from govern.model import Person

FOUND_TTL = 3600.0
MISS_TTL = 600.0
# Who a Slack user is, remembered briefly: a burst of commands costs one look-up, and a change to someone's Slack id
# or e-mail in govern.yaml is seen within a minute (a deactivated person is refused at once: load_actor checks).
USER_TTL = 60.0


class SlackDirectory:
    """Maps Slack user ids and people both ways, using `users.lookupByEmail` for people without a stored Slack id."""

    def __init__(self, client: WebClient | None):
        self.client = client
        self._by_email: dict[str, tuple[str | None, float]] = {}
        self._by_user: dict[str, tuple[int | None, float]] = {}
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
            found = None if user.get("deleted") else user["id"]
        except SlackApiError as err:
            if err.response.get("error") != "users_not_found":
                return None  # rate limited or refused: do not cache, ask again next time
            found = None
        except OSError:  # Slack unreachable (URLError, timeouts): the user reads as unmapped for now
            return None
        with self._lock:
            self._by_email[key] = (found, now + (FOUND_TTL if found else MISS_TTL))
        return found

    def slack_id_for(self, person: Person | None) -> str | None:
        """Where to reach a person in Slack: their stored id, or the one their e-mail is registered under."""
        if person is None:
            return None
        return person.slack_id or self.slack_id_by_email(person.email)

    def person_id_for(self, db, slack_user_id: str) -> int | None:
        """The active person behind a Slack user, or None when nobody matches (the user may read, not write).

        Reads in a short session of its own and asks Slack (users.lookupByEmail) only after closing it: on SQLite
        every transaction holds the write lock, and no network call may happen inside one.
        """
        if not slack_user_id:
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._by_user.get(slack_user_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        person_id = self._person_id_for(db, slack_user_id)
        with self._lock:  # strangers are asked about again sooner: they may be added any moment
            self._by_user[slack_user_id] = (person_id, now + (USER_TTL if person_id is not None else USER_TTL / 6))
        return person_id

    def _person_id_for(self, db, slack_user_id: str) -> int | None:
        with db.session_scope() as session:
            row = session.execute(sa.select(Person.id, Person.active).where(Person.slack_id == slack_user_id)).first()
            if row is not None:
                return row.id if row.active else None
            candidates = session.execute(
                sa.select(Person.id, Person.email)
                .where(Person.slack_id.is_(None), Person.email.is_not(None), Person.active.is_(True))
                .order_by(Person.id)).all()
        for person_id, email in candidates:
            if self.slack_id_by_email(email) == slack_user_id:
                return person_id
        return None

    def slack_ids_for(self, people: list[tuple[str | None, str | None]]) -> list[str]:
        """Slack ids for (stored slack_id, e-mail) pairs, looked up by e-mail where none is stored."""
        found = [slack_id or self.slack_id_by_email(email) for slack_id, email in people]
        return [f for f in found if f]

    def forget(self) -> None:
        with self._lock:
            self._by_email.clear()
            self._by_user.clear()
