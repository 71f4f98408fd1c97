"""Composition for `govern apply`: the core's validation plus each capability's own section validator."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from govern.config_schema import load_document
from govern.errors import InvalidInput
from govern.policy import Actor
from govern.services.governance import Plan, apply_config

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def _optional(module: str, attr: str):
    # INTEGRATION: capabilities land one by one; until a validator exists its section is only shape-checked.
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def _lifecycle_validator(doc: dict) -> dict[str, str]:
    validate = _optional("workflows.definition", "validate_lifecycle_section")
    return validate(doc.get("lifecycle")) if validate else {}


def _scoring_validator(doc: dict) -> dict[str, str]:
    validate = _optional("govern.scoring", "validate_scoring_config")
    if not validate:
        return {}
    return {(k if k.startswith("scoring") else f"scoring.{k}"): v
            for k, v in validate(doc.get("scoring") or {}).items()}


def _rituals_validator(doc: dict) -> dict[str, str]:
    validate = _optional("rituals.config", "validate_rituals_config")
    return validate(doc.get("rituals") or [], doc) if validate else {}


def _jira_validator(doc: dict) -> dict[str, str]:
    validate = _optional("integrations.jira.mapping", "validate_mapping")
    return validate(doc.get("jira") or {}) if validate else {}


def _kpi_validator(doc: dict) -> dict[str, str]:
    validate = _optional("govern.metrics", "validate_kpi_definitions")
    return validate(doc.get("kpis") or []) if validate else {}


def _slack_validator(doc: dict) -> dict[str, str]:
    validate = _optional("integrations.slack.config", "validate_slack_config")
    return validate(doc.get("slack")) if validate else {}


VALIDATORS = [_lifecycle_validator, _scoring_validator, _rituals_validator, _jira_validator, _kpi_validator,
              _slack_validator]


def load_config_text(text: str, source: str = "govern.yaml") -> dict:
    """Validate a govern.yaml text completely; raise InvalidInput listing every error with its place."""
    return load_document(text, source=source, section_validators=VALIDATORS)


def derived_settings(doc: dict) -> dict[str, Any]:
    """Settings the engine derives from the document (the resolved lifecycle: its name and initial state)."""
    resolve = _optional("workflows.definition", "resolve_lifecycle")
    if resolve:
        return {"lifecycle.current": resolve(doc.get("lifecycle"))}
    name = doc.get("lifecycle") if isinstance(doc.get("lifecycle"), str) else "default"
    return {"lifecycle.current": {"name": name, "initial": {"triple_diamond": "problem_discovery"}.get(name, "research")}}


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

    folder = EXAMPLES_DIR / name
    apply_file(session, actor, folder / "govern.yaml")
    runtime = yaml.safe_load((folder / "runtime.yaml").read_text(encoding="utf-8"))
    return load_runtime(session, actor, runtime)
