"""iCalendar feeds of rituals (the `icalendar` library), one per ritual and one per person.

Decision: a feed lists *expanded* occurrences, one VEVENT each, not one VEVENT with an RRULE. Cron cadences have no
faithful RRULE form, and expanding lets a feed show what happened to each occurrence (a skipped or cancelled meeting is
``STATUS:CANCELLED``) while using exactly the instants the scheduler fires (the daylight-saving rule of
rituals.cadence). Each VEVENT keeps a stable UID, ``<ritual key>-<UTC start>@<domain>``, so calendar apps update
events in place instead of duplicating them. Start times carry the ritual's TZID and the feed embeds the VTIMEZONE.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence

import icalendar

from govern.rituals import cadence as cadence_mod

PRODID = "-//govern//journey ops engine rituals//EN"
DEFAULT_PAST = dt.timedelta(days=31)
DEFAULT_FUTURE = dt.timedelta(days=183)
REFRESH = dt.timedelta(hours=6)
# What a feed says about an occurrence in each of our statuses.
ICAL_STATUS = {"planned": "CONFIRMED", "held": "CONFIRMED", "missed": "CONFIRMED",
               "skipped": "CANCELLED", "cancelled": "CANCELLED"}


class RitualLike(Protocol):
    key: str
    name: str
    purpose: str
    cadence_kind: str
    cadence: str
    timezone: str
    duration_minutes: int
    slack_channel: str | None
    piggyback_on: str | None


@dataclass(frozen=True)
class Change:
    """What was decided about one occurrence: met at another time (`moved_to`), and why (moved, skipped, cancelled)."""

    moved_to: dt.datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class FeedEvent:
    """One occurrence as it appears in a calendar."""

    uid: str
    summary: str
    start_utc: dt.datetime
    duration: dt.timedelta
    timezone: str
    description: str = ""
    location: str | None = None
    url: str | None = None
    status: str = "CONFIRMED"


def occurrence_uid(ritual_key: str, scheduled_at: dt.datetime, domain: str = "govern") -> str:
    """Stable across feeds, refreshes and processes: the ritual key and the UTC start."""
    return f"{ritual_key}-{cadence_mod.as_utc(scheduled_at):%Y%m%dT%H%M%SZ}@{domain}"


def ritual_description(ritual: RitualLike) -> str:
    lines = [ritual.purpose.strip()] if ritual.purpose and ritual.purpose.strip() else []
    if ritual.piggyback_on:
        lines.append(f"Held during the {ritual.piggyback_on}.")
    if ritual.slack_channel:
        lines.append(f"Agenda posted in {ritual.slack_channel}.")
    lines.append(f"Cadence: {cadence_mod.describe(ritual.cadence_kind, ritual.cadence, ritual.timezone)}.")
    return "\n".join(lines)


def ritual_events(
    ritual: RitualLike,
    start_utc: dt.datetime,
    end_utc: dt.datetime,
    *,
    statuses: Mapping[dt.datetime, str] | None = None,
    changes: Mapping[dt.datetime, Change] | None = None,
    agenda_url: Any = None,
    domain: str = "govern",
) -> list[FeedEvent]:
    """Every occurrence of `ritual` in [start_utc, end_utc), plus recorded occurrences the cadence no longer yields.

    `statuses` maps an occurrence's UTC time to its status (planned, held, skipped, cancelled, missed);
    `changes` maps it to a `Change`: a moved occurrence keeps its UID (calendars update the event) and starts at its
    new time; the reason is added to the description. `agenda_url(scheduled_at)` gives a link to its agenda.
    """
    changes = {cadence_mod.as_utc(k): v for k, v in (changes or {}).items()}
    known = {cadence_mod.as_utc(k): v for k, v in (statuses or {}).items()}
    start_utc, end_utc = cadence_mod.as_utc(start_utc), cadence_mod.as_utc(end_utc)
    times = set(cadence_mod.occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                                start_utc, end_utc))
    times |= {t for t in known if start_utc <= t < end_utc}
    description = ritual_description(ritual)
    events = []
    for at in sorted(times):
        change = changes.get(at) or Change()
        status = known.get(at, "planned")
        note = ""
        if change.moved_to is not None:
            local = cadence_mod.as_utc(at).astimezone(cadence_mod.zone(ritual.timezone))
            note = f"Moved from {local:%a %d %b %Y %H:%M}" + (f": {change.reason}" if change.reason else "") + "."
        elif change.reason and status in ("skipped", "cancelled"):
            note = f"{status.capitalize()}: {change.reason}."
        events.append(FeedEvent(
            uid=occurrence_uid(ritual.key, at, domain),
            summary=ritual.name,
            start_utc=change.moved_to or at,
            duration=dt.timedelta(minutes=ritual.duration_minutes),
            timezone=ritual.timezone,
            description=(note + "\n" + description) if note else description,
            location=ritual.slack_channel,
            url=agenda_url(at) if agenda_url else None,
            status=ICAL_STATUS.get(known.get(at, "planned"), "CONFIRMED"),
        ))
    return events


def build_feed(
    name: str,
    events: Iterable[FeedEvent],
    *,
    stamp: dt.datetime | None = None,
    description: str | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT per event and the VTIMEZONEs they use, as bytes (text/calendar)."""
    stamp = cadence_mod.as_utc(stamp or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    if description:
        cal.add("x-wr-caldesc", description)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT6H")  # the same six hours, for clients that only read this one
    events = sorted(events, key=lambda e: (e.start_utc, e.uid))
    for event in events:
        vevent = icalendar.Event()
        vevent.add("uid", event.uid)
        vevent.add("dtstamp", stamp)
        vevent.add("summary", event.summary)
        vevent.add("dtstart", event.start_utc.astimezone(cadence_mod.zone(event.timezone)))
        vevent.add("duration", event.duration)
        vevent.add("status", event.status)
        if event.description:
            vevent.add("description", event.description)
        if event.location:
            vevent.add("location", event.location)
        if event.url:
            vevent.add("url", event.url)
        cal.add_component(vevent)
    if events and hasattr(cal, "add_missing_timezones"):
        first = min(e.start_utc for e in events).date() - dt.timedelta(days=366)
        last = max(e.start_utc for e in events).date() + dt.timedelta(days=366)
        cal.add_missing_timezones(first_date=first, last_date=last)
    return cal.to_ical()


@dataclass(frozen=True)
class ParsedEvent:
    uid: str
    summary: str
    start_utc: dt.datetime
    end_utc: dt.datetime
    tzid: str | None
    status: str | None


def parse_feed(data: bytes | str) -> list[ParsedEvent]:
    """Read a feed back (for tests and for anyone checking a subscription): events in start order."""
    cal = icalendar.Calendar.from_ical(data)
    out = []
    for vevent in cal.walk("VEVENT"):
        start = vevent.decoded("dtstart")
        if "dtend" in vevent:
            end = vevent.decoded("dtend")
        else:
            end = cadence_mod.as_utc(start) + vevent.decoded("duration")  # exact time, not wall clock (RFC 5545)
        tzid = vevent["dtstart"].params.get("TZID")
        status = str(vevent["status"]) if "status" in vevent else None
        out.append(ParsedEvent(str(vevent["uid"]), str(vevent.get("summary", "")),
                               cadence_mod.as_utc(start), cadence_mod.as_utc(end), tzid, status))
    return sorted(out, key=lambda e: (e.start_utc, e.uid))


# --- who attends what ------------------------------------------------------------------------------------------------


def attends(
    *,
    attendee_roles: Sequence[str],
    attendee_people: Sequence[str],
    scope_journey_ids: set[int] | None,
    handle: str,
    seats: Iterable[tuple[str, int | None]],
    owned_journey_ids: Iterable[int] = (),
) -> bool:
    """Whether a person attends a ritual: named in it, or holding one of its roles within its scope.

    `scope_journey_ids` None means the whole council. A seat without a journey covers every scope; a seat for a
    journey counts when that journey is in the ritual's scope. Role "owner" means owning a journey in scope.
    """
    if handle in attendee_people:
        return True
    roles = set(attendee_roles)
    for role, journey_id in seats:
        if role in roles and (journey_id is None or scope_journey_ids is None or journey_id in scope_journey_ids):
            return True
    if "owner" in roles:
        owned = set(owned_journey_ids)
        if owned and (scope_journey_ids is None or owned & scope_journey_ids):
            return True
    return False
