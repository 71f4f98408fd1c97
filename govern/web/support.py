"""Plumbing shared by the web views: the signed-in actor, forms, notices, error pages (CSRF: govern.http.csrf)."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request, session as web_session, url_for
from werkzeug.exceptions import HTTPException

from govern.http.csrf import check_csrf, csrf_token
from govern.http.request import current_actor, db_session
from govern.errors import GovernError, InvalidInput, NotFound
from govern.policy import Actor

# --- who is signed in -------------------------------------------------------------------------------------------------


def signed_in_actor() -> Actor | None:
    try:
        return current_actor(required=False)
    except GovernError:
        web_session.pop("person_id", None)
        return None


def login_required(view):
    """Views that need a signed-in person; others are sent to the sign-in page and brought back afterwards."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        actor = signed_in_actor()
        if actor is None or actor.person_id is None:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        g.web_actor = actor
        if g.get("password_reset_required") and request.endpoint != "web.account_password":
            return redirect(url_for("web.account_password"))
        return view(*args, **kwargs)

    return wrapper


def actor() -> Actor:
    return g.web_actor


# --- forms ------------------------------------------------------------------------------------------------------------


def field_errors(exc: GovernError, known: tuple[str, ...] = ()) -> dict[str, str]:
    """Map a service error's details to form fields ('decisions[0].text' → 'decisions[0].text'); the rest → '_form'."""
    errors: dict[str, str] = {}
    details = exc.details if isinstance(exc.details, dict) else {}
    for key, message in details.items():
        if not isinstance(message, (str, int, float)):
            continue
        errors[str(key)] = str(message)
    if not errors or (known and not any(k in known for k in errors)):
        errors["_form"] = exc.message
    return errors


def form_list(name: str) -> list[str]:
    return [v.strip() for v in request.form.getlist(name) if v and v.strip()]


def flash_message(kind: str, text: str) -> None:
    """A one-shot notice shown on the next page (kept in the session; 'ok' or 'error')."""
    web_session.setdefault("_notices", [])
    web_session["_notices"] = [*web_session["_notices"], {"kind": kind, "text": text}]


def take_notices() -> list[dict[str, str]]:
    return web_session.pop("_notices", [])


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths are followed after sign-in or a form (never another host).

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so `/\t/evil.example` would become
    `//evil.example`: a target with any control character, whitespace or backslash is refused, and what is left must
    parse as a path with neither scheme nor host."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return default
    if any(ord(ch) < 0x21 or ch in "\\\x7f" for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


# --- error pages ------------------------------------------------------------------------------------------------------

ERROR_TITLES = {400: "That request could not be used", 401: "Please sign in", 403: "Not allowed",
                404: "Not found", 405: "Not allowed here", 409: "Already changed", 412: "Changed meanwhile",
                422: "Please check the input", 500: "Something went wrong"}


def render_error(status: int, message: str, details: Any = None):
    who = g.get("web_actor") or signed_in_actor()
    g.web_actor = who
    body = render_template("error.html", status=status, title=ERROR_TITLES.get(status, "Error"), message=message,
                           details=details if isinstance(details, dict) else None)
    return body, status


def governed_error_page(exc: GovernError):
    """HTML page for a domain error raised in a web view (installed as app.extensions['govern.web_error_handler'])."""
    if exc.http_status == 401:
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    return render_error(exc.http_status, exc.message, exc.details)


def http_error_page(exc: HTTPException):
    return render_error(exc.code or 500, exc.description or exc.name)


def get_or_404(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotFound as exc:
        abort(404, description=exc.message)


__all__ = ["csrf_token", "check_csrf", "login_required", "actor", "db_session", "field_errors",
           "form_list", "flash_message", "take_notices", "safe_next", "render_error", "InvalidInput", "current_app"]
