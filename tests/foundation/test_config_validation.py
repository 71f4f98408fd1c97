"""govern.yaml validation: every mistake is named with its place, all at once, and nothing is written."""

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from govern.orgfile.load import apply_text, load_config_text
from govern.errors import InvalidInput
from govern.model import AuditEvent, Person

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "telecom" / "govern.yaml"


def example_doc() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def errors_for(doc: dict) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        load_config_text(yaml.safe_dump(doc, sort_keys=False))
    return caught.value.details


def journey_index(doc: dict, key: str) -> int:
    return next(i for i, j in enumerate(doc["journeys"]) if j["key"] == key)


def test_example_organisation_is_valid():
    doc = load_config_text(EXAMPLE.read_text())
    assert len(doc["journeys"]) >= 12 and len(doc["people"]) >= 8 and len(doc["kpis"]) >= 10


def test_unknown_journey_owner_is_named_with_its_place():
    doc = example_doc()
    i = journey_index(doc, "paying-my-bill")
    doc["journeys"][i]["owner"] = "anna"
    assert errors_for(doc) == {f"journeys[{i}].owner": "unknown person 'anna'"}


def test_journey_without_owner_is_an_error():
    doc = example_doc()
    i = journey_index(doc, "getting-help")
    del doc["journeys"][i]["owner"]
    assert errors_for(doc)[f"journeys[{i}].owner"] == "every journey needs exactly one owner"


def test_unknown_parent_journey():
    doc = example_doc()
    i = journey_index(doc, "moving-house")
    doc["journeys"][i]["parent"] = "changing-my-plans"
    assert errors_for(doc)[f"journeys[{i}].parent"] == "unknown journey 'changing-my-plans'"


def test_level_not_declared_by_the_organisation():
    doc = example_doc()
    doc["journeys"][0]["level"] = "mega"
    assert errors_for(doc)["journeys[0].level"] == "unknown level 'mega' (organisation.levels: master, macro, micro)"


def test_details_step_must_be_a_step_of_the_parent():
    doc = example_doc()
    i = journey_index(doc, "switching-providers")
    doc["journeys"][i]["details_step"] = "port-number"
    assert errors_for(doc)[f"journeys[{i}].details_step"] == "journey 'being-a-customer' has no step 'port-number'"


def test_hierarchy_cycle_is_refused():
    doc = example_doc()
    doc["journeys"][0]["parent"] = "switching-providers"
    errors = errors_for(doc)
    assert any(message.startswith("the hierarchy loops back") for message in errors.values())


def test_unknown_council_role_and_person():
    doc = example_doc()
    doc["council"].append({"person": "ruben", "role": "supporter"})
    doc["council"].append({"person": "ana", "role": "chair"})
    errors = errors_for(doc)
    n = len(doc["council"])
    assert errors[f"council[{n - 2}].person"] == "unknown person 'ruben'"
    assert errors[f"council[{n - 1}].role"].startswith(
        "unknown council role 'chair' (roles: coordinator, lead, manager, supporter")


def test_duplicate_keys_are_reported():
    doc = example_doc()
    doc["people"].append(dict(doc["people"][0], email="other@telconova.example"))
    errors = errors_for(doc)
    assert errors[f"people[{len(doc['people']) - 1}].handle"] == "duplicate handle 'ana' (also people[0])"


def test_misspelt_field_is_named():
    doc = example_doc()
    doc["kpis"][0]["traget"] = 4
    assert errors_for(doc)["kpis[0].traget"] == "unknown field (check the spelling)"


def test_kpi_on_unknown_step_and_bad_scale():
    doc = example_doc()
    doc["kpis"][0]["step"] = "switching-providers/port-my-number"
    doc["kpis"][1]["scale"] = "likert"
    errors = errors_for(doc)
    assert errors["kpis[0].step"] == "unknown step 'switching-providers/port-my-number' (write it as journey/step)"
    assert errors["kpis[1].scale"].startswith("Must be one of: nps, csat5")


def test_unknown_persona_on_a_journey():
    doc = example_doc()
    doc["journeys"][1]["personas"].append("pensioner")
    assert errors_for(doc)["journeys[1].personas[2]"] == "unknown persona 'pensioner'"


def test_all_errors_are_reported_at_once():
    doc = example_doc()
    doc["journeys"][0]["owner"] = "nobody"
    doc["people"][1]["email"] = "not-an-email"
    doc["kpis"][2]["direction"] = "up"
    errors = errors_for(doc)
    assert {"journeys[0].owner", "people[1].email", "kpis[2].direction"} <= set(errors)


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(InvalidInput) as caught:
        load_config_text("organisation:\n  name: [unclosed\n")
    assert "line 3" in caught.value.message or "line 2" in caught.value.message


def test_invalid_file_writes_nothing(session, operator):
    doc = example_doc()
    doc["journeys"][0]["owner"] = "nobody"
    with pytest.raises(InvalidInput):
        apply_text(session, operator, yaml.safe_dump(doc))
    assert session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
