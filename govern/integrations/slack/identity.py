"""Who is who: a Slack user maps to a person by the stored Slack id, else by e-mail.

What each call costs, whatever the size of the organisation:
- a Slack user we do not know yet (a command, a button): one `users.info` (its e-mail), matched against the people
  known only by e-mail; never one `users.lookupByEmail` per person;
- Slack ids for people known only by e-mail (direct messages to approvers): `users.lookupByEmail` per e-mail while
  few are unknown; one paged `users.list` for the whole workspace when many are (`BULK_THRESHOLD`).
Answers are cached per e-mail (found ids for an hour, misses — negative caching — for ten minutes) so that a busy
channel does not spend Slack's rate limit. A look-up Slack refused (429, an outage) is not remembered as a miss: it
is asked again next time. The cache holds nothing that matters: losing it costs a few look-ups.
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
BULK_THRESHOLD = 10  # more unknown e-mails than this at once: one users.list instead of one lookup per e-mail
LIST_PAGE = 200  # users.list page size (Slack recommends no more than 200)


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
        if not candidates:
            return None
        by_email = {email.strip().lower(): person_id for person_id, email in candidates}
        now = time.monotonic()
        with self._lock:  # already known from an earlier look-up?
            for email, (found, until) in self._by_email.items():
                if found == slack_user_id and until > now and email in by_email:
                    return by_email[email]
        email = self._email_of(slack_user_id)  # one call, whatever the number of people
        return by_email.get(email) if email else None

    def _email_of(self, slack_user_id: str) -> str | None:
        """The e-mail of a Slack user (`users.info`), remembered for the e-mail look-ups too; None when unknown."""
        if self.client is None:
            return None
        try:
            user = self.client.users_info(user=slack_user_id)["user"]
        except SlackApiError:  # user_not_found, rate limited, refused: unmapped for now
            return None
        except OSError:
            return None
        email = ((user.get("profile") or {}).get("email") or "").strip().lower()
        if not email or user.get("deleted"):
            return None
        with self._lock:
            self._by_email[email] = (slack_user_id, time.monotonic() + FOUND_TTL)
        return email

    def slack_ids_for(self, people: list[tuple[str | None, str | None]]) -> list[str]:
        """Slack ids for (stored slack_id, e-mail) pairs, looked up by e-mail where none is stored (one users.list
        when many e-mails are unknown to the cache)."""
        now = time.monotonic()
        with self._lock:
            unknown = {e.strip().lower() for s, e in people if not s and e
                       and (self._by_email.get(e.strip().lower()) or (None, 0.0))[1] <= now}
        if len(unknown) > BULK_THRESHOLD:
            self.load_workspace(unknown)
        found = [slack_id or self.slack_id_by_email(email) for slack_id, email in people]
        return [f for f in found if f]

    def load_workspace(self, wanted: set[str] | None = None) -> bool:
        """Fill the e-mail cache from one paged `users.list`; the `wanted` e-mails it does not list are remembered
        as misses, but only when every page came back (a 429 part-way leaves them to be asked again)."""
        if self.client is None:
            return False
        found: dict[str, str] = {}
        cursor = None
        try:
            while True:
                answer = self.client.users_list(limit=LIST_PAGE, **({"cursor": cursor} if cursor else {}))
                for user in answer.get("members") or []:
                    email = ((user.get("profile") or {}).get("email") or "").strip().lower()
                    if email and not user.get("deleted") and not user.get("is_bot"):
                        found[email] = user["id"]
                cursor = (answer.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
            complete = True
        except (SlackApiError, OSError):
            complete = False
        now = time.monotonic()
        with self._lock:
            for email, user_id in found.items():
                self._by_email[email] = (user_id, now + FOUND_TTL)
            if complete:
                for email in (wanted or set()) - set(found):
                    self._by_email[email] = (None, now + MISS_TTL)
        return complete

    def forget(self) -> None:
        with self._lock:
            self._by_email.clear()
            self._by_user.clear()
