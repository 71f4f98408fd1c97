"""Meeting mode through the rituals services: the rules behind the occurrence page."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from govern.errors import GovernError, PermissionDenied
from govern.model import (
    ApprovalRequest,
    AuditEvent,
    Decision,
    MinutesVersion,
    RitualOccurrence,
)
from govern.rituals import calendar as calendar_mod
from govern.rituals import services
from govern.rituals.cadence import iter_occurrences
from govern.workflows.services import request_transition
from tests.conftest import actor


def _times(s):
    ritual = services.get_ritual(s, "weekly-council-review")
    now = dt.datetime.now(dt.timezone.utc)
    last = next(iter_occurrences(ritual.cadence_kind, ritual.cadence, ritual.timezone, now - dt.timedelta(days=7)))
    nxt = next(iter_occurrences(ritual.cadence_kind, ritual.cadence, ritual.timezone, now + dt.timedelta(hours=2)))
    return ritual, last, nxt


def test_a_supporter_cannot_decide_in_a_meeting(example_db):
    with example_db.session_scope() as s:
        _, last, _ = _times(s)
        request_id = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready").request.id
        with pytest.raises(PermissionDenied):
            services.hold_ritual(s, actor(s, "priya"), services.At("weekly-council-review", last),
                                 decisions=[{"text": "ok", "outcome": "approve", "request": request_id}])
        s.rollback()
        assert s.get(ApprovalRequest, request_id).status == "pending"
        assert s.scalar(sa.select(sa.func.count()).select_from(RitualOccurrence)
                        .where(RitualOccurrence.scheduled_at == last.replace(tzinfo=None))) == 0


def test_several_decisions_are_all_saved_or_none(example_db):
    with example_db.session_scope() as s:
        _, last, _ = _times(s)
        asked = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready").request
        asked.created_at = (last - dt.timedelta(hours=1)).replace(tzinfo=None)  # on the table at that meeting
        first = asked.id
        s.commit()
        head = s.scalar(sa.select(sa.func.max(AuditEvent.id)))
        decisions = [{"text": "go", "outcome": "approve", "request": first},
                     {"text": "no", "outcome": "reject", "request": first, "reason": "twice"}]
        with pytest.raises(GovernError) as refused:
            services.hold_ritual(s, actor(s, "ana"), services.At("weekly-council-review", last), decisions=decisions,
                                 notes="We met.")
        assert "nothing was saved" in refused.value.message
        s.rollback()
        assert s.get(ApprovalRequest, first).status == "pending"
        assert s.scalar(sa.select(sa.func.count()).select_from(Decision)) == 0
        assert s.scalar(sa.select(sa.func.max(AuditEvent.id))) == head
        occurrence = services.hold_ritual(s, actor(s, "ana"), services.At("weekly-council-review", last),
                                          decisions=decisions[:1], notes="We met.")
        assert occurrence.status == "held" and s.get(ApprovalRequest, first).status == "approved"


def test_minutes_edited_after_the_meeting_keep_the_earlier_text(example_db):
    with example_db.session_scope() as s:
        _, last, _ = _times(s)
        ana = actor(s, "ana")
        occurrence = services.hold_ritual(s, ana, services.At("weekly-council-review", last), notes="First text.")
        services.hold_ritual(s, ana, occurrence.id, notes="Corrected text.")
        versions = [v.notes for v in s.scalars(sa.select(MinutesVersion).where(
            MinutesVersion.occurrence_id == occurrence.id).order_by(MinutesVersion.version))]
        assert versions == ["First text.", "Corrected text."]
        assert s.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "ritual.minutes_edited")) \
            == "ritual.minutes_edited"


def test_a_moved_meeting_shows_its_new_time_and_reason_in_the_feed(example_db):
    with example_db.session_scope() as s:
        ritual, _, nxt = _times(s)
        marco = actor(s, "marco")
        moved = services.move_occurrence(s, marco, services.At(ritual.key, nxt), to=nxt + dt.timedelta(days=1),
                                         reason="the lead is travelling")
        assert services.effective_at(moved) == nxt + dt.timedelta(days=1)
        feed = services.create_calendar_token(s, marco, ritual=ritual.key)
        _, body = services.calendar_feed(s, feed.secret)
        events = {e.uid: e for e in calendar_mod.parse_feed(body)}
        event = events[calendar_mod.occurrence_uid(ritual.key, nxt)]
        assert event.start_utc == nxt + dt.timedelta(days=1)
        assert "the lead is travelling" in body.decode().replace("\r\n ", "")
        with pytest.raises(GovernError):
            services.move_occurrence(s, marco, moved.id, to=nxt, reason="")


def test_a_cancelled_meeting_is_cancelled_in_the_feed_with_its_reason(example_db):
    with example_db.session_scope() as s:
        ritual, _, nxt = _times(s)
        marco = actor(s, "marco")
        services.cancel_occurrence(s, marco, services.At(ritual.key, nxt), reason="public holiday")
        _, body = services.calendar_feed(s, services.create_calendar_token(s, marco, ritual=ritual.key).secret)
        event = {e.uid: e for e in calendar_mod.parse_feed(body)}[calendar_mod.occurrence_uid(ritual.key, nxt)]
        assert event.status == "CANCELLED" and "public holiday" in body.decode().replace("\r\n ", "")


def test_an_agenda_item_added_before_the_meeting_is_kept_and_a_supporter_may_not(example_db):
    with example_db.session_scope() as s:
        ritual, last, nxt = _times(s)
        item = services.add_agenda_item(s, actor(s, "marco"), services.At(ritual.key, nxt), text="Roaming costs")
        assert [i.text for i in services.agenda_items(s, item.occurrence_id)] == ["Roaming costs"]
        with pytest.raises(PermissionDenied):
            services.add_agenda_item(s, actor(s, "priya"), item.occurrence_id, text="mine")
        with pytest.raises(GovernError):  # the past meeting is over
            services.add_agenda_item(s, actor(s, "marco"), services.At(ritual.key, last), text="late")


def test_the_past_starts_at_the_rituals_since(example_db):
    with example_db.session_scope() as s:
        ritual, _, _ = _times(s)
        ana = actor(s, "ana")
        oldest = services.past_occurrences(s, ana, ritual.key, limit=500)[-1]
        assert oldest.scheduled_at.date() >= dt.date(2026, 1, 7)
        assert services.past_occurrences(s, ana, ritual.key, before=dt.datetime(2025, 6, 1,
                                                                                tzinfo=dt.timezone.utc)) == []
        with pytest.raises(GovernError):
            services.skip_occurrence(s, ana, services.At(ritual.key, "2025-12-31T10:00"), reason="before it existed")


def test_a_meeting_refuses_to_decide_a_request_made_after_it_ended(example_db):
    with example_db.session_scope() as s:
        ritual, last, _ = _times(s)
        request = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready").request
        ended = last + dt.timedelta(minutes=ritual.duration_minutes)
        request.created_at = (ended + dt.timedelta(minutes=1)).replace(tzinfo=None)  # asked after the meeting
        s.flush()
        head = s.scalar(sa.select(sa.func.max(AuditEvent.id)))
        with pytest.raises(GovernError) as refused:
            services.hold_ritual(s, actor(s, "ana"), services.At("weekly-council-review", last), notes="We met.",
                                 decisions=[{"text": "go", "outcome": "approve", "request": request.id}])
        message = refused.value.message
        assert f"request #{request.id} (OPP-1) was made on" in message and "after the" in message
        assert "ended" in message and refused.value.http_status in (409, 422)
        s.rollback()
        assert s.get(ApprovalRequest, request.id).status == "pending"
        assert s.scalar(sa.select(sa.func.max(AuditEvent.id))) == head


def test_a_meeting_decides_a_request_made_before_it_ended(example_db):
    with example_db.session_scope() as s:
        ritual, last, _ = _times(s)
        request = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready").request
        request.created_at = (last - dt.timedelta(hours=1)).replace(tzinfo=None)
        s.flush()
        services.hold_ritual(s, actor(s, "ana"), services.At("weekly-council-review", last),
                             decisions=[{"text": "go", "outcome": "approve", "request": request.id}])
        assert s.get(ApprovalRequest, request.id).status == "approved"
