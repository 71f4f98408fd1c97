"""The per-session CSRF token that every state-changing browser request carries (form field or X-CSRF-Token header)."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session as web_session

CSRF_FIELD = "csrf_token"
CSRF_SESSION_KEY = "_csrf"


def csrf_token() -> str:
    """The session's CSRF token (created on first use); every form carries it in a hidden field."""
    token = web_session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        web_session[CSRF_SESSION_KEY] = token
    return token


def check_csrf() -> None:
    """Refuse a state-changing request whose form token does not match the session's (400, nothing written)."""
    expected = web_session.get(CSRF_SESSION_KEY)
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    if not expected or not hmac.compare_digest(str(expected), str(sent)):
        abort(400, description="This form has expired or did not come from this site. Reload the page and try "
                               "again; nothing was saved.")
