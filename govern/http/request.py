"""The current request's runtime, database session (one per request) and acting person."""

from __future__ import annotations

import hmac

from flask import current_app, g, request, session as web_session
from sqlalchemy.orm import Session

from govern.errors import PermissionDenied, Unauthenticated
from govern.http.csrf import CSRF_SESSION_KEY
from govern.policy import Actor
from govern.runtime import Runtime
from govern.services.common import load_actor, person_with_seats
from govern.services.people import person_for_token, session_is_current


def runtime() -> Runtime:
    """The process's runtime, held by the app (see govern.app.create_app)."""
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
        if g.actor is None and required:
            raise Unauthenticated("sign in or send an API token ('Authorization: Bearer <token>')")
        return g.actor
    session = db_session()
    actor = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("use 'Authorization: Bearer <token>'")
        g.person, seats = person_for_token(session, secret.strip())
        actor = load_actor(session, g.person, seats=seats)
    elif web_session.get("person_id"):
        _check_cookie_write()
        try:
            found = person_with_seats(session, int(web_session["person_id"]))
        except (ValueError, TypeError):
            found = None
        person, seats = found if found is not None else (None, [])
        # Server-side revocation: the cookie names the session version it was signed in with; sign-out, a password
        # change, deactivation or a lost role moved the person's version on, and every older cookie stops working.
        if person is not None and session_is_current(person, web_session.get("session_version")):
            actor = load_actor(session, person, seats=seats)
            g.person = person  # held for the request: the identity map alone keeps it only weakly
            g.password_reset_required = bool(person.password_reset_required)
            if g.password_reset_required and request.path.startswith("/api/"):
                raise Unauthenticated("choose your own password first (someone else set it): sign in on the web")
        else:
            web_session.clear()
    g.actor = actor
    if actor is None and required:
        raise Unauthenticated("sign in or send an API token ('Authorization: Bearer <token>')")
    return actor


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _check_cookie_write() -> None:
    """A browser session may write to the API only with the session's CSRF token in X-CSRF-Token.

    Cookies ride along on cross-site requests; bearer tokens do not, so only cookie-authenticated writes need this.
    """
    if request.method in SAFE_METHODS or not request.path.startswith("/api/"):
        return
    expected = web_session.get(CSRF_SESSION_KEY)
    sent = request.headers.get("X-CSRF-Token", "")
    if not expected or not hmac.compare_digest(str(expected), sent):
        raise PermissionDenied("API writes from a browser session need the X-CSRF-Token header "
                               "(or use 'Authorization: Bearer <token>')", {"header": "X-CSRF-Token"})
