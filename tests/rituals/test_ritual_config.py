"""Validation of the `rituals:` section of govern.yaml: every problem named by its path."""

import datetime as dt
from pathlib import Path

import pytest
import yaml

from govern.errors import InvalidInput
from govern.rituals.config import AGENDA_SECTIONS, validate_document, validate_rituals

PEOPLE = ["lotte", "ruben", "ana-lead"]
JOURNEYS = ["master", "switching-providers", "paying-my-bill"]


def council_review(**overrides):
    entry = {
        "key": "council-review",
        "name": "Weekly council review",
        "purpose": "Decide on requests awaiting approval.",
        "cadence": {"cron": "0 10 * * WED"},
        "timezone": "Europe/Amsterdam",
        "duration_minutes": 60,
        "scope": "council",
        "attendees": {"roles": ["lead", "manager"], "people": ["lotte"]},
        "slack_channel": "#cx-council",
        "agenda": list(AGENDA_SECTIONS),
        "agenda_lead_minutes": 60,
        "piggyback_on": "sprint review",
        "stale_after_days": 14,
    }
    entry.update(overrides)
    return entry


def check(*entries):
    return validate_rituals(list(entries), people=PEOPLE, journeys=JOURNEYS)


def test_a_complete_valid_section_has_no_errors():
    kpi_review = council_review(key="kpi-review", name="Monthly KPI review",
                                cadence={"rrule": "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=14", "dtstart": "2026-01-05T14:00"},
                                scope={"subtree": "switching-providers"}, attendees={"roles": ["owner"]})
    check_in = council_review(key="check-in", name="Coordinator check-in",
                              cadence={"rrule": "DTSTART:20260105T093000\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"},
                              scope={"journey": "paying-my-bill"}, slack_channel=None, piggyback_on=None)
    assert check(council_review(), kpi_review, check_in) == {}
    assert validate_rituals(None, people=[], journeys=[]) == {}


def test_invalid_cron_expression_is_named_by_path():
    errors = check(council_review(), council_review(key="b"), council_review(key="c", cadence={"cron": "61 * * * *"}))
    assert errors == {"rituals[2].cadence": "invalid cron expression '61 * * * *'"}


def test_invalid_rrule_and_wrong_cadence_shapes():
    errors = check(
        council_review(key="a", cadence={"rrule": "FREQ=SOMETIMES"}),
        council_review(key="b", cadence={"every": "week"}),
        council_review(key="c", cadence="0 10 * * WED"),
        council_review(key="d", cadence={"rrule": "FREQ=DAILY", "dtstart": "next tuesday"}),
    )
    assert errors["rituals[0].cadence"].startswith("invalid RRULE 'FREQ=SOMETIMES'")
    assert "write {cron:" in errors["rituals[1].cadence"]
    assert "a cadence is required: {cron:" in errors["rituals[2].cadence"]
    assert "not a date-time" in errors["rituals[3].cadence"]


def test_unknown_references_are_named_each_in_its_place():
    errors = check(council_review(
        timezone="Europe/Atlantis",
        scope={"journey": "moving-house"},
        attendees={"roles": ["lead", "boss"], "people": ["lotte", "ana"]},
        agenda=["approvals", "weather", "approvals"],
    ))
    assert errors == {
        "rituals[0].timezone": "unknown time zone 'Europe/Atlantis'",
        "rituals[0].scope": "unknown journey 'moving-house'",
        "rituals[0].attendees.roles[1]": "unknown role 'boss' (one of: coordinator, lead, manager, owner, supporter)",
        "rituals[0].attendees.people[1]": "unknown person 'ana'",
        "rituals[0].agenda[1]": "unknown agenda section 'weather' (one of: approvals, stale, kpis, evaluations_due, "
                                "ownership_gaps, follow_ups)",
        "rituals[0].agenda[2]": "agenda section 'approvals' listed twice",
    }


def test_shape_errors_missing_fields_unknown_fields_and_duplicates():
    errors = check(
        council_review(),
        {"name": "No key"},
        council_review(key="Bad Key", duration_minutes="an hour", colour="red", slack_channel="cx council"),
        council_review(),
        "not a mapping",
    )
    assert errors["rituals[1].key"] == "missing data for required field"
    assert errors["rituals[1].cadence"] == "missing data for required field"
    assert errors["rituals[2].key"].startswith("must be lower-case letters")
    assert errors["rituals[2].duration_minutes"] == "not a valid integer"
    assert errors["rituals[2].colour"] == "unknown field"
    assert errors["rituals[2].slack_channel"].startswith("must be a channel name")
    assert errors["rituals[3].key"] == "duplicate ritual key 'council-review' (also rituals[0])"
    assert errors["rituals[4]"] == "must be a mapping with key, name and cadence"
    assert validate_rituals({"council": {}}, people=[], journeys=[]) == {"rituals": "must be a list of rituals"}


@pytest.mark.parametrize("scope", [{"team": "x"}, "somewhere", "journey: x", {"journey": ""}, ["council"]])
def test_malformed_scope_says_what_is_allowed(scope):
    assert check(council_review(scope=scope)) == {
        "rituals[0].scope": "must be council, {journey: KEY} or {subtree: KEY}"}


def test_document_validator_checks_rituals_against_the_people_and_journeys_of_the_same_file():
    doc = {"people": [{"handle": "lotte"}], "journeys": [{"key": "switching-providers"}],
           "rituals": [council_review(attendees={"people": ["lotte", "ruben"]},
                                      scope={"subtree": "switching-providers"})]}
    assert validate_document(doc) == {"rituals[0].attendees.people[1]": "unknown person 'ruben'"}
    assert validate_document({"people": [], "journeys": []}) == {}


# --- through `govern apply` (govern.orgfile.load), on the example organisation ------------------------------------------


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "telecom" / "govern.yaml"


def example_with(rituals):
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc.pop("runtime", None)
    doc["rituals"] = rituals
    return yaml.safe_dump(doc, sort_keys=False)


def test_apply_refuses_a_bad_rituals_section_naming_each_place(session, operator):
    from govern.orgfile.load import apply_text

    text = example_with([
        {"key": "ok", "name": "OK", "cadence": {"cron": "0 10 * * WED"}},
        {"key": "ok2", "name": "OK 2", "cadence": {"cron": "0 10 * * THU"}},
        {"key": "bad", "name": "Bad", "cadence": {"cron": "61 * * * *"}, "attendees": {"people": ["ana", "zed"]},
         "scope": {"subtree": "nowhere"}},
    ])
    with pytest.raises(InvalidInput) as refused:
        apply_text(session, operator, text)
    assert refused.value.details == {
        "rituals[2].cadence": "invalid cron expression '61 * * * *'",
        "rituals[2].scope": "unknown journey 'nowhere'",
        "rituals[2].attendees.people[1]": "unknown person 'zed'",
    }


def test_apply_stores_an_rrule_with_its_local_dtstart_and_the_extra_settings(session, operator):
    from govern.orgfile.load import apply_text
    from govern.rituals import services
    from govern.rituals.cadence import occurrences_between

    apply_text(session, operator, example_with([{
        "key": "fortnightly", "name": "Fortnightly check-in", "timezone": "Europe/Amsterdam",
        "cadence": {"rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE", "dtstart": "2027-01-06T09:30"},
        "stale_after_days": 21, "grace_minutes": 15}]))
    ritual = services.get_ritual(session, "fortnightly")
    assert ritual.cadence == "DTSTART:20270106T093000\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
    assert ritual.settings == {"stale_after_days": 21, "grace_minutes": 15}
    times = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                dt.datetime(2027, 3, 20, tzinfo=dt.timezone.utc),
                                dt.datetime(2027, 4, 20, tzinfo=dt.timezone.utc))
    assert [t.strftime("%m-%d %H:%M") for t in times] == ["03-31 07:30", "04-14 07:30"]  # 09:30 CEST
