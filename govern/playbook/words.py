"""Plain words for the playbook: cadences, guards, approval rules and permissions, as a newcomer reads them."""

from __future__ import annotations

import re
from typing import Any, Mapping

from govern.policy import ACTIONS, Scope
from govern.vocabulary import DEFAULT as DEFAULT_WORDS, Vocabulary
from govern.workflows.guards import GUARDS

_DAYS = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday",
         "SU": "Sunday"}
_CRON_DAYS = {"0": "SU", "7": "SU", "1": "MO", "2": "TU", "3": "WE", "4": "TH", "5": "FR", "6": "SA",
              "SUN": "SU", "MON": "MO", "TUE": "TU", "WED": "WE", "THU": "TH", "FRI": "FR", "SAT": "SA"}
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last", -2: "second-to-last"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _ordinal_day(n: int) -> str:
    if n < 0:
        return _ORDINALS.get(n, f"{-n}th-to-last") + " day"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _time(hours: list[str], minutes: list[str]) -> str:
    if len(hours) == 1 and len(minutes) == 1 and hours[0].isdigit() and minutes[0].isdigit():
        return f"{int(hours[0]):02d}:{int(minutes[0]):02d}"
    return ""


def _every(n: int, unit: str) -> str:
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def cron_words(expression: str) -> str | None:
    """'0 10 * * WED' → 'every Wednesday at 10:00'; None when the expression is too unusual to say simply."""
    fields = expression.split()
    if len(fields) != 5:
        return None
    minute, hour, dom, month, dow = fields
    at = _time(hour.split(","), minute.split(","))
    if not at or month != "*":
        return None
    if dom == "*" and dow == "*":
        return f"every day at {at}"
    if dom == "*":
        if re.fullmatch(r"[0-7A-Za-z]+(?:,[0-7A-Za-z]+)*", dow):
            days = [_DAYS.get(_CRON_DAYS.get(d.upper(), ""), "") for d in dow.split(",")]
            if all(days):
                return f"every {_list(days)} at {at}"
        if dow.upper() in ("1-5", "MON-FRI"):
            return f"every weekday at {at}"
        return None
    if dow == "*" and dom.isdigit():
        return f"every month on the {_ordinal_day(int(dom))} at {at}"
    return None


def rrule_words(text: str) -> str | None:
    """'FREQ=MONTHLY;BYDAY=1TU;BYHOUR=14;BYMINUTE=0' → 'every month on the first Tuesday at 14:00'."""
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", text.strip()) if ln.strip()]
    rules = [ln.removeprefix("RRULE:") for ln in lines if not ln.upper().startswith("DTSTART")]
    if len(rules) != 1:
        return None
    parts: dict[str, str] = {}
    for item in rules[0].split(";"):
        key, _, value = item.partition("=")
        parts[key.strip().upper()] = value.strip().upper()
    freq = parts.pop("FREQ", "")
    interval = int(parts.pop("INTERVAL", "1") or 1)
    hours = parts.pop("BYHOUR", "0").split(",")
    minutes = parts.pop("BYMINUTE", "0").split(",")
    at = _time(hours, minutes)
    byday = parts.pop("BYDAY", "")
    bymonthday = parts.pop("BYMONTHDAY", "")
    bymonth = parts.pop("BYMONTH", "")
    parts.pop("WKST", None)
    if parts or not at:
        return None
    days: list[str] = []
    for d in [x for x in byday.split(",") if x]:
        match = re.fullmatch(r"([+-]?\d+)?(MO|TU|WE|TH|FR|SA|SU)", d)
        if not match:
            return None
        nth = int(match.group(1)) if match.group(1) else None
        name = _DAYS[match.group(2)]
        days.append(f"{_ORDINALS.get(nth, str(nth) + 'th')} {name}" if nth else name)
    if freq == "DAILY" and not byday and not bymonthday and not bymonth:
        return f"{_every(interval, 'day')} at {at}"
    if freq == "WEEKLY" and not bymonthday and not bymonth:
        on = f" on {_list(days)}" if days else ""
        return f"{_every(interval, 'week')}{on} at {at}"
    if freq == "MONTHLY" and not bymonth:
        if days and not bymonthday:
            return f"{_every(interval, 'month')} on the {_list(days)} at {at}"
        if bymonthday and not days:
            monthdays = [_ordinal_day(int(x)) for x in bymonthday.split(",") if re.fullmatch(r"-?\d+", x)]
            return f"{_every(interval, 'month')} on the {_list(monthdays)} at {at}"
        if not days and not bymonthday:
            return f"{_every(interval, 'month')} at {at}"
    if freq == "YEARLY" and bymonth.isdigit() and bymonthday.isdigit() and not days:
        return f"every year on {_MONTHS[int(bymonth) - 1]} {int(bymonthday)} at {at}"
    return None


def cadence_words(kind: str, cadence: str, timezone: str) -> str:
    """The cadence in words with its time zone; the raw rule in brackets when it is too unusual to say simply."""
    said = cron_words(cadence) if kind == "cron" else rrule_words(cadence)
    if said is None:
        rule = " ".join(cadence.split())
        return f"{kind} rule {rule} ({timezone} time)"
    return f"{said} ({timezone} time)"


def guard_words(name: str, params: Mapping[str, Any], words: Vocabulary = DEFAULT_WORDS) -> str:
    """A guard's description with its parameters counted: 'at least 2 pieces of evidence back the opportunity',
    'it has at least 1 solution' (in the organisation's words)."""
    return GUARDS[name].describe(params, words)


def scope_words(scope: Scope | None, role: str) -> str:
    if scope is Scope.ALL:
        return "everywhere"
    if scope is Scope.SCOPED:
        return "the journeys they own" if role == "owner" else "their journeys"
    return "no"


def action_sentence(action: str, words: Vocabulary = DEFAULT_WORDS) -> str:
    """The plain words of an action from the permission table, in the organisation's words."""
    return words.action(action, ACTIONS[action][0])


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")
