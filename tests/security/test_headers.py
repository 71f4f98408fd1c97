"""Findings 1 and 10: a strict CSP and the usual headers on every response (web, /playbook, /api, errors), swagger-ui
from the installed package, HSTS as an option, Secure cookies on https, no inline script or style in templates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import govern
from govern.app import create_app
from tests.conftest import make_config

from .conftest import web_sign_in

TEMPLATES = [*Path(govern.__file__).parent.joinpath("web", "templates").glob("*.html"),
             *Path(govern.__file__).parent.joinpath("playbook", "templates").glob("*.j2")]


def _check_headers(response):
    csp = response.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp, csp
    assert "style-src 'self'" in csp
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy")


PATHS = ["/login", "/playbook/index.html", "/api/v1/journeys", "/api/openapi.json", "/api/docs",
         "/api/v1/no-such-thing", "/healthz", "/calendar/guess.ics", "/static/app.css", "/slack/commands"]


def test_every_response_carries_the_security_headers(api):
    missing = []
    for path in PATHS:
        for headers in ({}, {"Authorization": f"Bearer {api.token('ana')}"}):
            try:
                _check_headers(api.client.get(path, headers=headers))
            except AssertionError as exc:
                missing.append(f"{path} {'with' if headers else 'without'} a token: {exc}")
    assert not missing, "\n".join(missing)


def test_api_docs_load_swagger_ui_from_this_site_only(api):
    page = api.client.get("/api/docs").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "<script>" not in page
    assert api.client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_hold_no_inline_script_or_style(template):
    text = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert " style=\"" not in text and " onclick=" not in text and "javascript:" not in text
    if template.name != "layout.html.j2":  # its <style> is only for the single-file (PDF) rendering, never served
        assert "<style" not in text


def test_hsts_is_an_option_and_cookies_are_secure_on_https(example_db, tmp_path):
    plain = create_app(make_config(example_db, tmp_path), db=example_db)
    assert "Strict-Transport-Security" not in plain.test_client().get("/login").headers
    https = create_app(make_config(example_db, tmp_path, base_url="https://council.example", hsts_max_age=31536000),
                       db=example_db)
    assert https.test_client().get("/login").headers["Strict-Transport-Security"].startswith("max-age=31536000")
    from govern.cli.support import DEMO_PASSWORD

    _, answer = web_sign_in(https, "ana", DEMO_PASSWORD)
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
