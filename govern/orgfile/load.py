"""Composition for `govern apply`: the core's validation plus each capability's own section validator."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from govern.orgfile.schema import load_document
from govern.errors import InvalidInput
from govern.yamltext import load_yaml, read_text_file
from govern.kpis import validate_kpi_definitions
from govern.model import COUNCIL_ROLES
from govern.policy import ACTIONS, ROLES, Actor, custom_roles_from, validate_roles
from govern.scoring import validate_scoring_config
from govern.services.evidence import validate_evidence_settings
from govern.orgfile.apply import Plan, apply_config
from govern.vocabulary import validate_words
from govern.integrations.jira.mapping import validate_mapping
from govern.integrations.slack.config import validate_slack_config
from govern.rituals.config import validate_rituals_config
from govern.workflows.definition import definition_from_section, resolve_lifecycle, validate_lifecycle_section
from govern.services.seed import load_runtime



def examples_dir() -> Path:
    """The example organisations as a folder, wherever the package is installed (they ship as `govern.examples`)."""
    return Path(str(resources.files("govern.examples")))


def example_text(name: str, file: str) -> str:
    """One file of a shipped example organisation, read as package data."""
    return (resources.files("govern.examples") / name / file).read_text(encoding="utf-8")


def _lifecycle_validator(doc: dict) -> dict[str, str]:
    return validate_lifecycle_section(doc.get("lifecycle"))


def _scoring_validator(doc: dict) -> dict[str, str]:
    return {(k if k.startswith("scoring") else f"scoring.{k}"): v
            for k, v in validate_scoring_config(doc.get("scoring") or {}).items()}


def _rituals_validator(doc: dict) -> dict[str, str]:
    return validate_rituals_config(doc.get("rituals") or [], doc)


def _jira_validator(doc: dict) -> dict[str, str]:
    return validate_mapping(doc.get("jira") or {})


def _kpi_validator(doc: dict) -> dict[str, str]:
    return validate_kpi_definitions(doc.get("kpis") or [])


def _slack_validator(doc: dict) -> dict[str, str]:
    return validate_slack_config(doc.get("slack"))


def _words_validator(doc: dict) -> dict[str, str]:
    return validate_words(doc.get("words"), actions=ACTIONS)


def _evidence_validator(doc: dict) -> dict[str, str]:
    return validate_evidence_settings(doc.get("evidence"))


def _roles_validator(doc: dict) -> dict[str, str]:
    return validate_roles(doc.get("roles"))


def _decision_rights_validator(doc: dict) -> dict[str, str]:
    """The lifecycle's approvers and requesters exist in this organisation and the permission table lets them act:
    a role approves only if it holds `transition.approve`, a named approver only if one of their seats does; a
    requester role or person must hold `transition.request`."""
    try:
        definition = definition_from_section(doc.get("lifecycle"))
    except InvalidInput:
        return {}  # the lifecycle validator reports the definition's own problems
    custom = custom_roles_from(doc.get("roles"))
    seats: dict[str, set[str]] = {}
    for seat in doc.get("council") or []:
        seats.setdefault(seat["person"], set()).add(seat["role"])
    people = {p["handle"] for p in doc.get("people") or []}

    def grants(role: str, action: str) -> bool:
        if role in custom:
            return action in custom[role].permissions
        return ACTIONS[action][1].get(role) is not None

    def holders_of(action: str) -> str:
        return ", ".join([r for r in ROLES if ACTIONS[action][1].get(r) is not None]
                         + [r for r, c in custom.items() if action in c.permissions])

    problems: dict[str, str] = {}
    section = doc.get("lifecycle")
    if isinstance(section, dict) and "states" in section:
        prefix = "lifecycle."
    elif isinstance(section, dict) and "file" in section:
        prefix = f"lifecycle.file ({section['file']}): "
    else:
        prefix = f"lifecycle ({definition.name}): "

    def place(t, rest: str) -> str:
        return f"{prefix}transitions[{t.index}].{rest}"

    def check_role(role: str, action: str, path: str) -> None:
        if role not in ROLES and role not in custom:
            problems[path] = (f"unknown council role {role!r} (roles: {', '.join(COUNCIL_ROLES)}"
                              f"{', ' + ', '.join(custom) if custom else ''}; declare your own under roles:)")
        elif not grants(role, action):
            problems[path] = (f"role {role!r} may not {action.split('.')[1]} transitions in the permission table "
                              f"({action} is for {holders_of(action)})")

    def check_person(handle: str, action: str, path: str) -> None:
        if handle not in people:
            problems[path] = f"unknown person {handle!r}"
        elif not any(grants(role, action) for role in seats.get(handle, ())):
            problems[path] = (f"{handle} holds no council seat whose role may {action.split('.')[1]} transitions "
                              f"({action} is for {holders_of(action)}); seat them in council:")

    def walk(rule, path: str) -> None:
        (kind, value), = rule.items()
        if kind == "role":
            check_role(value, "transition.approve", f"{path}.role")
        elif kind == "quorum":
            check_role(value["role"], "transition.approve", f"{path}.quorum.role")
        elif kind == "person":
            check_person(value, "transition.approve", f"{path}.person")
        elif kind == "all_of":
            for i, sub in enumerate(value):
                walk(sub, f"{path}.all_of[{i}]")

    for t in definition.transitions:
        before = set(problems)
        if t.approval:
            walk(t.approval, place(t, "approval"))
        for i, entry in enumerate(t.requesters):
            if entry.startswith("person:"):
                check_person(entry.partition(":")[2], "transition.request", place(t, f"requesters[{i}]"))
            else:
                check_role(entry, "transition.request", place(t, f"requesters[{i}]"))
        for path in set(problems) - before:  # name the transition in words too, not only by its index
            problems[path] += f"; in transition {t.trigger!r} ({', '.join(t.sources)} → {t.dest})"
    return problems


VALIDATORS = [_words_validator, _roles_validator, _evidence_validator, _decision_rights_validator, _lifecycle_validator, _scoring_validator, _rituals_validator, _jira_validator, _kpi_validator,
              _slack_validator]


def load_config_text(text: str, source: str = "govern.yaml", *, base_dir: Path | None = None) -> dict:
    """Validate a govern.yaml text completely; raise InvalidInput listing every error with its place.

    With `base_dir` (the folder of the file the text came from), `lifecycle: {file: …}` is read relative to it.
    Without it (a document sent over HTTP) no file is read at all: the server's files are not the sender's to name, and
    whether one exists is not theirs to learn.
    """
    prepare = None
    if base_dir is not None:
        def prepare(raw: dict) -> None:
            resolve_relative_files(raw, base_dir)
    validators = VALIDATORS if base_dir is not None else [_refuse_file_references, *VALIDATORS]
    return load_document(text, source=source, section_validators=validators, prepare=prepare)


def _refuse_file_references(doc: dict) -> dict[str, str]:
    """A validator, run first for documents sent over HTTP: `lifecycle: {file: …}` is refused before anything reads
    it (and the section is dropped so that no later validator does)."""
    section = doc.get("lifecycle")
    if isinstance(section, dict) and "file" in section and "states" not in section:
        doc["lifecycle"] = None
        return {"lifecycle.file": "file references are read only by `govern apply FILE` on the server; send the "
                                  "lifecycle definition inline (a mapping with states and transitions)"}
    return {}


def resolve_relative_files(raw: dict, base_dir: Path) -> None:
    """A relative `lifecycle: {file: …}` names a file beside govern.yaml, wherever the command runs from."""
    lifecycle = raw.get("lifecycle")
    if isinstance(lifecycle, dict) and set(lifecycle) == {"file"} and isinstance(lifecycle["file"], str):
        path = Path(lifecycle["file"]).expanduser()
        if not path.is_absolute():
            raw["lifecycle"] = {"file": str(base_dir / path)}


def derived_settings(doc: dict) -> dict[str, Any]:
    """Settings the engine derives from the document (the resolved lifecycle: its name and initial state)."""
    return {"lifecycle.current": resolve_lifecycle(doc.get("lifecycle"))}


def apply_text(session: Session, actor: Actor, text: str, *, source: str = "govern.yaml",
               dry_run: bool = False, base_dir: Path | None = None) -> Plan:
    """Validate and apply a govern.yaml text. Without `base_dir` (text sent over HTTP) it may name no file."""
    doc = load_config_text(text, source, base_dir=base_dir)
    return apply_config(session, actor, doc, dry_run=dry_run, extra_settings=derived_settings(doc))


def apply_file(session: Session, actor: Actor, path: str | Path, *, dry_run: bool = False) -> Plan:
    path = Path(path)
    text = read_text_file(path)  # refused unread past MAX_YAML_BYTES; NUL bytes or invalid UTF-8 named
    return apply_text(session, actor, text, source=str(path), dry_run=dry_run, base_dir=path.resolve().parent)


def read_config_file(path: str | Path) -> dict:
    """Validate a govern.yaml file without touching the database (`govern schema FILE`)."""
    path = Path(path)
    text = read_text_file(path)
    return load_config_text(text, str(path), base_dir=path.resolve().parent)


def load_example(session: Session, actor: Actor, name: str = "telecom") -> dict[str, int]:
    """Apply an example organisation and load its runtime data (evidence, opportunities, KPI history)."""
    apply_text(session, actor, example_text(name, "govern.yaml"), source=f"examples/{name}/govern.yaml")
    runtime = load_yaml(example_text(name, "runtime.yaml"), f"examples/{name}/runtime.yaml")
    return load_runtime(session, actor, runtime)
