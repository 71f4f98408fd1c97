"""govern.yaml has a generated reference and JSON Schema that match the code; `govern schema` checks files and names
every mistake with its place; repeated keys name their line; a lifecycle file is read relative to govern.yaml."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from govern.cli.root import cli
from govern.orgfile.reference import generated_files, json_schema, shipped_schema_text
from govern.orgfile.load import example_text, read_config_file
from govern.errors import InvalidInput
from tests.conftest import cli_invoker

ROOT = Path(__file__).resolve().parents[2]
HOSPITAL = ROOT / "tests" / "fixtures" / "hospital" / "govern.yaml"
EXAMPLE = yaml.safe_load(example_text("telecom", "govern.yaml"))


def schema_cli(*args: str):
    return CliRunner().invoke(cli, ["schema", *args])


def test_committed_schema_and_reference_match_the_code():
    stale = [str(path.relative_to(ROOT)) for path, text in generated_files().items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert not stale, f"out of date: {stale}; regenerate with `python -m govern.orgfile.reference` and commit them"


def test_govern_schema_prints_the_shipped_json_schema_which_is_valid_json_schema():
    result = schema_cli()
    assert result.exit_code == 0
    printed = json.loads(result.output)
    assert printed == json.loads(shipped_schema_text()) == json_schema()
    jsonschema.Draft202012Validator.check_schema(printed)


def test_reference_lists_every_section_and_nested_key_with_type_default_and_example():
    reference = CliRunner().invoke(cli, ["schema", "--reference"]).output
    for section in json_schema()["properties"]:
        assert f'\n## <a id="{section}"></a>{section}\n' in reference
    for row in ("`journeys[].stages[].steps[].emotion` | number", "`kpis[].scale` | one of `nps`",
                "`rituals[].agenda_lead_minutes` | whole number |  | `60`", "`slack.approvals` | one of `channel`",
                "`lifecycle.transitions[].approval`", "`scoring.models`", "`jira.status_map`"):
        assert row in reference, row
    assert "# yaml-language-server: $schema=" in reference
    assert "- `has_evidence`:" in reference and "- `quorum`:" in reference and "- `notify`:" in reference
    assert "Example (from the example organisation)" in reference


def fixtures() -> list[Path]:
    files = [ROOT / "govern" / "examples" / "telecom" / "govern.yaml"]
    if HOSPITAL.exists():
        files.append(HOSPITAL)
    return files


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.parent.name)
def test_the_example_and_the_hospital_fixture_are_valid_for_govern_schema_and_the_json_schema(path):
    result = schema_cli(str(path))
    assert result.exit_code == 0, result.output
    assert f"{path}: valid" in result.output
    errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(yaml.safe_load(path.read_text())))
    assert errors == []


def _set(doc: dict, path: list, value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


# (what is wrong, how to break the example, the path `govern schema` names, whether the JSON Schema alone sees it)
MISTAKES = [
    ("unknown journey key", lambda d: _set(d, ["journeys", 0, "colour"], "red"), "journeys[0].colour", True),
    ("unknown KPI scale", lambda d: _set(d, ["kpis", 0, "scale"], "ten"), "kpis[0].scale", True),
    ("emotion off the scale", lambda d: _set(d, ["journeys", 0, "stages", 0, "steps", 0, "emotion"], 3),
     "journeys[0].stages[0].steps[0].emotion", True),
    ("owner who is not a person", lambda d: _set(d, ["journeys", 0, "owner"], "nobody"), "journeys[0].owner", False),
    ("council role that does not exist", lambda d: _set(d, ["council", 0, "role"], "boss"), "council[0].role", False),
    ("unknown lifecycle", lambda d: _set(d, ["lifecycle"], "waterfall"), "lifecycle", True),
    ("unknown agenda section", lambda d: _set(d, ["rituals", 0, "agenda"], ["gossip"]), "rituals[0].agenda[0]", True),
    ("ritual duration as text", lambda d: _set(d, ["rituals", 0, "duration_minutes"], "an hour"),
     "rituals[0].duration_minutes", True),
    ("Slack approvals route", lambda d: _set(d, ["slack", "approvals"], "email"), "slack.approvals", True),
    ("Jira status mapped to nothing", lambda d: _set(d, ["jira", "status_map"], {"done": "finished"}),
     "jira.status_map.done", True),
    ("scoring model kind", lambda d: _set(d, ["scoring"], {"models": {"ours": {"kind": "magic"}}}),
     "scoring.models.ours.kind", True),
    ("unknown top-level section", lambda d: _set(d, ["journies"], []), "journies", True),
]


@pytest.mark.parametrize("what, breaks, path, json_schema_sees_it", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_govern_schema_rejects_each_mistake_with_its_path(tmp_path, what, breaks, path, json_schema_sees_it):
    broken = breaks(EXAMPLE)
    file = tmp_path / "govern.yaml"
    file.write_text(yaml.safe_dump(broken, sort_keys=False))
    result = schema_cli(str(file))
    assert result.exit_code == 2
    assert f"  {path}: " in result.output, result.output
    assert "Traceback" not in result.output
    if json_schema_sees_it:
        assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors(broken)), what


def test_a_repeated_key_is_an_error_naming_its_line(tmp_path, db):
    file = tmp_path / "govern.yaml"
    file.write_text("organisation: {name: Clinic}\n"
                    "people:\n"
                    "  - {handle: ana, name: Ana}\n"
                    "  - {handle: bob, name: Bob}\n"
                    "journeys:\n"
                    "  - key: care\n"
                    "    name: Getting care\n"
                    "    level: master\n"
                    "    owner: ana\n"
                    "    owner: bob\n")
    with pytest.raises(InvalidInput) as raised:
        read_config_file(file)
    assert raised.value.details == {
        "line 10": "duplicate key 'owner' (first given on line 9); a key may appear once per mapping"}
    govern = cli_invoker(db, tmp_path)
    result = govern("apply", str(file))
    assert result.exit_code == 2
    assert "line 10: duplicate key 'owner' (first given on line 9)" in result.output


def test_a_repeated_key_in_a_lifecycle_file_names_its_line(tmp_path):
    (tmp_path / "ours.yaml").write_text("name: ours\nname: theirs\n")
    (tmp_path / "govern.yaml").write_text("organisation: {name: Clinic}\nlifecycle: {file: ours.yaml}\n")
    with pytest.raises(InvalidInput) as raised:
        read_config_file(tmp_path / "govern.yaml")
    assert any("line 2: duplicate key 'name'" in message for message in raised.value.details.values())


def test_a_lifecycle_file_is_read_relative_to_govern_yaml_not_the_working_directory(tmp_path, db, monkeypatch):
    config = tmp_path / "config"
    (config / "lifecycles").mkdir(parents=True)
    shipped = (ROOT / "govern" / "workflows" / "definitions" / "default.yaml").read_text()
    (config / "lifecycles" / "ours.yaml").write_text(shipped.replace("name: default", "name: ours", 1))
    doc = _set(EXAMPLE, ["lifecycle"], {"file": "lifecycles/ours.yaml"})
    (config / "govern.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert read_config_file(Path("..") / "config" / "govern.yaml")["lifecycle"]["file"].endswith(
        os.path.join("config", "lifecycles", "ours.yaml"))
    govern = cli_invoker(db, tmp_path)
    result = govern("apply", str(config / "govern.yaml"))
    assert result.exit_code == 0, result.output
    from govern.model import Setting

    with db.session_scope() as session:
        assert session.get(Setting, "lifecycle.current").value["name"] == "ours"


def test_the_playbook_has_the_reference_for_administrators(example_db, tmp_path):
    out = tmp_path / "playbook"
    result = cli_invoker(example_db, tmp_path)("playbook", "build", "--format", "md", "--out", str(out))
    assert result.exit_code == 0, result.output
    page = (out / "configuration.md").read_text()
    assert page.startswith("# Configuring govern.yaml")
    assert "`journeys[].owner`" in page and "# yaml-language-server: $schema=" in page
    assert "configuration.md" in (out / "index.md").read_text() or "configuration" in (out / "index.md").read_text()
