"""Fuzzing the live OpenAPI document with schemathesis: every operation, a bounded number of generated requests each
(valid ones, then invalid ones), authenticated as the council lead (also an admin, so the write paths run), against
the example organisation, through the app's WSGI interface. One test per API blueprint, so a failure names its owner.

Checked on every answer: never a server error, the status code is documented, the content type is documented, and
the body and headers match the documented schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance, ignored_auth, missing_required_header, not_a_server_error, response_headers_conformance,
    response_schema_conformance, status_code_conformance, unsupported_method, use_after_free,
)

from govern.app import API_BLUEPRINTS, _load
from govern.services.common import load_actor
from govern.services.people import create_token

# Every schemathesis check but two: `positive_data_acceptance` (a 422 for a valid-looking body whose rule the schema
# cannot say, e.g. a reference that must exist) and `negative_data_rejection` (the token header is fixed per call).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, ignored_auth, unsupported_method, missing_required_header, use_after_free]
EXAMPLES = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 3}
BLUEPRINTS = {bp.name: module for module, attr in API_BLUEPRINTS if (bp := _load(module, attr)) is not None}


def _fuzz(operation, mode: GenerationMode, headers: dict) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
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
    for operation in _operations(example_app):
        if tag not in operation.definition.raw.get("tags", []):
            continue
        for mode in EXAMPLES:
            try:
                _fuzz(operation, mode, headers)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failure, report them all
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")
    assert not failures, f"{BLUEPRINTS[tag]}: {len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
