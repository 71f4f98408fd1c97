"""Council and rituals in the web app: an occurrence's agenda, and recording its minutes through the form."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govern.model import ApprovalRequest, Decision, FollowUp, RitualOccurrence
from tests.conftest import actor


def _last_weekly_review(example_db) -> int:
    """The weekly council review that happened most recently (recorded as an occurrence)."""
    from govern.rituals.cadence import iter_occurrences
    from govern.rituals.services import ensure_occurrence, get_ritual

    with example_db.session_scope() as s:
        ritual = get_ritual(s, "weekly-council-review")
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8)
        at = next(iter_occurrences(ritual.cadence_kind, ritual.cadence, ritual.timezone, start))
        occurrence = ensure_occurrence(s, ritual, at)
        s.commit()
        return occurrence.id


def test_the_council_page_lists_members_by_role_and_next_occurrences(web):
    html = web("marco").get("/council").get_data(as_text=True)
    assert "Council lead" in html and "Ana Silva" in html
    assert "Supporters" in html and "Priya Shah" in html
    assert "Weekly council review" in html


def test_the_manager_records_minutes_with_a_decision_and_a_follow_up(web, example_db):
    from govern.workflows.services import request_transition

    occurrence_id = _last_weekly_review(example_db)
    with example_db.session_scope() as s:
        request = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready").request
        # On the table at that meeting: a meeting decides only requests made before it ended.
        request.created_at = s.get(RitualOccurrence, occurrence_id).scheduled_at - dt.timedelta(hours=1)
        request_id = request.id
        s.commit()
    ana = web("ana")  # the lead decides the request in the meeting
    page = ana.get(f"/occurrences/{occurrence_id}").get_data(as_text=True)
    assert "Requests awaiting a decision" in page and "OPP-1" in page
    response = ana.post(f"/occurrences/{occurrence_id}", {
        "attendance": ["ana", "marco", "lotte"], "notes": "Porting first.",
        "decision_text": "Prioritise the porting opportunity", "decision_outcome": "approve",
        "decision_request": str(request_id),
        "follow_up_text": "Score OPP-1 with finance", "follow_up_owner": "lotte", "follow_up_due": "2026-12-15"})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    with example_db.session_scope() as s:
        occurrence = s.get(RitualOccurrence, occurrence_id)
        assert occurrence.status == "held" and occurrence.notes == "Porting first."
        assert {a.person.handle for a in occurrence.attendance} == {"ana", "marco", "lotte"}
        assert s.get(ApprovalRequest, request_id).status == "approved"
        assert s.scalar(sa.select(Decision.text).where(Decision.occurrence_id == occurrence_id)) \
            == "Prioritise the porting opportunity"
        assert s.scalar(sa.select(FollowUp.text).where(FollowUp.occurrence_id == occurrence_id)) \
            == "Score OPP-1 with finance"


def test_a_follow_up_without_an_owner_is_refused_beside_the_field_and_keeps_the_notes(web, example_db):
    occurrence_id = _last_weekly_review(example_db)
    response = web("marco").post(f"/occurrences/{occurrence_id}", {
        "notes": "We discussed roaming.", "follow_up_text": "Ask finance for the roaming numbers",
        "follow_up_due": "2026-12-01"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "We discussed roaming." in html and "Ask finance for the roaming numbers" in html
    assert "every follow-up needs an owner" in html


def test_a_coordinator_may_not_record_minutes(web, example_db):
    occurrence_id = _last_weekly_review(example_db)
    lotte = web("lotte")
    assert "Save the minutes" not in lotte.get(f"/occurrences/{occurrence_id}").get_data(as_text=True)
    response = lotte.post(f"/occurrences/{occurrence_id}", {"notes": "sneaky"})
    assert response.status_code == 403


def test_the_ritual_page_lists_past_occurrences_without_minutes_and_they_open(web, example_db):
    marco = web("marco")
    html = marco.get("/rituals/weekly-council-review").get_data(as_text=True)
    assert "Past occurrences" in html and "Coming up" in html
    assert "no minutes yet" in html
    assert "UTC" not in html.split("Past occurrences")[1]  # local times (CET/CEST), one zone on the page
    link = html.split("Past occurrences")[1].split('href="')[1].split('"')[0]
    with example_db.session_scope() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(RitualOccurrence))
    response = marco.get(link.replace("&amp;", "&"))
    assert response.status_code == 200 and "Agenda" in response.get_data(as_text=True)
    with example_db.session_scope() as s:  # looking at a past meeting records nothing
        assert s.scalar(sa.select(sa.func.count()).select_from(RitualOccurrence)) == before
    assert marco.get("/council").get_data(as_text=True).count('href="/rituals/weekly-council-review"') >= 1
    assert marco.get("/rituals/no-such-ritual").status_code == 404
    assert marco.get("/rituals/weekly-council-review?before=yesterday").status_code == 400


def test_a_held_meetings_agenda_is_frozen_with_its_minutes(web, example_db):
    from govern.workflows.services import request_transition

    occurrence_id = _last_weekly_review(example_db)
    with example_db.session_scope() as s:
        request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="ready")
    ana = web("ana")
    response = ana.post(f"/occurrences/{occurrence_id}", {"attendance": ["ana", "marco"], "notes": "Porting first.",
                                                          "follow_up_text": "Call finance", "follow_up_owner": "lotte",
                                                          "follow_up_due": "2026-12-15"})
    assert response.status_code == 302
    with example_db.session_scope() as s:  # the request is withdrawn after the meeting
        from govern.workflows.services import withdraw_request

        request_id = s.scalar(sa.select(ApprovalRequest.id).where(ApprovalRequest.status == "pending"))
        withdraw_request(s, actor(s, "lotte"), request_id)
    html = ana.get(f"/occurrences/{occurrence_id}").get_data(as_text=True)
    assert 'data-testid="agenda-frozen"' in html
    agenda = html.split('id="h-agenda"')[1].split('id="h-minutes"')[0]
    assert "OPP-1" in agenda  # still shows what was on the table
    minutes = html.split('id="h-minutes"')[1]
    assert "Ana Silva, Marco Rossi" in minutes and "Lotte de Vries, due 15 Dec 2026" in minutes
    with example_db.session_scope() as s:
        assert s.get(RitualOccurrence, occurrence_id).agenda is not None
