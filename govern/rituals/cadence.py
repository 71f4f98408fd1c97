"""Ritual cadences: when a ritual's occurrences fall, in UTC, whatever daylight saving does to the local clock.

A cadence is one of two kinds:

* ``cron``: five fields (minute hour day-of-month month day-of-week), evaluated with APScheduler 3.11's
  ``CronTrigger`` in the ritual's time zone. Day-of-week numbers follow standard crontab (0 or 7 = Sunday,
  1 = Monday …), not APScheduler 3's historical Monday = 0: numbers are rewritten to names before APScheduler sees
  them. When both day-of-month and day-of-week are restricted, both must match (APScheduler's rule).
* ``rrule``: an RFC 5545 recurrence rule (python-dateutil), e.g. ``FREQ=WEEKLY;BYDAY=WE;BYHOUR=10``, optionally preceded
  by a ``DTSTART:20260107T100000`` line giving the first occurrence as a *local* time in the ritual's time zone
  (``DTSTART;TZID=<the ritual's zone>:…`` is accepted too). Without DTSTART the rule is anchored at
  ``DEFAULT_ANCHOR`` (a Monday, midnight), so minutes and seconds default to zero. RRULE, RDATE and EXDATE lines
  may follow. Secondly and minutely rules are refused: rituals are meetings.

Daylight-saving rule (the same for both kinds, after RFC 5545 §3.3.5), so each local wall-clock time fires once:

* a local time that does not exist (02:30 on the spring-forward day in Europe/Amsterdam) is read with the offset in
  force before the gap, i.e. it happens one hour later on the wall clock (02:30 CET = 01:30 UTC = 03:30 CEST);
* a local time that happens twice (02:30 on the fall-back day) happens once, at its *first* instant (02:30 CEST,
  00:30 UTC), never again an hour later;
* two local times that land on the same instant (an hourly cadence's 02:30 and 03:30 on the spring-forward day)
  fire once.

Missed-occurrence policy after downtime (``plan_due``): an occurrence is *due* once its agenda should have been built
(``scheduled_at - agenda lead``). Of the due occurrences that were never fired, only the latest one may still be
built, and only while it is within its grace period (``scheduled_at + grace``; by default the meeting's duration:
an agenda is useful until the meeting ends). Every other due occurrence is marked ``missed``; nothing is fired as a
burst. A missed occurrence can still be recorded as held afterwards, by hand.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from dateutil import rrule as dateutil_rrule

UTC = dt.timezone.utc
CADENCE_KINDS = ("cron", "rrule")
DEFAULT_ANCHOR = dt.datetime(2024, 1, 1)  # a Monday, local midnight
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_REFUSED_FREQS = {dateutil_rrule.SECONDLY: "SECONDLY", dateutil_rrule.MINUTELY: "MINUTELY"}


class CadenceError(ValueError):
    """A cadence that cannot be understood; the message is meant for the person who wrote it."""


# --- time zones and the daylight-saving rule --------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The IANA time zone called `name`, or CadenceError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise CadenceError(f"unknown time zone {name!r}") from exc


def local_to_utc(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of a naive local wall-clock time under the RFC 5545 rule (gap: offset before; fold: first)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _unique_in_order(instants: Iterable[dt.datetime]) -> Iterator[dt.datetime]:
    """Drop an instant already produced (the DST rule maps distinct wall times onto one instant)."""
    seen: set[dt.datetime] = set()
    for instant in instants:
        if instant not in seen:
            seen.add(instant)
            yield instant


def as_utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC; a naive datetime is taken to be UTC already (that is how the database stores them)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- cron -------------------------------------------------------------------------------------------------------------


def _day_of_week_to_names(text: str) -> str:
    """Rewrite standard-crontab weekday numbers (0/7 = Sunday) as names, since APScheduler 3 counts Monday = 0."""
    if not re.search(r"\d", text.split("/")[0]) and "/" not in text:
        return text
    names: list[str] = []
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CadenceError(f"invalid day-of-week step in {text!r}")
            step = int(step_text)
        if body == "*":
            low, high = 0, 6
        elif re.fullmatch(r"\d+", body):
            low = high = int(body)
            if step_text:  # "1/2" means from Monday every second day, as in Vixie cron
                high = 6
        elif re.fullmatch(r"\d+-\d+", body):
            low, high = (int(x) for x in body.split("-"))
        else:
            if step_text or re.search(r"\d", body):
                raise CadenceError(f"invalid day-of-week {text!r}")
            names.append(body)  # a name such as WED or mon-fri: APScheduler reads these the standard way
            continue
        if not (0 <= low <= 7 and 0 <= high <= 7) or low > high:
            raise CadenceError(f"invalid day-of-week {text!r} (use 0-7, 0 and 7 are Sunday)")
        for number in range(low, high + 1, step):
            name = _DAY_NAMES[number % 7]
            if name not in names:
                names.append(name)
    return ",".join(names)


@lru_cache(maxsize=512)
def cron_trigger(expression: str, tz_name: str) -> CronTrigger:
    """An APScheduler CronTrigger for a five-field crontab expression in the named time zone."""
    fields = expression.split()
    if len(fields) != 5:
        raise CadenceError(f"invalid cron expression {expression!r}: expected 5 fields, got {len(fields)}")
    try:
        dow = _day_of_week_to_names(fields[4])
        return CronTrigger(minute=fields[0], hour=fields[1], day=fields[2], month=fields[3], day_of_week=dow,
                           timezone=zone(tz_name))
    except CadenceError as exc:
        if "time zone" in str(exc):
            raise
        raise CadenceError(f"invalid cron expression {expression!r}") from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise CadenceError(f"invalid cron expression {expression!r}") from exc


def _cron_instants(expression: str, tz_name: str, start_utc: dt.datetime) -> Iterator[dt.datetime]:
    trigger = cron_trigger(expression, tz_name)
    tz = zone(tz_name)
    # Start a little early: a repeated wall time found after `start` may map back onto an earlier instant.
    now = (start_utc - dt.timedelta(hours=3)).astimezone(tz)
    previous = None
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            return
        yield local_to_utc(fire.replace(tzinfo=None), tz)
        previous = now = fire


# --- RRULE ------------------------------------------------------------------------------------------------------------


_DTSTART = re.compile(r"^DTSTART(?:;TZID=(?P<tzid>[^:;]+))?(?:;VALUE=DATE-TIME)?:(?P<value>\d{8}T\d{6}Z?)$", re.I)


def split_dtstart(text: str, tz_name: str) -> tuple[dt.datetime, str]:
    """(naive local DTSTART, the remaining rule lines); DEFAULT_ANCHOR when the text has no DTSTART."""
    start = DEFAULT_ANCHOR
    rest: list[str] = []
    for raw in re.split(r"[\r\n]+", text.strip()):
        line = raw.strip()
        if not line:
            continue
        if line.upper().startswith("DTSTART"):
            match = _DTSTART.match(line)
            if not match:
                raise CadenceError(f"invalid DTSTART {line!r}: write DTSTART:YYYYMMDDTHHMMSS in local time")
            value = match["value"]
            if value.upper().endswith("Z"):
                raise CadenceError(f"DTSTART {value} is in UTC: give it as a local time in {tz_name}")
            if match["tzid"] and match["tzid"] != tz_name:
                raise CadenceError(f"DTSTART time zone {match['tzid']} differs from the ritual's time zone {tz_name}")
            start = dt.datetime.strptime(value, "%Y%m%dT%H%M%S")
        else:
            rest.append(line)
    if not rest:
        raise CadenceError("no RRULE given")
    if len(rest) == 1 and ":" not in rest[0]:
        rest[0] = "RRULE:" + rest[0]
    return start, "\n".join(rest)


@lru_cache(maxsize=512)
def _rule_set(text: str, tz_name: str) -> dateutil_rrule.rruleset:
    start, lines = split_dtstart(text, tz_name)
    try:
        rules = dateutil_rrule.rrulestr(lines, dtstart=start, forceset=True, ignoretz=True)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise CadenceError(f"invalid RRULE {text!r}: {exc}") from exc
    for rule in rules._rrule:  # noqa: SLF001 - dateutil keeps no public accessor for the rules of a set
        if rule._freq in _REFUSED_FREQS:  # noqa: SLF001
            raise CadenceError(
                f"invalid RRULE {text!r}: FREQ={_REFUSED_FREQS[rule._freq]} is too frequent for a ritual")
    return rules


def _rrule_instants(text: str, tz_name: str, start_utc: dt.datetime) -> Iterator[dt.datetime]:
    rules = _rule_set(text, tz_name)
    tz = zone(tz_name)
    # Local wall times from a day early: the offset between wall clock and UTC is never more than a day.
    after = (start_utc - dt.timedelta(days=1)).astimezone(tz).replace(tzinfo=None)
    for wall in rules.xafter(after, inc=True):
        yield local_to_utc(wall, tz)


# --- the public surface -----------------------------------------------------------------------------------------------


def validate(cadence_kind: str, cadence: str, tz_name: str) -> None:
    """Raise CadenceError with a message naming the problem; None when the cadence is usable."""
    zone(tz_name)
    if cadence_kind == "cron":
        cron_trigger(cadence.strip(), tz_name)
    elif cadence_kind == "rrule":
        rules = _rule_set(cadence.strip(), tz_name)
        if next(iter(rules), None) is None:
            raise CadenceError(f"RRULE {cadence!r} never occurs")
    else:
        raise CadenceError(f"unknown cadence kind {cadence_kind!r} (use cron or rrule)")


def iter_occurrences(cadence_kind: str, cadence: str, tz: str, start_utc: dt.datetime) -> Iterator[dt.datetime]:
    """Aware-UTC occurrences at or after `start_utc`, in order, each local wall-clock time once (see module doc)."""
    start_utc = as_utc(start_utc)
    if cadence_kind == "cron":
        instants = _cron_instants(cadence.strip(), tz, start_utc)
    elif cadence_kind == "rrule":
        instants = _rrule_instants(cadence.strip(), tz, start_utc)
    else:
        raise CadenceError(f"unknown cadence kind {cadence_kind!r} (use cron or rrule)")
    last = None
    for instant in _unique_in_order(instants):
        if instant < start_utc or (last is not None and instant <= last):
            continue
        last = instant
        yield instant


def occurrences_between(
    cadence_kind: str, cadence: str, tz: str, start_utc: dt.datetime, end_utc: dt.datetime
) -> list[dt.datetime]:
    """Aware-UTC occurrences with start_utc <= t < end_utc."""
    end_utc = as_utc(end_utc)
    out = []
    for instant in iter_occurrences(cadence_kind, cadence, tz, start_utc):
        if instant >= end_utc:
            break
        out.append(instant)
    return out


def next_occurrence(cadence_kind: str, cadence: str, tz: str, after_utc: dt.datetime) -> dt.datetime | None:
    """The first occurrence strictly after `after_utc`, or None when the cadence has ended."""
    after_utc = as_utc(after_utc)
    for instant in iter_occurrences(cadence_kind, cadence, tz, after_utc):
        if instant > after_utc:
            return instant
    return None


# --- the missed-occurrence policy -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuePlan:
    """What to do now with occurrences that were never fired: build one agenda (or none), mark the rest missed."""

    fire: dt.datetime | None = None
    missed: list[dt.datetime] = field(default_factory=list)
    waiting: list[dt.datetime] = field(default_factory=list)  # not due yet


def plan_due(
    unfired: Iterable[dt.datetime], now: dt.datetime, *, lead: dt.timedelta, grace: dt.timedelta
) -> DuePlan:
    """Apply the missed-occurrence policy to the scheduled times of occurrences that were never fired.

    Due: ``scheduled - lead <= now``. Only the latest due occurrence still within ``scheduled + grace`` is fired;
    every other due occurrence is missed. Occurrences not due yet wait.
    """
    now = as_utc(now)
    times = sorted(as_utc(t) for t in unfired)
    due = [t for t in times if t - lead <= now]
    waiting = [t for t in times if t - lead > now]
    in_grace = [t for t in due if now <= t + grace]
    fire = in_grace[-1] if in_grace else None
    missed = [t for t in due if t != fire]
    return DuePlan(fire=fire, missed=missed, waiting=waiting)


def describe(cadence_kind: str, cadence: str, tz: str) -> str:
    """A short human description for listings and the playbook."""
    if cadence_kind == "cron":
        return f"cron '{cadence.strip()}' ({tz})"
    start, lines = split_dtstart(cadence, tz)
    rule = " ".join(line.removeprefix("RRULE:") for line in lines.splitlines())
    anchor = "" if start == DEFAULT_ANCHOR else f" from {start:%Y-%m-%d %H:%M}"
    return f"{rule}{anchor} ({tz})"
