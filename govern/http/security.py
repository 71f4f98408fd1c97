"""What every HTTP response and request goes through, whatever blueprint serves it: security headers (a strict CSP, no
framing, no sniffing, referrer policy, optional HSTS), the request size limit, JSON nesting depth, and the API's
"who are you" before any body is read.

Installed by the app factory (`install(app, config)`); nothing here holds a rule of the domain.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from flask import Flask, Response, abort, current_app, render_template, request, send_from_directory
from werkzeug.exceptions import BadRequest
from flask.json.provider import DefaultJSONProvider

from govern.services.intake_readers import import_too_large
from govern.settings import Config

# No inline script or style anywhere: templates load /static/*.js and *.css; SVG is drawn without style attributes.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
MAX_JSON_DEPTH = 32
# Routes under /api that answer without a caller: the API's description and its documentation page.
PUBLIC_API_PATHS = ("/api/openapi.json", "/api/docs")
# Where evidence exports are uploaded (their size limit is GOVERN_MAX_IMPORT_BYTES, not the request limit).
IMPORT_PATHS = frozenset({"/api/v1/evidence/imports", "/evidence/import"})


# Secrets that travel in URLs (calendar feed tokens: calendar apps cannot send headers) and a refused legacy
# `?secret=`: what access logs write is redacted.
_URL_SECRETS = re.compile(r"(/calendar/)[^/?\s\"]+(\.ics)|([?&](?:secret|token)=)[^&\s\"]+")


def redact_url_secrets(text: str) -> str:
    return _URL_SECRETS.sub(lambda m: f"{m.group(1)}[redacted]{m.group(2)}" if m.group(1)
                            else f"{m.group(3)}[redacted]", text)


class RedactUrlSecrets(logging.Filter):
    """A logging filter for access logs (werkzeug's, gunicorn's): secrets in request URLs become `[redacted]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = {k: redact_url_secrets(v) if isinstance(v, str) else v for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(redact_url_secrets(v) if isinstance(v, str) else v for v in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_url_secrets(record.msg)
        return True


ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


def install_log_redaction() -> None:
    """Attach the redaction filter to the access loggers once (idempotent)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactUrlSecrets) for f in logger.filters):
            logger.addFilter(RedactUrlSecrets())


class DepthLimitedJSON(DefaultJSONProvider):
    """JSON bodies nested deeper than MAX_JSON_DEPTH are refused (400) instead of recursing through them."""

    def loads(self, s, **kwargs):
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        _check_depth(value)
        return value


def _check_depth(value) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _check_json_body() -> None:
    """A JSON body that does not parse, or nests too deeply, is a 400 naming the body (the shape webargs uses)."""
    try:
        current_app.json.loads(request.get_data(cache=True))
    except ValueError as exc:
        nested = "nested deeper" in str(exc)
        error = BadRequest(str(exc) if nested else "Invalid JSON body.")
        error.data = {"messages": {"json": [str(exc) if nested else "Invalid JSON body."]}}
        raise error from None


def swagger_ui_dir() -> Path:
    """swagger-ui's files, from the installed swagger-ui-bundle package (never a CDN)."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def install(app: Flask, config: Config) -> None:
    install_log_redaction()
    app.json = DepthLimitedJSON(app)
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length

    @app.before_request
    def _authenticate_api_before_reading_the_body():
        """Under /api, the caller is known (or refused with 401) before any body is parsed or validated; an
        oversized body is refused (413) from its declared length without reading it."""
        limit = config.max_content_length
        if request.method == "POST" and request.path in IMPORT_PATHS:  # evidence exports: their own, larger limit
            limit = config.max_import_bytes
            request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            if request.path in IMPORT_PATHS:
                abort(413, description=import_too_large(request.content_length, limit))
            abort(413, description=f"the request body is larger than {config.max_content_length} bytes")
        if not request.path.startswith("/api/") or request.path.startswith(PUBLIC_API_PATHS):
            return None
        if request.method == "OPTIONS":
            return None
        if app.url_map.bind_to_environ(request.environ).test(request.path, request.method):
            from govern.http.request import current_actor

            current_actor()  # raises Unauthenticated (401) when nobody is signed in
            if request.is_json and request.content_length:
                _check_json_body()  # malformed or too deeply nested: 400 here, before any schema sees it
        return None

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if config.hsts_max_age:
            headers.setdefault("Strict-Transport-Security", f"max-age={config.hsts_max_age}; includeSubDomains")
        return response

    @app.get("/api/docs")
    def api_docs():
        """The API's documentation (swagger-ui from the installed package; its start-up script is a static file)."""
        return render_template("api_docs.html")

    @app.get("/api/docs/assets/<path:name>")
    def api_docs_assets(name: str):
        if name not in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                        "favicon-32x32.png"):
            abort(404)
        return send_from_directory(swagger_ui_dir(), name, max_age=86400)
