"""Occurrences: recorded once per (ritual, time), fired once, missed after downtime, skipped and cancelled."""

import datetime as dt

import pytest
import sqlalchemy as sa

from govern import notifications
from govern.errors import Conflict, InvalidInput, PermissionDenied
from govern.model import AuditEvent, OutboxMessage, Ritual, RitualOccurrence
from govern.notifications import Notification
from govern.policy import Actor
from govern.rituals import services
from tests.conftest import actor

UTC = dt.timezone.utc
SCHEDULER = Actor.system_actor("scheduler")
WEDNESDAY_0800 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # weekly council review: Wed 10:00 CET = 09:00 UTC


def rows(session, key="weekly-council-review"):
    ritual = services.get_ritual(session, key)
    return list(session.scalars(sa.select(RitualOccurrence).where(RitualOccurrence.ritual_id == ritual.id)
                                .order_by(RitualOccurrence.scheduled_at)))


def agenda_posts(session):
    return list(session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == notifications.TOPIC,
                                                               OutboxMessage.kind == notifications.RITUAL_AGENDA)))


def test_sync_records_each_occurrence_once_however_often_it_runs(example_db):
    with example_db.session_scope() as s:
        created = services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800)
        assert created > 0
        assert services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800) == 0
    with example_db.session_scope() as other_process:
        assert services.sync_occurrences(other_process, SCHEDULER, now=WEDNESDAY_0800) == 0
    with example_db.session_scope() as s:
        weekly = rows(s)
        assert [o.scheduled_at.strftime("%m-%d %H:%M") for o in weekly] == [
            "11-25 09:00", "12-02 09:00", "12-09 09:00", "12-16 09:00", "12-23 09:00"]
        assert {o.status for o in weekly} == {"planned"}


def test_sync_across_spring_forward_keeps_the_meeting_at_ten_local(example_db):
    with example_db.session_scope() as s:
        services.sync_occurrences(s, SCHEDULER, now=dt.datetime(2027, 3, 15, tzinfo=UTC))
        assert [o.scheduled_at.strftime("%m-%d %H:%M") for o in rows(s)][:4] == [
            "03-17 09:00", "03-24 09:00", "03-31 08:00", "04-07 08:00"]


def test_due_occurrence_fires_once_with_agenda_and_one_slack_post(example_db):
    with example_db.session_scope() as s:
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800)
        first = services.fire_due(s, SCHEDULER, now=WEDNESDAY_0800, fired_by="a")
        again = services.fire_due(s, SCHEDULER, now=WEDNESDAY_0800 + dt.timedelta(minutes=5), fired_by="b")
        assert len(first.fired) == 1 and again.fired == [] and again.missed == []
        occurrence = s.get(RitualOccurrence, first.fired[0])
        assert occurrence.fired_by == "a" and occurrence.status == "planned"
        assert occurrence.agenda["ritual"]["key"] == "weekly-council-review"
        assert occurrence.agenda["local_time"] == "Wednesday 25 November 2026, 10:00 CET"
        [post] = agenda_posts(s)
        notice = Notification.of(post)
        assert notice.about["occurrence_id"] == occurrence.id and notice.audience.channels == ("cx-council",)
        assert notice.facts["agenda"] == occurrence.agenda  # plain data: each chat adapter renders it
        assert post.dedupe_key == f"ritual-agenda:{occurrence.id}"
        built = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "ritual.agenda_built")).all()
        assert len(built) == 1


def test_nothing_fires_before_the_agenda_lead_time(example_db):
    with example_db.session_scope() as s:
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800 - dt.timedelta(hours=1))
        report = services.fire_due(s, SCHEDULER, now=WEDNESDAY_0800 - dt.timedelta(minutes=1))
        assert report.fired == [] and agenda_posts(s) == []
        assert services.next_due_at(s, now=WEDNESDAY_0800 - dt.timedelta(minutes=1)) == WEDNESDAY_0800


def test_after_downtime_past_occurrences_are_missed_not_fired_as_a_burst(example_db):
    with example_db.session_scope() as s:
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800)
        # The scheduler was down for three weeks and comes back 20 minutes into the fourth review.
        back = dt.datetime(2026, 12, 16, 9, 20, tzinfo=UTC)
        report = services.fire_due(s, SCHEDULER, now=back)
        weekly = rows(s)
        assert [(o.scheduled_at.strftime("%m-%d"), o.status, o.fired_by is not None) for o in weekly[:5]] == [
            ("11-25", "missed", False), ("12-02", "missed", False), ("12-09", "missed", False),
            ("12-16", "planned", True), ("12-23", "planned", False)]
        assert report.fired == [weekly[3].id]
        assert len([p for p in agenda_posts(s) if Notification.of(p).about["ritual"] == "weekly-council-review"]) == 1
        missed = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "ritual.missed")).all()
        assert any("weekly-council-review" == e.entity_id for e in missed)


def test_back_after_the_grace_period_everything_past_is_missed(example_db):
    with example_db.session_scope() as s:
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800)
        report = services.fire_due(s, SCHEDULER, now=dt.datetime(2026, 11, 25, 10, 1, tzinfo=UTC))
        assert rows(s)[0].status == "missed"
        assert rows(s)[0].id in report.missed
        assert not [p for p in agenda_posts(s) if Notification.of(p).about["ritual"] == "weekly-council-review"]


def test_grace_minutes_setting_bounds_how_late_an_agenda_may_go_out(example_db):
    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, "weekly-council-review")
        ritual.settings = {"grace_minutes": 5}
        s.commit()
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800)
        services.fire_due(s, SCHEDULER, now=dt.datetime(2026, 11, 25, 9, 6, tzinfo=UTC))
        assert rows(s)[0].status == "missed"


def test_skipped_and_cancelled_occurrences_do_not_fire_and_can_be_reinstated(example_db):
    with example_db.session_scope() as s:
        marco = actor(s, "marco")
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800 - dt.timedelta(days=1))
        ritual = services.get_ritual(s, "weekly-council-review")
        nxt = services.resolve_occurrence(s, ritual, now=WEDNESDAY_0800 - dt.timedelta(days=1))
        services.skip_occurrence(s, marco, nxt.id, reason="half the council at the off-site")
        second = rows(s)[1]
        services.cancel_occurrence(s, marco, second.id, reason="Christmas")
        assert services.fire_due(s, SCHEDULER, now=WEDNESDAY_0800).fired == []
        with pytest.raises(Conflict, match="already skipped"):
            services.skip_occurrence(s, marco, nxt.id)
        services.reinstate_occurrence(s, marco, nxt.id)
        assert services.fire_due(s, SCHEDULER, now=WEDNESDAY_0800).fired == [nxt.id]
        statuses = [u.status for u in services.upcoming(s, marco, ritual="weekly-council-review",
                                                        now=WEDNESDAY_0800, limit=2)]
        assert statuses == ["planned", "cancelled"]


def test_only_the_council_skips_and_a_held_occurrence_keeps_its_minutes(example_db):
    with example_db.session_scope() as s:
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800)
        first = rows(s)[0]
        with pytest.raises(PermissionDenied, match="lotte"):
            services.skip_occurrence(s, actor(s, "lotte"), first.id)
        services.hold_ritual(s, actor(s, "marco"), first.id, notes="short one",
                             now=WEDNESDAY_0800 + dt.timedelta(hours=2))
        with pytest.raises(Conflict, match="was held"):
            services.cancel_occurrence(s, actor(s, "marco"), first.id)


def test_an_occurrence_is_named_by_local_time_and_must_be_one_of_the_cadence(example_db):
    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, "weekly-council-review")
        found = services.resolve_occurrence(s, ritual, at="2027-03-31T10:00")  # local: CEST
        assert found.scheduled_at == dt.datetime(2027, 3, 31, 8, 0)
        assert services.resolve_occurrence(s, ritual, at="2027-03-31T08:00Z").id == found.id
        with pytest.raises(InvalidInput, match="does not meet at .*the next one is 2027-03-31 10:00 CEST"):
            services.resolve_occurrence(s, ritual, at="2027-03-30T10:00")
        with pytest.raises(InvalidInput, match="not a time"):
            services.resolve_occurrence(s, ritual, at="next wednesday")


def test_inactive_rituals_are_not_scheduled(example_db):
    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, "weekly-council-review")
        ritual.active = False
        s.commit()
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800)
        assert rows(s) == []
        assert "weekly-council-review" not in [r.key for r in services.list_rituals(s, SCHEDULER)]
        assert s.scalar(sa.select(sa.func.count()).select_from(Ritual)) == 5


def test_ownership_gaps_are_announced_at_most_weekly(example_db):
    from govern.services.common import get_journey

    with example_db.session_scope() as s:
        get_journey(s, "moving-house").owner_id = None
        s.commit()
        assert services.notify_ownership_gaps(s, SCHEDULER, now=WEDNESDAY_0800) == 1
        assert services.notify_ownership_gaps(s, SCHEDULER, now=WEDNESDAY_0800 + dt.timedelta(days=2)) == 0
        assert services.notify_ownership_gaps(s, SCHEDULER, now=WEDNESDAY_0800 + dt.timedelta(days=7)) == 1
        notices = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == notifications.OWNERSHIP_GAP)).all()
        assert {Notification.of(n).about["journey"] for n in notices} == {"moving-house"}


def test_a_rescheduled_ritual_drops_its_untouched_future_occurrences(example_db):
    with example_db.session_scope() as s:
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800)
        marco = actor(s, "marco")
        christmas = rows(s)[4]
        services.cancel_occurrence(s, marco, christmas.id, reason="Christmas")
        services.get_ritual(s, "weekly-council-review").cadence = "0 10 * * THU"  # govern apply moved it
        s.commit()
        services.sync_occurrences(s, SCHEDULER, now=WEDNESDAY_0800 + dt.timedelta(hours=2))
        assert [(o.scheduled_at.strftime("%a %m-%d %H:%M"), o.status) for o in rows(s)] == [
            ("Wed 11-25 09:00", "planned"),  # it began before the change: history, kept
            ("Thu 11-26 09:00", "planned"), ("Thu 12-03 09:00", "planned"), ("Thu 12-10 09:00", "planned"),
            ("Thu 12-17 09:00", "planned"), ("Wed 12-23 09:00", "cancelled"),  # a decision people took: kept
            ("Thu 12-24 09:00", "planned")]
