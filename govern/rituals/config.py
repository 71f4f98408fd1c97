"""The `rituals:` section of govern.yaml: validation (every error names its path) and the mapping onto Ritual rows.

One entry::

    - key: council-review
      name: Weekly council review
      purpose: Decide on requests awaiting approval; look at what is stale.
      cadence: {cron: "0 10 * * WED"}        # or {rrule: "FREQ=WEEKLY;BYDAY=WE;BYHOUR=10", dtstart: "2026-01-07T10:00"}
      timezone: Europe/Amsterdam
      duration_minutes: 60
      scope: council                          # or {journey: KEY} or {subtree: KEY}
      attendees: {roles: [lead, manager], people: [lotte]}
      slack_channel: "#cx-council"
      agenda: [approvals, stale, kpis, evaluations_due, ownership_gaps, follow_ups]
      agenda_lead_minutes: 60                 # the agenda is posted this long before the meeting
      piggyback_on: sprint review             # the meeting the team already holds, if any
      stale_after_days: 14
      since: 2026-01-07                       # the first day it met: its past starts there

An RRULE's first occurrence may also be given the RFC 5545 way, inside the rule text (``DTSTART:20260107T100000`` on
its own line, local time). `grace_minutes` (default: the duration) bounds how late
an agenda may still be posted after downtime (see rituals.cadence).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable, Mapping

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from govern.model import COUNCIL_ROLES
from govern.rituals import cadence as cadence_mod

AGENDA_SECTIONS = ("approvals", "stale", "kpis", "evaluations_due", "ownership_gaps", "follow_ups")
AGENDA_SECTION_TITLES = {
    "approvals": "Requests awaiting a decision",
    "stale": "Stale {opportunities}",
    "kpis": "KPIs that moved or missed target",
    "evaluations_due": "Evaluations due",
    "ownership_gaps": "Ownership gaps",
    "follow_ups": "Decisions from last time and their follow-ups",
}
ATTENDEE_ROLES = (*COUNCIL_ROLES, "owner")  # "owner": the owners of the journeys in the ritual's scope
SCOPE_KINDS = ("council", "journey", "subtree")
DEFAULT_STALE_AFTER_DAYS = 14
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CHANNEL_PATTERN = re.compile(r"^(#?[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{6,})$")


class _Attendees(Schema):
    class Meta:
        unknown = RAISE

    roles = fields.List(fields.String(), load_default=list)
    people = fields.List(fields.String(), load_default=list)


class RitualSchema(Schema):
    """Shape and types of one ritual entry; references (people, roles, journeys) are checked afterwards."""

    class Meta:
        unknown = RAISE

    key = fields.String(required=True, validate=validate.Regexp(
        KEY_PATTERN, error="must be lower-case letters, digits, '-' or '_' (at most 64)"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    purpose = fields.String(load_default="")
    cadence = fields.Raw(required=True)
    timezone = fields.String(load_default="UTC")
    duration_minutes = fields.Integer(load_default=60, strict=True, validate=validate.Range(min=1, max=24 * 60))
    scope = fields.Raw(load_default="council")
    attendees = fields.Nested(_Attendees, load_default=lambda: {"roles": [], "people": []})
    slack_channel = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        CHANNEL_PATTERN, error="must be a channel name such as '#cx-council' or a channel id"))
    agenda = fields.List(fields.String(), load_default=lambda: list(AGENDA_SECTIONS))
    agenda_lead_minutes = fields.Integer(load_default=60, strict=True, validate=validate.Range(min=0, max=7 * 24 * 60))
    piggyback_on = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    stale_after_days = fields.Integer(load_default=DEFAULT_STALE_AFTER_DAYS, strict=True,
                                      validate=validate.Range(min=1, max=365))
    grace_minutes = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=0, max=7 * 24 * 60))
    since = fields.Raw(load_default=None, allow_none=True, validate=lambda v: _is_day(v), metadata={
        "description": "the first day the ritual met (a date such as 2026-01-07); its past starts there, not earlier. "
                       "Without it, the past starts when the ritual was first applied"})


def _is_day(value: Any) -> bool:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return True
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"'{value}' is not a date such as 2026-01-07") from None
    return True


def _flatten(errors: Any, path: str, out: dict[str, str]) -> None:
    """marshmallow's nested error dict → {"rituals[2].cadence": "message"}."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if isinstance(key, int):
                _flatten(value, f"{path}[{key}]", out)
            elif key == "_schema":
                _flatten(value, path, out)
            else:
                _flatten(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(errors, list):
        messages = [str(m) for m in errors if not isinstance(m, (dict, list))]
        nested = [m for m in errors if isinstance(m, (dict, list))]
        if messages:
            text = "; ".join(m[:1].lower() + m[1:].rstrip(".") for m in messages)
            out[path] = text
        for item in nested:
            _flatten(item, path, out)
    else:
        out[path] = str(errors)


def parse_cadence(value: Any, tz_name: str) -> tuple[str, str]:
    """(cadence_kind, stored cadence text) from the YAML value; CadenceError when it cannot be used."""
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"cron"}:
            kind, text = "cron", value["cron"]
        elif keys in ({"rrule"}, {"rrule", "dtstart"}):
            kind, text = "rrule", value["rrule"]
            if "dtstart" in value:
                start = _parse_local_datetime(value["dtstart"])
                if not isinstance(text, str):
                    raise cadence_mod.CadenceError("rrule must be a string")
                if "DTSTART" in text.upper():
                    raise cadence_mod.CadenceError("give DTSTART once: in the rule or as dtstart, not both")
                text = f"DTSTART:{start:%Y%m%dT%H%M%S}\n{_with_rrule_prefix(text)}"
        else:
            raise cadence_mod.CadenceError("write {cron: '<5 fields>'} or {rrule: '<RFC 5545 rule>', dtstart: ...}")
        if not isinstance(text, str) or not text.strip():
            raise cadence_mod.CadenceError(f"{kind} must be a non-empty string")
    else:
        raise cadence_mod.CadenceError(
            "a cadence is required: {cron: '<5 fields>'} or {rrule: '<RFC 5545 rule>', dtstart: ...}")
    text = text.strip()
    if kind == "cron":
        text = " ".join(text.split())
    cadence_mod.validate(kind, text, tz_name)
    return kind, text


def _with_rrule_prefix(text: str) -> str:
    text = text.strip()
    return text if ":" in text.split("\n")[0] else f"RRULE:{text}"


def _parse_local_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise cadence_mod.CadenceError("dtstart must be a local time without an offset")
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise cadence_mod.CadenceError(f"dtstart {value!r} is not a date-time such as 2026-01-07T10:00") from exc
    if parsed.tzinfo is not None:
        raise cadence_mod.CadenceError("dtstart must be a local time without an offset")
    return parsed


def parse_scope(value: Any) -> tuple[str, str | None]:
    """(scope_kind, journey key or None) from `council`, `{journey: KEY}` or `{subtree: KEY}`."""
    if value is None or value == "council":
        return "council", None
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, key),) = value.items()
        if kind in ("journey", "subtree") and isinstance(key, str) and key:
            return kind, key
    raise ValueError("must be council, {journey: KEY} or {subtree: KEY}")


def validate_rituals(
    entries: Any,
    *,
    people: Iterable[str],
    journeys: Iterable[str],
    roles: Iterable[str] = ATTENDEE_ROLES,
    path: str = "rituals",
) -> dict[str, str]:
    """Every problem in the `rituals:` section as {path: message}; empty when the section can be applied."""
    errors: dict[str, str] = {}
    if entries is None:
        return errors
    if not isinstance(entries, list):
        return {path: "must be a list of rituals"}
    known_people, known_journeys, known_roles = set(people), set(journeys), set(roles)
    seen_keys: dict[str, int] = {}
    for index, entry in enumerate(entries):
        here = f"{path}[{index}]"
        if not isinstance(entry, Mapping):
            errors[here] = "must be a mapping with key, name and cadence"
            continue
        shape_errors: dict[str, Any] = {}
        try:
            data = RitualSchema().load(entry)
        except ValidationError as exc:
            shape_errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            # Keep checking the fields that did load, so that one run names every problem.
            data = RitualSchema(unknown=EXCLUDE, partial=True).load(
                {k: v for k, v in entry.items() if k not in shape_errors})
        _flatten(shape_errors, here, errors)

        key = data.get("key")
        if key:
            if key in seen_keys:
                errors[f"{here}.key"] = f"duplicate ritual key {key!r} (also {path}[{seen_keys[key]}])"
            else:
                seen_keys[key] = index

        tz_name = data.get("timezone") or "UTC"
        if "timezone" not in shape_errors:
            try:
                cadence_mod.zone(tz_name)
            except cadence_mod.CadenceError:
                errors[f"{here}.timezone"] = f"unknown time zone {tz_name!r}"
                tz_name = "UTC"  # still check the cadence itself
        if "cadence" in entry and "cadence" not in shape_errors:
            try:
                parse_cadence(entry["cadence"], tz_name)
            except cadence_mod.CadenceError as exc:
                errors[f"{here}.cadence"] = str(exc)

        if "scope" in entry:
            try:
                _kind, journey_key = parse_scope(entry["scope"])
            except ValueError as exc:
                errors[f"{here}.scope"] = str(exc)
            else:
                if journey_key is not None and journey_key not in known_journeys:
                    errors[f"{here}.scope"] = f"unknown journey {journey_key!r}"

        attendees = data.get("attendees") or {}
        for j, role in enumerate(attendees.get("roles", [])):
            if role not in known_roles:
                errors[f"{here}.attendees.roles[{j}]"] = (
                    f"unknown role {role!r} (one of: {', '.join(sorted(known_roles))})")
        for j, handle in enumerate(attendees.get("people", [])):
            if handle not in known_people:
                errors[f"{here}.attendees.people[{j}]"] = f"unknown person {handle!r}"

        seen_sections: set[str] = set()
        for j, section in enumerate(data.get("agenda", [])):
            if section not in AGENDA_SECTIONS:
                errors[f"{here}.agenda[{j}]"] = (
                    f"unknown agenda section {section!r} (one of: {', '.join(AGENDA_SECTIONS)})")
            elif section in seen_sections:
                errors[f"{here}.agenda[{j}]"] = f"agenda section {section!r} listed twice"
            seen_sections.add(section)
    return errors


def validate_document(doc: Mapping[str, Any]) -> dict[str, str]:
    """Section validator for govern.orgfile.schema.load_document: the `rituals:` section against the rest of the file."""
    return validate_rituals_config(doc.get("rituals"), doc)


def validate_rituals_config(section: Any, doc: Mapping[str, Any]) -> dict[str, str]:
    """The validator govern.orgfile.load calls: the section, checked against the people and journeys of `doc`."""
    return validate_rituals(
        section or [],
        people=[p.get("handle") for p in doc.get("people") or []],
        journeys=[j.get("key") for j in doc.get("journeys") or []],
    )
