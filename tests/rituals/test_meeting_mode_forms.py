"""Meeting mode's forms over HTTP (the Flask test client, signed in through the login form): bad input is refused
with a message naming what is wrong, the right status, and nothing saved — not even the occurrence recorded."""

from __future__ import annotations

import datetime as dt
import html

import sqlalchemy as sa

from govern.model import ApprovalRequest, AuditEvent, Base, Decision, RitualOccurrence
from govern.rituals import services
from govern.rituals.cadence import iter_occurrences
from tests.conftest import actor

RITUAL = "weekly-council-review"


def _times(example_db) -> tuple[dt.datetime, dt.datetime]:
    """The latest begun weekly council review and the next one (UTC)."""
    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, RITUAL)
    now = dt.datetime.now(dt.timezone.utc)
    it = iter_occurrences(ritual.cadence_kind, ritual.cadence, ritual.timezone, now - dt.timedelta(days=8))
    times = [next(it) for _ in range(3)]
    return [t for t in times if t <= now][-1], next(t for t in times if t > now)


def _state(example_db) -> dict:
    """The audit chain's head and every table's row count."""
    with example_db.session_scope() as s:
        return {"head": s.scalar(sa.select(sa.func.max(AuditEvent.id))),
                "rows": {t.name: s.scalar(sa.select(sa.func.count()).select_from(t))
                         for t in Base.metadata.sorted_tables}}


def _at(when: dt.datetime) -> str:
    return f"/rituals/{RITUAL}/at/{services.iso(when)}"


def _local(when: dt.datetime) -> str:
    return when.astimezone(services.zone("Europe/Amsterdam")).strftime("%Y-%m-%dT%H:%M")


def _request_before(example_db, when: dt.datetime) -> int:
    """lotte asks to prioritise OPP-1, an hour before the meeting (a meeting offers what existed then)."""
    from govern.workflows.services import request_transition

    with example_db.session_scope() as s:
        request_id = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready").request.id
        s.execute(sa.update(ApprovalRequest).where(ApprovalRequest.id == request_id)
                  .values(created_at=(when - dt.timedelta(hours=1)).replace(tzinfo=None)))
        s.commit()
    return request_id


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_moving_a_meeting_without_a_reason_is_refused_and_records_nothing(web, example_db):
    _, nxt = _times(example_db)
    marco = web("marco")
    marco.get(_at(nxt))
    before = _state(example_db)
    response = marco.post(_at(nxt), {"action": "move", "to": _local(nxt + dt.timedelta(days=1)), "reason": "  "})
    assert response.status_code == 422
    page = _text(response)
    assert "say why the meeting moves" in page and 'data-testid="plan-error"' in page
    assert _state(example_db) == before


def test_moving_a_meeting_into_the_past_is_refused_and_keeps_what_was_typed(web, example_db):
    _, nxt = _times(example_db)
    marco = web("marco")
    marco.get(_at(nxt))
    before = _state(example_db)
    yesterday = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    response = marco.post(_at(nxt), {"action": "move", "to": _local(yesterday), "reason": "the room is taken"})
    assert response.status_code == 422
    page = _text(response)
    assert "a meeting can only be moved to a time still to come" in page
    assert 'value="the room is taken"' in page  # nothing typed is lost
    assert _state(example_db) == before


def test_moving_a_meeting_to_an_unreadable_time_names_the_field(web, example_db):
    _, nxt = _times(example_db)
    marco = web("marco")
    marco.get(_at(nxt))
    before = _state(example_db)
    response = marco.post(_at(nxt), {"action": "move", "to": "next thursday-ish", "reason": "the room is taken"})
    assert response.status_code == 422
    page = _text(response)
    assert "the move has a problem: to:" in page and "next thursday-ish" in page
    assert _state(example_db) == before


def test_moving_a_recorded_meeting_is_refused_the_same_way(web, example_db):
    _, nxt = _times(example_db)
    with example_db.session_scope() as s:
        occurrence_id = services.add_agenda_item(s, actor(s, "marco"), services.At(RITUAL, nxt),
                                                 text="Roaming costs").occurrence_id
    marco = web("marco")
    marco.get(f"/occurrences/{occurrence_id}")
    before = _state(example_db)
    response = marco.post(f"/occurrences/{occurrence_id}", {"action": "move", "to": "", "reason": ""})
    assert response.status_code == 422
    assert "say why the meeting moves" in _text(response)
    assert _state(example_db) == before
    with example_db.session_scope() as s:
        occurrence = s.get(RitualOccurrence, occurrence_id)
        assert occurrence.moved_to is None and occurrence.status_reason is None


def test_an_empty_agenda_item_is_refused_with_a_message(web, example_db):
    _, nxt = _times(example_db)
    marco = web("marco")
    marco.get(_at(nxt))
    before = _state(example_db)
    response = marco.post(_at(nxt), {"action": "agenda_item", "text": "   "})
    assert response.status_code == 422
    assert "agenda item: say what to discuss" in _text(response)
    assert _state(example_db) == before


def test_deciding_a_request_that_is_already_decided_is_refused_and_saves_nothing(web, example_db):
    from govern.workflows.services import reject_request

    last, _ = _times(example_db)
    request_id = _request_before(example_db, last)
    ana = web("ana")
    page = _text(ana.get(_at(last)))
    assert f'name="decide_{request_id}"' in page  # the page offered it …
    with example_db.session_scope() as s:  # … then the lead rejected it elsewhere (the approvals inbox)
        reject_request(s, actor(s, "ana"), request_id, reason="not yet")
    before = _state(example_db)
    response = ana.post(_at(last), {"action": "minutes", f"decide_{request_id}": "approve",
                                    "notes": "We approved OPP-1.", "attendance": ["ana"]})
    assert response.status_code == 409
    page = _text(response)
    assert f"request #{request_id} is already rejected" in page and 'data-testid="minutes-error"' in page
    assert "We approved OPP-1." in page  # the notes typed are still in the form
    assert _state(example_db) == before
    with example_db.session_scope() as s:
        assert s.get(ApprovalRequest, request_id).status == "rejected"
        assert s.scalar(sa.select(sa.func.count()).select_from(Decision)) == 0


def test_a_supporter_posting_a_decision_is_refused_with_403_and_nothing_is_saved(web, example_db):
    last, _ = _times(example_db)
    request_id = _request_before(example_db, last)
    priya = web("priya")
    priya.get(_at(last))
    before = _state(example_db)
    response = priya.post(_at(last), {"action": "minutes", f"decide_{request_id}": "approve", "notes": "ok"})
    assert response.status_code == 403
    page = _text(response)
    assert "may not hold, skip and minute ritual occurrences" in page
    assert _state(example_db) == before
    with example_db.session_scope() as s:
        assert s.get(ApprovalRequest, request_id).status == "pending"


def test_a_manager_refused_a_decision_only_the_lead_may_take_gets_403_and_the_form_back(web, example_db):
    last, _ = _times(example_db)
    request_id = _request_before(example_db, last)
    marco = web("marco")
    marco.get(_at(last))
    before = _state(example_db)
    response = marco.post(_at(last), {"action": "minutes", f"decide_{request_id}": "approve",
                                      "notes": "Marco's notes."})
    assert response.status_code == 403
    page = _text(response)
    assert 'data-testid="minutes-error"' in page and "Marco's notes." in page and "it needs the lead" in page
    assert _state(example_db) == before
    with example_db.session_scope() as s:
        assert s.get(ApprovalRequest, request_id).status == "pending"
