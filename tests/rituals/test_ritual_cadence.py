"""Cadences: cron and RRULE across both daylight-saving switch-overs, and the missed-occurrence policy."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from govern.rituals.cadence import (
    CadenceError, next_occurrence, occurrences_between, plan_due, validate,
)

UTC = dt.timezone.utc
AMS = "Europe/Amsterdam"
NYC = "America/New_York"
# 2026: Europe springs forward on Sunday 29 March (02:00 CET -> 03:00 CEST) and falls back on Sunday 25 October
# (03:00 CEST -> 02:00 CET). America/New_York: 8 March and 1 November.
SPRING_DAY = (dt.datetime(2026, 3, 28, 12, tzinfo=UTC), dt.datetime(2026, 3, 29, 12, tzinfo=UTC))
AUTUMN_DAY = (dt.datetime(2026, 10, 24, 12, tzinfo=UTC), dt.datetime(2026, 10, 25, 12, tzinfo=UTC))

DAILY_0230 = [("cron", "30 2 * * *"), ("rrule", "FREQ=DAILY;BYHOUR=2;BYMINUTE=30")]
HOURLY = [("cron", "30 * * * *"), ("rrule", "FREQ=HOURLY;BYMINUTE=30")]
WEEKLY_WED_10 = [("cron", "0 10 * * WED"), ("cron", "0 10 * * 3"), ("rrule", "FREQ=WEEKLY;BYDAY=WE;BYHOUR=10")]


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


def local(instant, tz=AMS):
    return instant.astimezone(ZoneInfo(tz))


@pytest.mark.parametrize("kind, cadence", DAILY_0230)
def test_meeting_at_0230_on_spring_forward_day_fires_once_an_hour_later_on_the_wall_clock(kind, cadence):
    occurrences = occurrences_between(kind, cadence, AMS, *SPRING_DAY)
    assert occurrences == [utc(2026, 3, 29, 1, 30)]  # 02:30 does not exist; read with CET: 03:30 CEST
    assert local(occurrences[0]).strftime("%H:%M %Z") == "03:30 CEST"


@pytest.mark.parametrize("kind, cadence", DAILY_0230)
def test_meeting_at_0230_on_fall_back_day_fires_once_at_the_first_0230(kind, cadence):
    occurrences = occurrences_between(kind, cadence, AMS, *AUTUMN_DAY)
    assert occurrences == [utc(2026, 10, 25, 0, 30)]  # 02:30 CEST; the repeated 02:30 CET does not fire
    assert local(occurrences[0]).strftime("%H:%M %Z") == "02:30 CEST"


@pytest.mark.parametrize("kind, cadence", DAILY_0230)
def test_daily_meeting_keeps_its_wall_clock_time_on_both_sides_of_each_switch(kind, cadence):
    march = occurrences_between(kind, cadence, AMS, utc(2026, 3, 27), utc(2026, 3, 31))
    assert [local(t).strftime("%d %H:%M") for t in march] == ["27 02:30", "28 02:30", "29 03:30", "30 02:30"]
    assert [t.hour for t in march] == [1, 1, 1, 0]  # UTC hour moves with the offset
    october = occurrences_between(kind, cadence, AMS, utc(2026, 10, 23), utc(2026, 10, 27))
    assert [local(t).strftime("%d %H:%M") for t in october] == ["23 02:30", "24 02:30", "25 02:30", "26 02:30"]
    assert [t.hour for t in october] == [0, 0, 0, 1]


@pytest.mark.parametrize("kind, cadence", HOURLY)
def test_hourly_cadence_fires_each_wall_clock_time_once_across_both_switches(kind, cadence):
    spring = occurrences_between(kind, cadence, AMS, utc(2026, 3, 28, 23), utc(2026, 3, 29, 4))
    # local 00:30, 01:30, (02:30 == 03:30 CEST, once), 04:30, 05:30
    assert [local(t).strftime("%H:%M") for t in spring] == ["00:30", "01:30", "03:30", "04:30", "05:30"]
    autumn = occurrences_between(kind, cadence, AMS, utc(2026, 10, 24, 22), utc(2026, 10, 25, 4))
    # local 00:30, 01:30, 02:30 CEST, (02:30 CET skipped), 03:30, 04:30
    assert [local(t).strftime("%H:%M %Z") for t in autumn] == [
        "00:30 CEST", "01:30 CEST", "02:30 CEST", "03:30 CET", "04:30 CET"]
    assert len(set(spring)) == len(spring) and len(set(autumn)) == len(autumn)


@pytest.mark.parametrize("kind, cadence", WEEKLY_WED_10)
def test_weekly_council_review_stays_at_ten_local_across_both_switches(kind, cadence):
    spring = occurrences_between(kind, cadence, AMS, utc(2026, 3, 20), utc(2026, 4, 5))
    assert spring == [utc(2026, 3, 25, 9), utc(2026, 4, 1, 8)]
    autumn = occurrences_between(kind, cadence, AMS, utc(2026, 10, 20), utc(2026, 11, 1))
    assert autumn == [utc(2026, 10, 21, 8), utc(2026, 10, 28, 9)]
    assert all(local(t).strftime("%a %H:%M") == "Wed 10:00" for t in spring + autumn)


@pytest.mark.parametrize("kind, spring_cadence, autumn_cadence", [
    ("cron", "30 2 * * *", "30 1 * * *"),
    ("rrule", "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "FREQ=DAILY;BYHOUR=1;BYMINUTE=30"),
])
def test_new_york_switch_overs_follow_the_same_rule(kind, spring_cadence, autumn_cadence):
    # New York skips 02:00-03:00 on 8 March and repeats 01:00-02:00 on 1 November.
    spring = occurrences_between(kind, spring_cadence, NYC, utc(2026, 3, 8, 5), utc(2026, 3, 9, 5))
    assert [local(t, NYC).strftime("%H:%M %Z") for t in spring] == ["03:30 EDT"]
    autumn = occurrences_between(kind, autumn_cadence, NYC, utc(2026, 11, 1, 4), utc(2026, 11, 2, 4))
    assert [local(t, NYC).strftime("%H:%M %Z") for t in autumn] == ["01:30 EDT"]


def test_cron_weekday_numbers_follow_standard_crontab_not_apscheduler_three():
    sundays = occurrences_between("cron", "0 9 * * 0", "UTC", utc(2026, 3, 1), utc(2026, 3, 15))
    assert [t.strftime("%a") for t in sundays] == ["Sun", "Sun"]
    sevens = occurrences_between("cron", "0 9 * * 7", "UTC", utc(2026, 3, 1), utc(2026, 3, 15))
    assert sevens == sundays
    weekdays = occurrences_between("cron", "0 9 * * 1-5", "UTC", utc(2026, 3, 2), utc(2026, 3, 9))
    assert [t.strftime("%a") for t in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    every_other = occurrences_between("cron", "0 9 * * */2", "UTC", utc(2026, 3, 1), utc(2026, 3, 8))
    assert [t.strftime("%a") for t in every_other] == ["Sun", "Tue", "Thu", "Sat"]


def test_rrule_with_dtstart_counts_fortnights_from_its_local_start():
    cadence = "DTSTART:20260107T100000\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
    found = occurrences_between("rrule", cadence, AMS, utc(2026, 3, 1), utc(2026, 4, 10))
    assert [local(t).strftime("%m-%d %H:%M") for t in found] == ["03-04 10:00", "03-18 10:00", "04-01 10:00"]


def test_monthly_kpi_review_on_the_first_monday():
    found = occurrences_between("rrule", "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=14", AMS, utc(2026, 1, 1), utc(2026, 4, 1))
    assert [local(t).strftime("%a %d %H:%M") for t in found] == ["Mon 05 14:00", "Mon 02 14:00", "Mon 02 14:00"]


def test_window_is_start_inclusive_end_exclusive_and_next_is_strictly_after():
    wednesday = utc(2026, 4, 1, 8)
    assert occurrences_between("cron", "0 10 * * WED", AMS, wednesday, wednesday + dt.timedelta(days=7)) == [wednesday]
    assert next_occurrence("cron", "0 10 * * WED", AMS, wednesday) == utc(2026, 4, 8, 8)
    assert next_occurrence("rrule", "FREQ=DAILY;COUNT=1;BYHOUR=9", "UTC", utc(2030, 1, 1)) is None


@pytest.mark.parametrize("kind, cadence, message", [
    ("cron", "61 * * * *", "invalid cron expression '61 * * * *'"),
    ("cron", "0 10 * *", "expected 5 fields"),
    ("cron", "0 10 * * 8", "invalid cron expression"),
    ("rrule", "FREQ=WEEKLY;BYDAY=XX", "invalid RRULE"),
    ("rrule", "FREQ=MINUTELY", "too frequent"),
    ("rrule", "DTSTART:20260107T100000Z\nRRULE:FREQ=DAILY", "give it as a local time"),
    ("rrule", "DTSTART;TZID=America/New_York:20260107T100000\nRRULE:FREQ=DAILY", "differs from the ritual"),
    ("weekly", "every wednesday", "unknown cadence kind"),
])
def test_unusable_cadences_are_refused_with_a_message(kind, cadence, message):
    with pytest.raises(CadenceError, match=message.replace("*", r"\*").replace("(", r"\(")):
        validate(kind, cadence, AMS)


def test_unknown_time_zone_is_refused():
    with pytest.raises(CadenceError, match="unknown time zone"):
        validate("cron", "0 10 * * WED", "Europe/Atlantis")


# --- the missed-occurrence policy ------------------------------------------------------------------------------------


LEAD = dt.timedelta(hours=1)
GRACE = dt.timedelta(hours=1)


def test_after_downtime_only_the_latest_occurrence_within_grace_fires_and_the_rest_are_missed():
    weekly = [utc(2026, 4, 1, 8), utc(2026, 4, 8, 8), utc(2026, 4, 15, 8), utc(2026, 4, 22, 8)]
    now = utc(2026, 4, 15, 8, 20)  # back up 20 minutes into the third meeting
    plan = plan_due(weekly, now, lead=LEAD, grace=GRACE)
    assert plan.fire == utc(2026, 4, 15, 8)
    assert plan.missed == weekly[:2]
    assert plan.waiting == weekly[3:]


def test_after_downtime_beyond_grace_nothing_fires_everything_past_is_missed():
    weekly = [utc(2026, 4, 1, 8), utc(2026, 4, 8, 8), utc(2026, 4, 15, 8)]
    plan = plan_due(weekly, utc(2026, 4, 15, 9, 30), lead=LEAD, grace=GRACE)
    assert plan.fire is None
    assert plan.missed == weekly


def test_an_occurrence_fires_once_its_agenda_lead_time_has_come_and_not_before():
    meeting = utc(2026, 4, 1, 8)
    assert plan_due([meeting], utc(2026, 4, 1, 6, 59), lead=LEAD, grace=GRACE).fire is None
    assert plan_due([meeting], utc(2026, 4, 1, 7, 0), lead=LEAD, grace=GRACE).fire == meeting
    assert plan_due([meeting], utc(2026, 4, 1, 9, 0), lead=LEAD, grace=GRACE).fire == meeting
    assert plan_due([meeting], utc(2026, 4, 1, 9, 1), lead=LEAD, grace=GRACE).missed == [meeting]


def test_frequent_occurrences_all_in_grace_still_fire_only_the_latest():
    hourly = [utc(2026, 4, 1, h) for h in (6, 7, 8)]
    plan = plan_due(hourly, utc(2026, 4, 1, 8, 5), lead=dt.timedelta(0), grace=dt.timedelta(hours=3))
    assert plan.fire == utc(2026, 4, 1, 8)
    assert plan.missed == hourly[:2]
