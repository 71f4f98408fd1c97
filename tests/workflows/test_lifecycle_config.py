"""The `lifecycle` section of govern.yaml: a shipped name, a file or an inline definition; errors name their place."""

import importlib.resources

import yaml

from govern.services.common import put_setting
from govern.workflows import services
from govern.workflows.definition import resolve_lifecycle, validate_lifecycle_section


def default_data():
    return yaml.safe_load((importlib.resources.files("workflows") / "definitions" / "default.yaml").read_text())


def test_shipped_names_validate_and_resolve():
    assert validate_lifecycle_section("default") == {}
    assert validate_lifecycle_section(None) == {}
    resolved = resolve_lifecycle("triple_diamond")
    assert resolved["name"] == "triple_diamond" and resolved["initial"] == "problem_discovery"
    assert resolved["definition"]["initial"] == "problem_discovery"


def test_unknown_name_is_named():
    assert validate_lifecycle_section("kanban") == {"lifecycle": "unknown lifecycle 'kanban'"}


def test_inline_definition_errors_carry_the_section_path():
    data = default_data()
    data["transitions"][2]["dest"] = "evaluation"
    assert validate_lifecycle_section(data) == {
        "lifecycle.transitions[2].dest": "unknown state 'evaluation' (did you mean 'evaluate'?)"}


def test_file_definition_errors_name_the_file(tmp_path):
    data = default_data()
    data["transitions"][0]["approval"] = {"role": "The Boss"}
    path = tmp_path / "ours.yaml"
    path.write_text(yaml.safe_dump(data))
    problems = validate_lifecycle_section({"file": str(path)})
    assert list(problems) == [f"lifecycle.file ({path}): transitions[0].approval.role"]
    assert validate_lifecycle_section({"file": str(tmp_path / "none.yaml")}) == {
        "lifecycle.file": f"no lifecycle definition file at {tmp_path / 'none.yaml'}"}


def test_an_applied_custom_lifecycle_drives_the_services(org, session):
    data = default_data()
    data["name"] = "ours"
    data["transitions"][0]["approval"] = {"quorum": {"role": "manager", "n": 2}}
    put_setting(session, "lifecycle.current", resolve_lifecycle(data))
    session.commit()
    opp = org.opportunity(lifecycle="ours", state="research")
    result = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise")
    assert result.approval.waiting_for() == ["2 managers (Max, Mia, Mo)"]


def test_govern_apply_reports_a_bad_lifecycle_with_its_place():
    import pytest

    from govern.orgfile.load import examples_dir, load_config_text
    from govern.errors import InvalidInput

    text = (examples_dir() / "telecom" / "govern.yaml").read_text()
    assert "\nlifecycle: default\n" in text
    inline = yaml.safe_dump({"lifecycle": {**default_data(), "initial": "reserch"}})
    with pytest.raises(InvalidInput) as caught:
        load_config_text(text.replace("\nlifecycle: default\n", "\n" + inline))
    assert caught.value.details["lifecycle.initial"] == "unknown state 'reserch' (did you mean 'research'?)"


def test_a_guard_takes_the_title_govern_yaml_gives_it_and_keeps_a_readable_default():
    from govern.vocabulary import vocabulary_from
    from govern.workflows.definition import parse_definition
    from govern.workflows.diagrams import to_mermaid

    data = default_data()
    first = next(t for t in data["transitions"] if t.get("guards"))
    first["guards"] = [{"has_evidence": {"min": 3, "title": "three {customers} heard"}}, "has_owner"]
    assert validate_lifecycle_section(data) == {}
    definition = parse_definition(data)
    transition = next(t for t in definition.transitions if t.trigger == first["trigger"])
    titled, default = transition.guards
    assert (titled.name, dict(titled.params), titled.title) == ("has_evidence", {"min": 3}, "three {customers} heard")
    patients = vocabulary_from({"customer": "patient"})
    assert titled.label(patients) == "three patients heard" and default.label(patients) == "has an owner"
    drawn = to_mermaid(definition, words=patients)
    assert "three patients heard" in drawn and "has_evidence" not in drawn
    first["guards"] = [{"has_evidence": {"min": 3, "title": ""}}]
    assert validate_lifecycle_section(data) == {
        f"lifecycle.transitions[{data['transitions'].index(first)}].guards[0].has_evidence.title":
            "must be text of 1 to 120 characters"}
