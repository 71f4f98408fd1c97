"""Findings 4 and 5: the open redirect after sign-in, and pre-authentication denial of service (no size limit, JSON
parsed and validated before the caller was known, deep nesting → 500)."""

from __future__ import annotations

import json
from urllib.parse import unquote


from govern.cli.support import DEMO_PASSWORD
from govern.web.support import safe_next

from .conftest import assert_error, web_sign_in

# As an attacker writes them in the link (percent-encoded where a browser would need it).
HOSTILE_NEXT = ["//evil.example/", "/%09/evil.example/", "/%0a/evil.example/", "/%5Cevil.example", "/%0d/evil.example",
                "https://evil.example/", "javascript:alert(1)", "/%00/evil.example", "///evil.example",
                "%2F%2Fevil.example", "/%2F/evil.example"]


def test_sign_in_never_redirects_to_another_site(api):
    web, _ = web_sign_in(api.app, "ana", DEMO_PASSWORD)
    went = {}
    for target in HOSTILE_NEXT:
        answer = web.client.get(f"/login?next={target}")  # signed in already: straight to `next`
        went[target] = (answer.status_code, answer.headers.get("Location", ""))
        assert safe_next(unquote(target), "/board") == "/board", target
    assert went == {target: (302, "/board") for target in HOSTILE_NEXT}


def test_a_same_site_path_is_still_followed():
    assert safe_next("/opportunities/OPP-3?tab=evidence", "/board") == "/opportunities/OPP-3?tab=evidence"


def test_an_oversized_body_is_refused_before_it_is_read(api):
    body = b"{" + b" " * (api.app.config["MAX_CONTENT_LENGTH"] + 10) + b"}"
    answer = api.client.post("/api/v1/insights", data=body, content_type="application/json")
    assert answer.status_code == 413


def test_an_anonymous_body_is_refused_with_401_before_validation(api):
    assert_error(api.client.post("/api/v1/opportunities", json={"title": 7}), 401)
    assert_error(api.client.post("/api/v1/opportunities", data="not json", content_type="application/json"), 401)


def test_deeply_nested_json_is_a_400_not_a_500(api):
    deep = "[" * 1000 + "]" * 1000
    answer = api.call("POST", "/opportunities", as_="ana", data=deep, content_type="application/json")
    assert_error(answer, 400)
    nested = json.dumps({"title": "How might we?", "journeys": ["getting-help"],
                         "x": json.loads("[" * 40 + "]" * 40)})
    assert api.call("POST", "/opportunities", as_="ana", data=nested, content_type="application/json"
                    ).status_code == 400
