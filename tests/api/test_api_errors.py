"""One error shape for everything under /api, the right 4xx for each problem, and a document that describes it all."""

from __future__ import annotations

from .conftest import assert_error


def test_requests_without_a_valid_token_are_401_with_the_error_shape(api):
    assert_error(api.get("/opportunities"), 401, "unauthenticated")
    response = api.get("/opportunities", headers={"Authorization": "Basic YW5hOmdvdmVybi1kZW1v"})
    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(api.get("/opportunities", headers={"Authorization": "Bearer gov_not-a-token"}), 401)


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.client.post("/api/v1/opportunities", data="{\"title\": ", content_type="application/json",
                               headers={"Authorization": f"Bearer {api.token('lotte')}"})
    error = assert_error(response, 400, "bad_request")
    assert error["details"] == {"body": "Invalid JSON body."}


def test_invalid_fields_are_422_naming_each_field_path(api):
    response = api.post("/opportunities", as_="lotte",
                        json={"title": 7, "journeys": ["switching-providers", 3], "colour": "red",
                              "insights": ["INS-1", "nonsense"]})
    error = assert_error(response, 422, "invalid_input")
    assert error["details"]["title"] == "Not a valid string."
    assert error["details"]["journeys[1]"] == "Not a valid string."
    assert error["details"]["colour"] == "unknown field (check the spelling)"
    assert "insights[1]" in error["details"]
    assert "title" in error["message"]


def test_missing_required_fields_and_bad_query_arguments_are_422(api):
    error = assert_error(api.post("/insights", as_="priya", json={}), 422, "invalid_input")
    assert error["details"] == {"text": "required", "source": "required"}
    error = assert_error(api.get("/opportunities?sort=colour", as_="priya"), 422)
    assert set(error["details"]) == {"query.sort"}
    error = assert_error(api.get("/opportunities?page_size=0", as_="priya"), 422)
    assert set(error["details"]) == {"query.page_size"}


def test_service_validation_errors_keep_their_field_paths(api):
    error = assert_error(api.post("/journeys", as_="marco", json={"key": "Bad Key", "name": "X", "level": "micro"}),
                         422, "invalid_input")
    assert error["details"] == {"key": "invalid key"}


def test_unknown_routes_methods_and_things_are_404_and_405(api):
    error = assert_error(api.get("/nothing-here", as_="priya"), 404, "not_found")
    assert "/api/v1/nothing-here" in error["message"]
    assert_error(api.get("/opportunities/OPP-999", as_="priya"), 404, "not_found")
    assert_error(api.get("/opportunities/OPP-99999999999999999999", as_="priya"), 404, "not_found")
    assert_error(api.get("/approvals/99999999999999999999", as_="priya"), 404, "not_found")
    assert_error(api.get("/insights/INS-123456789012345", as_="priya"), 404, "not_found")
    response = api.delete("/opportunities", as_="ana")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_text_a_database_cannot_store_is_422_not_a_500(api):
    error = assert_error(api.post("/insights", as_="priya", json={"text": "a\x00b", "source": "x"}), 422)
    assert error["details"] == {"text": "text may not contain NUL characters"}
    assert_error(api.get("/opportunities?q=%00", as_="priya"), 422)
    assert_error(api.get("/people/%ED%A0%80", as_="priya"), 404)


def test_conflicts_and_refusals_are_409(api):
    error = assert_error(api.post("/people", as_="ana", json={"handle": "lotte", "name": "Another Lotte"}), 409,
                         "conflict")
    assert error["details"] == {"handle": "taken"}
    error = assert_error(api.delete("/journeys/switching-providers", as_="ana"), 409, "refused")
    assert "evidence would be orphaned" in error["message"]


def test_permission_denied_says_who_may(api):
    error = assert_error(api.post("/personas", as_="priya", json={"key": "x", "name": "X"}), 403, "forbidden")
    assert error["message"].startswith("priya (supporter) may not create and change personas")
    assert error["details"]["action"] == "persona.manage"
    assert "coordinator" in error["details"]["allowed"]


def test_the_openapi_document_describes_every_route_and_its_errors(api):
    spec = api.client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops
                  if method != "parameters"}
    import re

    for rule in api.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in the OpenAPI document"
    for path, ops in spec["paths"].items():
        if not path.startswith(("/api/v1/opportunities", "/api/v1/journeys", "/api/v1/approvals", "/api/v1/people")):
            continue
        for method, op in ops.items():
            if method == "parameters":
                continue
            assert "401" in op["responses"], f"{method} {path} does not document 401"
            assert "default" in op["responses"]
    error_schema = spec["components"]["schemas"]["ErrorResponse"]
    assert error_schema["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_interactive_docs_are_served(api):
    response = api.client.get("/api/docs")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()
