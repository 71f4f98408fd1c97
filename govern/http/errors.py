"""One error shape for every HTTP caller: `{"error": {"code", "message", "details"}}`, never a traceback.

`install_error_handlers(app)` turns domain errors, HTTP errors and database conflicts into that shape (or, for the
web UI's pages, hands domain errors to the page renderer the web app registers).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import sqlalchemy as sa
from flask import Flask, g, jsonify, request, url_for
from markupsafe import escape
from marshmallow import Schema, fields
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, default_exceptions
from werkzeug.routing import IntegerConverter

from govern import telemetry
from govern.db import RETRY_AFTER_SECONDS, database_unavailable
from govern.errors import GovernError, InvalidInput

log = logging.getLogger(__name__)

MAX_ID = 2**31 - 1


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "stable, machine-readable: invalid_input, forbidden …"})
    message = fields.String(required=True, metadata={"description": "for people"})
    details = fields.Raw(allow_none=True, metadata={"description": "what is wrong; for invalid input, field path → "
                                                                    "message"})


class ErrorResponseSchema(Schema):
    """Every error under /api: `{"error": {"code", "message", "details"}}`."""

    error = fields.Nested(ErrorBodySchema, required=True)


ERROR_WORDS = {400: "malformed request (for example, a body that is not JSON)",
               401: "not signed in: send 'Authorization: Bearer <token>'",
               403: "your roles do not allow this; the message says who may",
               404: "no such thing (or no such route)",
               405: "this route does not accept that method",
               409: "conflict: a stale or concurrent write, a duplicate, a refused change, or unmet guards",
               412: "If-Match names an older version: reload and try again",
               415: "unsupported media type",
               422: "invalid input; details maps each field path to what is wrong",
               428: "precondition required"}

# The page a browser gets while the database is unavailable: no database read (no header, no words), so it renders.
UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Database unavailable · Journey ops</title>
<link rel="stylesheet" href="{css}"></head>
<body><main id="main"><section class="card error-page" data-status="503">
<h1>The database is unavailable <span class="muted">(503)</span></h1>
<p class="lead" data-testid="error-message">govern cannot reach its database just now. Please try again in a few
seconds. If you were saving something, reload the page and check whether it was saved before you repeat it.</p>
<p><a href="">Try again</a></p></section></main></body></html>
"""

HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 412: "precondition_failed", 413: "too_large",
              415: "unsupported_media_type", 422: "invalid_input", 428: "precondition_required", 429: "rate_limited"}


def error_response(code: str, message: str, status: int, details=None):
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="govern"'
    return response


def wants_json() -> bool:
    return (request.path.startswith(("/api/", "/slack/", "/jira/", "/intake/", "/healthz"))
            or request.accept_mimetypes.best == "application/json")


def field_errors(messages: Any) -> dict[str, str]:
    """webargs' {"json": {"journeys": {"0": ["…"]}}} → {"journeys[0]": "…"}; other locations keep their name
    ("query.page_size"); a problem with the whole body is reported under "body"."""
    out: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, sub in value.items():
                if key == "_schema":
                    walk(sub, path)
                elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                    walk(sub, f"{path or 'body'}[{key}]")
                else:
                    walk(sub, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (list, tuple)) and all(isinstance(m, str) for m in value):
            text = "; ".join({"Unknown field.": "unknown field (check the spelling)",
                              "Missing data for required field.": "required"}.get(m, m) for m in value)
            key = path or "body"
            out[key] = f"{out[key]}; {text}" if key in out else text
        elif isinstance(value, (list, tuple)):
            for i, sub in enumerate(value):
                walk(sub, f"{path or 'body'}[{i}]")
        else:
            out[path or "body"] = str(value)

    if isinstance(messages, Mapping):
        for location, value in messages.items():
            walk(value, "" if location in ("json", "form", "json_or_form") else str(location))
    else:
        walk(messages, "")
    return out


def _clean_text(value: Any, path: str, problems: dict[str, str]) -> None:
    """Text a database can store: no NUL characters (PostgreSQL refuses them) and no lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            problems[path or "body"] = "text may not contain NUL characters"
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                problems[path or "body"] = "text is not valid Unicode"
    elif isinstance(value, dict):
        for key, sub in value.items():
            _clean_text(key, path or "body", problems)
            _clean_text(sub, f"{path}.{key}" if path else str(key), problems)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            _clean_text(sub, f"{path or 'body'}[{i}]", problems)


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive database id that fits the column (anything else is simply not found)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        super().__init__(map, min=1, max=MAX_ID)


def install_error_handlers(app: Flask) -> None:
    """Every error becomes {"error": {"code", "message", "details"}} for API callers; never a traceback.

    Handlers are registered per status code as well as per class: flask-smorest registers its own handler for
    HTTPException when the Api is created, and Flask prefers a handler registered for the exact code.
    """
    app.url_map.converters.setdefault("id", IdConverter)

    @app.errorhandler(GovernError)
    def _domain_error(exc: GovernError):
        db = g.get("db_session")
        if db is not None:
            db.rollback()
        if not wants_json() and app.extensions.get("govern.web_error_handler"):
            return app.extensions["govern.web_error_handler"](exc)
        return error_response(exc.code, exc.message, exc.http_status, exc.details)

    def _http_error(exc: HTTPException):
        if not wants_json():
            return exc
        details = None
        data = getattr(exc, "data", None)  # webargs / flask-smorest validation messages
        if isinstance(data, dict) and "messages" in data:
            details = field_errors(data["messages"])
        code = HTTP_CODES.get(exc.code or 500, "http_error")
        message = exc.description or exc.name
        if exc.code == 400 and details:
            message = "malformed request: " + "; ".join(f"{k}: {v}" for k, v in details.items())
        elif details:
            message = "invalid input: " + "; ".join(f"{k}: {v}" for k, v in details.items())
        if exc.code == 405:
            message = f"{request.method} is not allowed on {request.path}"
        elif exc.code == 404 and not details:
            message = f"no such route: {request.method} {request.path} (the API is described at /api/openapi.json)"
        response = error_response(code, message, exc.code or 500, details)
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    app.register_error_handler(HTTPException, _http_error)
    for status in default_exceptions:
        app.register_error_handler(status, _http_error)

    def _rollback():
        db = g.get("db_session")
        if db is not None:
            db.rollback()

    @app.errorhandler(StaleDataError)
    def _stale(exc):
        _rollback()
        return error_response("conflict", "someone else changed this at the same moment; nothing was saved, reload "
                              "and try again", 409, {"reason": "concurrent_update"})

    @app.errorhandler(sa.exc.IntegrityError)
    def _integrity(exc):
        _rollback()
        log.info("integrity error on %s %s: %s", request.method, request.path, exc.orig)
        return error_response("conflict", "this conflicts with existing data (a duplicate, or something else "
                              "changed at the same moment); nothing was saved", 409, None)

    @app.errorhandler(sa.exc.DataError)
    @app.errorhandler(OverflowError)
    def _unstorable_value(exc):
        # A number or text the database cannot hold (PostgreSQL: out of range; SQLite: an integer past 64 bits)
        # reached a query: the client sent it, so it is their error to fix, never a 500.
        _rollback()
        log.info("unstorable value on %s %s: %s", request.method, request.path, exc)
        return error_response("invalid_input", "a value in this request is out of range for what can be stored",
                              422, None)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        _rollback()
        return error_response("internal_error", "something went wrong on our side; it has been logged", 500)

    def _database_error(exc: Exception):
        """The database cannot be reached or used just now: 503 with Retry-After, a page or the JSON error shape
        (`database_unavailable`) saying so — counted in /metrics. Any other database error is a bug: 500."""
        if not database_unavailable(exc):
            return _unexpected(exc)
        try:
            _rollback()
        except sa.exc.SQLAlchemyError:  # the connection is gone; the pool discards it
            pass
        telemetry.database_unavailable("http")
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    type(getattr(exc, "orig", None) or exc).__name__)
        if wants_json():
            response = error_response("database_unavailable", "the database is unavailable just now: retry in "
                                      f"{RETRY_AFTER_SECONDS} seconds", 503,
                                      {"retry_after": RETRY_AFTER_SECONDS})
        else:
            response = app.make_response(
                (UNAVAILABLE_PAGE.format(css=escape(url_for("static", filename="app.css"))), 503,
                 {"Content-Type": "text/html; charset=utf-8"}))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for unavailable in (sa.exc.DBAPIError, sa.exc.DisconnectionError, sa.exc.TimeoutError):
        app.register_error_handler(unavailable, _database_error)

    @app.before_request
    def _refuse_unstorable_text():
        """Input a database cannot store is a 422 before any view runs (never a 500 from the driver)."""
        if not request.path.startswith("/api/"):
            return None
        problems: dict[str, str] = {}
        for key, value in request.args.items(multi=True):
            _clean_text(value, f"query.{key}", problems)
        _clean_text(request.path, "path", problems)
        if request.is_json and request.content_length:
            body = request.get_json(silent=True)
            if body is not None:
                _clean_text(body, "", problems)
        if problems:
            raise InvalidInput("invalid input: " + "; ".join(f"{k}: {v}" for k, v in problems.items()), problems)
        return None
