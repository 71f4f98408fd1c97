"""Fuzzing the live OpenAPI document with schemathesis: every operation, a bounded number of generated requests each
(valid ones, then invalid ones), authenticated as the council lead (also an admin, so the write paths run), against
the example organisation, through the app's WSGI interface. One test per API blueprint, so a failure names its owner.

Checked on every answer with every check schemathesis has (`--checks all`): never a server error, the status code,
content type, body and headers are as documented, invalid data is refused and valid data accepted, authentication is
enforced where declared, unsupported methods are refused (with Allow), a deleted resource stays gone.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks

from govern.app import API_BLUEPRINTS, _load
from govern.services.common import load_actor
from govern.services.people import create_token

load_all_checks()
# `--checks all`: every check schemathesis has, including the security ones (ignored_auth: an operation that declares
# bearer auth must refuse a request without it; unsupported_method; missing_required_header; use_after_free; …).
CHECKS = list(REGISTERED_CHECKS.get_all())
EXAMPLES = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 3}
BLUEPRINTS = {bp.name: module for module, attr in API_BLUEPRINTS if (bp := _load(module, attr)) is not None}


# A request valid by the schema may still be refused by a rule the schema cannot express: a reference that must exist
# (404), a state the lifecycle is not in or a duplicate (409), a stale version (412), a domain rule such as "a
# reason is required to reject" or text that is only spaces (422). Anything else (a 400, a 5xx) fails the check.
POSITIVE_EXPECTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429"]


def _fuzz(operation, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(checks=CHECKS)

    run()


def _operations(app, headers: dict | None = None):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    if headers:
        # Configured on the schema (not per call), so that checks which take credentials away (ignored_auth,
        # negative cases without the Authorization header) really send the request without them.
        schema.config.update(headers=headers)
    schema.config.checks.positive_data_acceptance.expected_statuses = POSITIVE_EXPECTED
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_fuzzed(example_app):
    """Every operation in the document belongs to one of the blueprints fuzzed below."""
    operations = _operations(example_app)
    untagged = [op.label for op in operations if not set(op.definition.raw.get("tags", [])) & set(BLUEPRINTS)]
    assert not untagged
    assert len(operations) > 40


@pytest.mark.slow
@pytest.mark.parametrize("tag", sorted(BLUEPRINTS))
def test_api_answers_generated_requests_as_documented(tag, example_app, example_db):
    with example_db.session_scope() as s:
        secret = create_token(s, load_actor(s, "ana"), "schemathesis").secret
    headers = {"Authorization": f"Bearer {secret}"}
    failures = []
    for operation in _operations(example_app, headers):
        if tag not in operation.definition.raw.get("tags", []):
            continue
        for mode in EXAMPLES:
            try:
                _fuzz(operation, mode)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failure, report them all
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")
    assert not failures, f"{BLUEPRINTS[tag]}: {len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
