"""Composition for `govern apply`: the core's validation plus each capability's own section validator."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from govern.config_schema import load_document
from govern.errors import InvalidInput
from govern.yamltext import load_yaml
from govern.metrics import validate_kpi_definitions
from govern.policy import Actor, validate_roles
from govern.scoring import validate_scoring_config
from govern.services.governance import Plan, apply_config
from govern.vocabulary import validate_words
from govern.integrations.jira.mapping import validate_mapping
from govern.integrations.slack.config import validate_slack_config
from govern.rituals.config import validate_rituals_config
from govern.workflows.definition import resolve_lifecycle, validate_lifecycle_section



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
    return validate_words(doc.get("words"))


def _roles_validator(doc: dict) -> dict[str, str]:
    return validate_roles(doc.get("roles"))


VALIDATORS = [_words_validator, _roles_validator, _lifecycle_validator, _scoring_validator, _rituals_validator, _jira_validator, _kpi_validator,
              _slack_validator]


def load_config_text(text: str, source: str = "govern.yaml", *, base_dir: Path | None = None) -> dict:
    """Validate a govern.yaml text completely; raise InvalidInput listing every error with its place.

    With `base_dir` (the folder of the file the text came from), `lifecycle: {file: …}` is read relative to it.
    """
    prepare = None
    if base_dir is not None:
        def prepare(raw: dict) -> None:
            resolve_relative_files(raw, base_dir)
    return load_document(text, source=source, section_validators=VALIDATORS, prepare=prepare)


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
    doc = load_config_text(text, source, base_dir=base_dir)
    return apply_config(session, actor, doc, dry_run=dry_run, extra_settings=derived_settings(doc))


def apply_file(session: Session, actor: Actor, path: str | Path, *, dry_run: bool = False) -> Plan:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", {"file": str(path)}) from None
    return apply_text(session, actor, text, source=str(path), dry_run=dry_run, base_dir=path.resolve().parent)


def read_config_file(path: str | Path) -> dict:
    """Validate a govern.yaml file without touching the database (`govern schema FILE`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", {"file": str(path)}) from None
    return load_config_text(text, str(path), base_dir=path.resolve().parent)


def load_example(session: Session, actor: Actor, name: str = "telecom") -> dict[str, int]:
    """Apply an example organisation and load its runtime data (evidence, opportunities, KPI history)."""
    from govern.services.seed import load_runtime

    apply_text(session, actor, example_text(name, "govern.yaml"), source=f"examples/{name}/govern.yaml")
    runtime = load_yaml(example_text(name, "runtime.yaml"), f"examples/{name}/runtime.yaml")
    return load_runtime(session, actor, runtime)
