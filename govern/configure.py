"""Composition for `govern apply`: the core's validation plus each capability's own section validator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from govern.config_schema import load_document
from govern.errors import InvalidInput
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
    """The example organisations, wherever the package is installed (they ship as `govern.examples`)."""
    import govern.examples

    return Path(govern.examples.__file__).resolve().parent


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


def load_config_text(text: str, source: str = "govern.yaml") -> dict:
    """Validate a govern.yaml text completely; raise InvalidInput listing every error with its place."""
    return load_document(text, source=source, section_validators=VALIDATORS)


def derived_settings(doc: dict) -> dict[str, Any]:
    """Settings the engine derives from the document (the resolved lifecycle: its name and initial state)."""
    return {"lifecycle.current": resolve_lifecycle(doc.get("lifecycle"))}


def apply_text(session: Session, actor: Actor, text: str, *, source: str = "govern.yaml",
               dry_run: bool = False) -> Plan:
    doc = load_config_text(text, source)
    return apply_config(session, actor, doc, dry_run=dry_run, extra_settings=derived_settings(doc))


def apply_file(session: Session, actor: Actor, path: str | Path, *, dry_run: bool = False) -> Plan:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", {"file": str(path)}) from None
    return apply_text(session, actor, text, source=str(path), dry_run=dry_run)


def load_example(session: Session, actor: Actor, name: str = "telecom") -> dict[str, int]:
    """Apply an example organisation and load its runtime data (evidence, opportunities, KPI history)."""
    import yaml

    from govern.services.seed import load_runtime

    folder = examples_dir() / name
    apply_file(session, actor, folder / "govern.yaml")
    runtime = yaml.safe_load((folder / "runtime.yaml").read_text(encoding="utf-8"))
    return load_runtime(session, actor, runtime)
