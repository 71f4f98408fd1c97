"""govern.yaml `sources:` and `evidence.tags`: validated like every section (the path named), stored on apply."""

from pathlib import Path

import pytest
import yaml

from govern.errors import InvalidInput
from govern.orgfile.load import apply_text, load_config_text
from govern.services.common import get_setting
from tests.conftest import cli_invoker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "telecom" / "govern.yaml"


def example_doc() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def errors_for(doc: dict) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        load_config_text(yaml.safe_dump(doc, sort_keys=False))
    return caught.value.details


def test_the_example_declares_a_valid_help_desk_source():
    doc = load_config_text(EXAMPLE.read_text())
    zendesk = doc["sources"][0]
    assert zendesk["key"] == "zendesk" and zendesk["date_format"] == "%d.%m.%Y" and zendesk["scrub"] is True
    assert zendesk["columns"]["external_id"] == "Ticket ID"


def test_a_step_rule_naming_an_unknown_step_is_named_with_its_path():
    doc = example_doc()
    doc["sources"][0]["steps"][1]["step"] = "x/y"
    assert errors_for(doc) == {"sources[0].steps[1].step": "unknown step 'x/y' (write it as journey/step)"}


def test_unknown_tags_personas_and_kinds_are_named():
    doc = example_doc()
    source = doc["sources"][0]
    source["tags"] = ["billing", "weather"]
    source["personas"]["Business"] = "ceo"
    source["kind"] = "tweet"
    errors = errors_for(doc)
    assert errors["sources[0].tags[1]"].startswith("unknown tag 'weather' (evidence.tags: porting, billing")
    assert errors["sources[0].personas.Business"] == "unknown persona 'ceo'"
    assert errors["sources[0].kind"].startswith("unknown kind 'tweet'")


def test_shape_mistakes_in_a_source_are_named():
    doc = example_doc()
    source = doc["sources"][0]
    del source["columns"]["text"]
    source["columns"]["colour"] = "Colour"
    source["date_format"] = "dd.mm.yyyy"
    source["steps"][0] = {"column": "Group", "step": "switching-providers/port-number"}
    source["steps"][2]["text_matches"] = "(unclosed"
    source["secret_env"] = "AWS_SECRET_ACCESS_KEY"
    errors = errors_for(doc)
    assert errors["sources[0].columns.text"] == "required"
    assert errors["sources[0].columns.colour"] == "unknown field (check the spelling)"
    assert errors["sources[0].date_format"].startswith("not a date format")
    assert errors["sources[0].steps[0]"] == "a column rule needs exactly one of equals or matches"
    assert errors["sources[0].steps[2].text_matches"].startswith("not a regular expression")
    assert errors["sources[0].secret_env"] == "must name a GOVERN_…_SECRET environment variable"


def test_a_duplicate_source_key_and_a_bad_taxonomy_are_refused():
    doc = example_doc()
    doc["sources"].append(dict(doc["sources"][0]))
    doc["evidence"]["tags"] = ["billing", "Billing!", "billing"]
    errors = errors_for(doc)
    assert errors["sources[1].key"] == "duplicate key 'zendesk' (also sources[0])"
    assert errors["evidence.tags[1]"].startswith("must be lower-case letters")
    assert errors["evidence.tags[2]"] == "duplicate tag 'billing'"


def test_apply_stores_the_sources_and_the_taxonomy(session, operator):
    apply_text(session, operator, EXAMPLE.read_text())
    sources = get_setting(session, "sources")
    assert [s["key"] for s in sources] == ["zendesk"]
    assert sources[0]["steps"][0] == {"column": "Group", "equals": "Porting",
                                      "step": "switching-providers/port-number", "tags": ["porting"]}
    assert "roaming" in get_setting(session, "evidence")["tags"]


def test_govern_apply_refuses_a_mapping_to_an_unknown_step_naming_the_path(tmp_path, db):
    doc = example_doc()
    doc["sources"][0]["steps"][0]["step"] = "switching-providers/teleport"
    path = tmp_path / "govern.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli_invoker(db, tmp_path)("apply", str(path))
    assert result.exit_code == 2, result.output
    assert "sources[0].steps[0].step: unknown step 'switching-providers/teleport'" in result.output
