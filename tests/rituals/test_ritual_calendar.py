"""iCalendar feeds: parsed back, they hold the same events, with stable UIDs and the ritual's time zone."""

import datetime as dt
from dataclasses import dataclass

from govern.rituals.cadence import occurrences_between
from govern.rituals.calendar import attends, build_feed, occurrence_uid, parse_feed, ritual_events

UTC = dt.timezone.utc


@dataclass
class RitualStub:
    key: str = "council-review"
    name: str = "Weekly council review"
    purpose: str = "Decide on requests awaiting approval."
    cadence_kind: str = "cron"
    cadence: str = "30 2 * * SUN"
    timezone: str = "Europe/Amsterdam"
    duration_minutes: int = 45
    slack_channel: str | None = "#cx-council"
    piggyback_on: str | None = "sprint review"


WINDOW = (dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 11, 30, tzinfo=UTC))


def test_feed_parses_back_to_the_same_events_across_both_switch_overs():
    ritual = RitualStub()
    expected = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone, *WINDOW)
    feed = build_feed(ritual.name, ritual_events(ritual, *WINDOW))
    parsed = parse_feed(feed)
    assert [e.start_utc for e in parsed] == expected
    assert all(e.end_utc - e.start_utc == dt.timedelta(minutes=45) for e in parsed)
    assert {e.tzid for e in parsed} == {"Europe/Amsterdam"}
    assert {e.summary for e in parsed} == {"Weekly council review"}
    spring = next(e for e in parsed if e.start_utc.date() == dt.date(2026, 3, 29))
    autumn = [e for e in parsed if e.start_utc.date() == dt.date(2026, 10, 25)]
    assert spring.start_utc == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert [e.start_utc for e in autumn] == [dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]
    assert b"BEGIN:VTIMEZONE" in feed and b"TZID:Europe/Amsterdam" in feed


def test_uids_are_stable_between_builds_and_unique_per_occurrence():
    ritual = RitualStub(cadence_kind="rrule", cadence="FREQ=WEEKLY;BYDAY=WE;BYHOUR=10")
    first = parse_feed(build_feed("a", ritual_events(ritual, *WINDOW), stamp=dt.datetime(2026, 1, 1)))
    later = parse_feed(build_feed("a", ritual_events(ritual, *WINDOW)))
    assert [e.uid for e in first] == [e.uid for e in later]
    assert len({e.uid for e in first}) == len(first)
    assert first[0].uid == occurrence_uid("council-review", first[0].start_utc)


def test_skipped_and_cancelled_occurrences_show_as_cancelled():
    ritual = RitualStub()
    times = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone, *WINDOW)
    statuses = {times[0]: "held", times[1]: "skipped", times[2]: "cancelled", times[3]: "missed"}
    parsed = parse_feed(build_feed(ritual.name, ritual_events(ritual, *WINDOW, statuses=statuses)))
    assert [e.status for e in parsed[:5]] == ["CONFIRMED", "CANCELLED", "CANCELLED", "CONFIRMED", "CONFIRMED"]


def test_feed_for_several_rituals_keeps_each_in_its_own_time_zone():
    council = RitualStub()
    new_york = RitualStub(key="ny-sync", name="NY sync", cadence="0 9 * * MON", timezone="America/New_York")
    events = ritual_events(council, *WINDOW) + ritual_events(new_york, *WINDOW)
    feed = build_feed("Lotte's rituals", events)
    parsed = parse_feed(feed)
    assert len(parsed) == len(events)
    assert {e.tzid for e in parsed} == {"Europe/Amsterdam", "America/New_York"}
    assert b"TZID:America/New_York" in feed


def test_empty_feed_is_still_a_valid_calendar():
    assert parse_feed(build_feed("nothing", [])) == []


def test_attendance_by_name_role_scope_and_ownership():
    base = dict(attendee_roles=["coordinator"], attendee_people=["ruben"], scope_journey_ids={1, 2})
    assert attends(**base, handle="ruben", seats=[])
    assert attends(**base, handle="lotte", seats=[("coordinator", 2)])
    assert not attends(**base, handle="lotte", seats=[("coordinator", 7)])
    assert attends(**base, handle="lotte", seats=[("coordinator", None)])
    assert not attends(**base, handle="lotte", seats=[("supporter", 1)])
    council = dict(attendee_roles=["owner"], attendee_people=[], scope_journey_ids=None)
    assert attends(**council, handle="ana", seats=[], owned_journey_ids=[5])
    assert not attends(**council, handle="ana", seats=[], owned_journey_ids=[])
    assert not attends(attendee_roles=["owner"], attendee_people=[], scope_journey_ids={1},
                       handle="ana", seats=[], owned_journey_ids=[5])
