"""Signing in and out, the header's "who am I", CSRF on every form, and HTML error pages."""

from __future__ import annotations

import datetime as dt

from flask import g, redirect, render_template, request, session as web_session, url_for
from werkzeug.exceptions import HTTPException, default_exceptions

from govern.errors import GovernError
from govern.kpis.verdicts import VERDICT_MARKS, verdict_words
from govern.model import Person
from govern.policy import ROLE_DESCRIPTIONS
from govern.queries.reference import reference
from govern.services.people import authenticate, change_own_password, sign_out
from govern.services.common import get_setting
from govern.vocabulary import vocabulary_of
from govern.web import bp
from govern.web.display import display_zone, iso_local, local_day, local_time, names, with_names
from govern.web.readmodel import lifecycle_view
from govern.web.support import (
    check_csrf, csrf_token, db_session, governed_error_page, http_error_page, login_required, safe_next,
    signed_in_actor, take_notices,
)
from govern.workflows.services import awaiting_count

ROLE_ORDER = ("admin", "lead", "manager", "owner", "coordinator", "supporter")


@bp.record_once
def _install(state) -> None:
    """HTML error pages for domain errors raised by web views (the API keeps its JSON shape)."""
    state.app.extensions["govern.web_error_handler"] = governed_error_page


@bp.before_request
def _csrf_guard():
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        check_csrf()


def _http_error(exc: HTTPException):
    return http_error_page(exc)


# Per status code, because the app registers per-code handlers (JSON for the API) that would otherwise win.
bp.register_error_handler(HTTPException, _http_error)
for _code in default_exceptions:
    if _code >= 400:
        bp.register_error_handler(_code, _http_error)


@bp.after_request
def _no_store(response):
    # CSP, framing, sniffing and referrer headers are set for every response by govern.http.security.
    if request.endpoint and request.endpoint != "web.login":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def whoami() -> dict | None:
    """The signed-in person for the header: name, roles (with plain-words meaning) and their seats' journeys."""
    actor = g.get("web_actor")
    if actor is None or actor.person_id is None:
        return None
    if "whoami" in g:
        return g.whoami
    session = db_session()
    person = g.get("person") or session.get(Person, actor.person_id)
    # Where each role applies: the actor's seats and owned journeys, named from the transaction's journey snapshot.
    ref = reference(session)
    seats = [(role, ref.journey(journey_id).name if journey_id is not None else None)
             for role, journey_id in actor.seats]
    owned = sorted(j.name for j in ref.journeys if j.owner_id == actor.person_id)
    roles = []
    for role in ROLE_ORDER:
        if role not in actor.roles:
            continue
        if role == "owner":
            where = ", ".join(owned)
        else:
            where = ", ".join(name for r, name in seats if r == role and name) or ("" if role == "admin" else "all")
        roles.append({"role": role, "where": where, "meaning": ROLE_DESCRIPTIONS[role]})
    if not roles:
        roles.append({"role": "viewer", "where": "", "meaning": ROLE_DESCRIPTIONS["viewer"]})
    awaiting = g.get("awaiting_count")  # the inbox has just counted them
    if awaiting is None:
        try:
            awaiting = awaiting_count(session, actor)
        except GovernError:
            awaiting = 0
    g.whoami = {"person": person, "roles": roles, "awaiting": awaiting}
    return g.whoami


def _lifecycle():
    if "lifecycle_view" not in g:
        g.lifecycle_view = lifecycle_view(db_session())
    return g.lifecycle_view


def state_title(state: str | None) -> str:
    """A lifecycle state as people call it (from the definition), for badges and sentences."""
    return _lifecycle().title_of(state)


def state_classes(state: str | None) -> str:
    """The CSS classes of a state badge, from the state's kind and position (never its name)."""
    return _lifecycle().badge_classes(state)


class _RequestWords:
    """The organisation's words (`govern.vocabulary`) for templates, read from the database on first use only."""

    def __getattr__(self, name: str):
        return getattr(vocabulary_of(db_session()), name)


def organisation_name() -> str:
    """The organisation's name from govern.yaml (`organisation.name`), shown on every page; empty before apply."""
    try:
        return str((get_setting(db_session(), "organisation", {}) or {}).get("name") or "")
    except Exception:  # noqa: BLE001 - an error page renders even when the database does not answer
        return ""


@bp.app_context_processor
def _template_globals():
    return {"csrf_token": csrf_token, "whoami": whoami, "take_notices": take_notices, "state_title": state_title, "state_classes": state_classes,
            "w": _RequestWords(), "organisation_name": organisation_name}


@bp.app_template_filter("when")
def format_when(value, weekday: bool = False) -> str:
    """A stored (UTC) moment in the council's local time: '25 Nov 2026, 10:00 CET'."""
    return local_time(value, display_zone(db_session()), weekday=weekday)


@bp.app_template_filter("day")
def format_day(value) -> str:
    """A date, or a moment's local date: '25 Nov 2026' (the display zone is read only for a moment: a date has none)."""
    moment = isinstance(value, dt.datetime) or (isinstance(value, str) and "T" in value)
    return local_day(value, display_zone(db_session()) if moment else None)


@bp.app_template_filter("iso_local")
def format_iso_local(value) -> str:
    return iso_local(value, display_zone(db_session())) if value else ""


@bp.app_template_filter("prefix")
def prefix(value, before: str) -> str:
    return f"{before}{value}"


@bp.app_template_filter("with_names")
def format_with_names(text) -> str:
    """Generated words with handles in parentheses, shown with names ('(owner lotte)' → '(owner Lotte de Vries)')."""
    me = g.get("web_actor")
    return with_names(str(text or ""), names(db_session()), me.handle if me is not None else None)


@bp.app_template_filter("person_name")
def format_person(handle) -> str:
    return names(db_session()).person(handle)


@bp.app_template_filter("verdict")
def format_verdict(value) -> str:
    """A KPI outcome in words with its mark: "✔ target met", "▲ improved, target not met", "▼ worse"."""
    if not value:
        return "–"
    return f"{VERDICT_MARKS.get(value, '')} {verdict_words(value)}".strip()


@bp.app_template_filter("num")
def format_number(value) -> str:
    """Numbers for people: 22,870 · 61.5 · 0.83 (no scientific notation on a projector)."""
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    if abs(number) >= 10:
        return f"{number:.1f}".rstrip("0").rstrip(".")
    return f"{number:.3g}"


@bp.get("/")
@login_required
def home():
    return redirect(url_for("web.board"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with a handle (or e-mail) and password; the session cookie is HttpOnly and SameSite=Lax."""
    target = safe_next(request.values.get("next"), url_for("web.board"))
    if request.method == "GET":
        if signed_in_actor() is not None:
            return redirect(target)
        return render_template("login.html", next=target, handle="", error=None)
    handle = request.form.get("handle", "").strip()
    try:
        person = authenticate(db_session(), handle, request.form.get("password", ""), client=request.remote_addr)
    except GovernError as exc:
        return render_template("login.html", next=target, handle=handle, error=exc.message), 401
    web_session.clear()  # a fresh session (and a fresh form token) on sign-in: no fixation
    web_session["person_id"] = person.id
    web_session["session_version"] = person.session_version
    web_session.permanent = True
    g.pop("actor", None)
    if person.password_reset_required:
        return redirect(url_for("web.account_password"))
    return redirect(target)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def account_password():
    """Change your own password (the current one is needed); the one step left after someone else set it."""
    me = g.web_actor
    person = db_session().get(Person, me.person_id)
    if request.method == "GET":
        return render_template("account_password.html", reset_required=person.password_reset_required, error=None)
    try:
        person = change_own_password(db_session(), me, request.form.get("current_password"),
                                     request.form.get("new_password", ""))
    except GovernError as exc:
        return render_template("account_password.html", reset_required=person.password_reset_required,
                               error=exc.message), exc.http_status
    web_session["session_version"] = person.session_version  # this session carries on; every other one ended
    return redirect(url_for("web.board"))


@bp.post("/logout")
def logout():
    """Sign out everywhere: a copied cookie of this (or any other) session of yours stops working."""
    me = signed_in_actor()
    if me is not None:
        sign_out(db_session(), me)
    web_session.clear()
    g.pop("actor", None)
    return redirect(url_for("web.login"))
