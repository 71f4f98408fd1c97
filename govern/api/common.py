"""Shared pieces for every HTTP entry point: the request's session and actor, and one error shape."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, jsonify, request, session as web_session
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from govern.errors import GovernError, Unauthenticated
from govern.policy import Actor
from govern.runtime import Runtime
from govern.services.common import load_actor
from govern.services.people import person_for_token

log = logging.getLogger(__name__)


def runtime() -> Runtime:
    return current_app.extensions["govern"]


def db_session() -> Session:
    """One session per request, closed when the request ends."""
    if "db_session" not in g:
        g.db_session = runtime().db.session()
    return g.db_session


def close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def current_actor(required: bool = True) -> Actor | None:
    """The caller: a bearer API token, or the signed-in web session."""
    if "actor" in g:
        return g.actor
    session = db_session()
    actor = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("use 'Authorization: Bearer <token>'")
        actor = load_actor(session, person_for_token(session, secret.strip()))
    elif web_session.get("person_id"):
        try:
            actor = load_actor(session, int(web_session["person_id"]))
        except GovernError:
            web_session.clear()
    if actor is None and required:
        raise Unauthenticated("sign in or send an API token ('Authorization: Bearer <token>')")
    g.actor = actor
    return actor


def error_response(code: str, message: str, status: int, details=None):
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="govern"'
    return response


def wants_json() -> bool:
    return (request.path.startswith(("/api/", "/slack/", "/jira/", "/healthz"))
            or request.accept_mimetypes.best == "application/json")


def install_error_handlers(app: Flask) -> None:
    """Every error becomes {"error": {"code", "message", "details"}} for API callers; never a traceback."""

    @app.errorhandler(GovernError)
    def _domain_error(exc: GovernError):
        db = g.get("db_session")
        if db is not None:
            db.rollback()
        if not wants_json() and app.extensions.get("govern.web_error_handler"):
            return app.extensions["govern.web_error_handler"](exc)
        return error_response(exc.code, exc.message, exc.http_status, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if not wants_json():
            return exc
        details = None
        data = getattr(exc, "data", None)  # webargs / flask-smorest validation messages
        if isinstance(data, dict) and "messages" in data:
            from govern.config_schema import flatten_errors

            details = flatten_errors(data["messages"])
        code = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 412: "precondition_failed", 415: "unsupported_media_type",
                422: "invalid_input", 428: "precondition_required", 429: "rate_limited"}.get(exc.code, "http_error")
        message = exc.description or exc.name
        if details:
            message = "invalid input: " + "; ".join(f"{k}: {v}" for k, v in details.items())
        return error_response(code, message, exc.code or 500, details)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        db = g.get("db_session")
        if db is not None:
            db.rollback()
        return error_response("internal_error", "something went wrong on our side; it has been logged", 500)
