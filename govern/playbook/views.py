"""The live playbook at /playbook: the same pages as `govern playbook build`, rendered from the database on each request
for anyone signed in (web session or API token), plus the page that issues personal calendar subscription links."""

from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, Response, abort, redirect, request, url_for
from markupsafe import Markup, escape
from werkzeug.routing import BuildError

from govern.http.csrf import check_csrf, csrf_token
from govern.http.request import current_actor, db_session
from govern.model import Person
from govern.services.common import get_setting
from govern.playbook import build as build_mod
from govern.playbook.data import collect
from govern.rituals.services import create_calendar_token

bp = Blueprint("playbook", __name__, url_prefix="/playbook")

def _signed_in():
    """The signed-in actor, or a response sending the visitor to sign in."""
    actor = current_actor(required=False)
    if actor is not None:
        return actor, None
    try:
        return None, redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    except BuildError:  # the web UI has no sign-in page here: plain 401
        return None, Response("Sign in to read the playbook (or send an API token).", status=401,
                              headers={"WWW-Authenticate": 'Bearer realm="govern"'}, mimetype="text/plain")


def _playbook():
    return collect(db_session(), as_of=dt.datetime.now(dt.timezone.utc), base_url=request.host_url.rstrip("/"))


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html")


@bp.get("")
def root():
    return redirect(url_for("playbook.page", name="index.html"))


@bp.get("/")
@bp.get("/<path:name>")
def page(name: str = "index.html"):
    """One page of the playbook, generated now from the live configuration."""
    _, login = _signed_in()
    if login is not None:
        return login
    if name == "style.css":
        return Response(build_mod.stylesheet(), mimetype="text/css")
    if not name.endswith(".html"):
        abort(404)
    pb = _playbook()
    pages = build_mod.pages(pb)
    wanted = next((p for p in pages if p.html_path == name), None)
    if wanted is None:
        abort(404)
    actor = current_actor(required=False)
    return _html(_link_opportunity_keys(build_mod.render_html(pb, wanted, pages, live=True,
                                                              app_bar=_app_bar(actor, pages))))


APP_LINKS = (("Board", "web.board"), ("Journeys", "web.journeys"), ("Evidence", "web.evidence_list"),
             ("Approvals", "web.approvals"), ("Council & rituals", "web.council"))
_KEY_IN_TEXT = re.compile(r"(?<![\w/-])(OPP-\d+)(?![\w-])")
_TEXT_OR_TAG = re.compile(r"(<a\b.*?</a>|<[^>]+>)", re.S)


def _app_bar(actor, pages) -> dict | None:
    """Links back into the web app, and to the reader's own playbook page (when the web app is installed)."""
    try:
        links = [(label, url_for(endpoint)) for label, endpoint in APP_LINKS]
    except BuildError:
        return None
    handle = getattr(actor, "handle", None)
    mine = f"people/{handle}.html" if handle and any(p.html_path == f"people/{handle}.html" for p in pages) else None
    person = db_session().get(Person, actor.person_id) if getattr(actor, "person_id", None) else None
    name = person.name if person is not None else handle
    return {"back": links[0][1], "links": links, "mine": url_for("playbook.page", name=mine) if mine else None,
            "name": name}


def _link_opportunity_keys(html: str) -> str:
    """Opportunity keys in the text (OPP-7) become links to their page in the web app (not inside tags or links)."""
    try:
        target = url_for("web.opportunity", ref="OPP-0").rsplit("/", 1)[0]
    except BuildError:
        return html
    parts = _TEXT_OR_TAG.split(html)
    for i, part in enumerate(parts):
        if part and not part.startswith("<"):
            parts[i] = _KEY_IN_TEXT.sub(lambda m: f'<a href="{target}/{m.group(1)}">{m.group(1)}</a>', part)
    return "".join(parts)


@bp.route("/calendar", methods=["GET", "POST"])
def calendar():
    """Issue a calendar subscription link: your own rituals, or one ritual (`?ritual=KEY`). The secret is shown once."""
    actor, login = _signed_in()
    if login is not None:
        return login
    ritual = request.values.get("ritual") or None
    issued = None
    if request.method == "POST":
        check_csrf()
        issued = create_calendar_token(db_session(), actor, ritual=ritual,
                                       person=None if ritual else actor.handle)
    token = csrf_token()
    what = f"the ritual {escape(ritual)}" if ritual else "the rituals you attend"
    parts = ["<h1>Calendar subscription</h1>"]
    if actor.person_id is None:
        parts.append("<p>Calendar feeds belong to a person; sign in as yourself to get one.</p>")
    elif issued is not None:
        https = request.host_url.rstrip("/") + issued.path
        webcal = "webcal://" + https.split("://", 1)[1]
        parts.append(f"<p>Your feed for {what} is ready. Copy it now: it is shown only once.</p>")
        parts.append(f'<p><a href="{escape(webcal)}">{escape(webcal)}</a></p>')
        parts.append(f"<p>Or, for calendar apps that want https: <code>{escape(https)}</code></p>")
        parts.append("<p>In Google Calendar: Other calendars → From URL. In Outlook: Add calendar → Subscribe from "
                     "web. In Apple Calendar: File → New Calendar Subscription.</p>")
    else:
        parts.append(f"<p>Get a private iCalendar link for {what}. Your calendar app keeps it current; anyone with the "
                     f"link can read the feed, so keep it to yourself (it can be revoked).</p>")
        parts.append(f'<form class="calendar" method="post"><input type="hidden" name="csrf_token" '
                     f'value="{escape(token)}">'
                     + (f'<input type="hidden" name="ritual" value="{escape(ritual)}">' if ritual else "")
                     + '<button type="submit">Create my calendar link</button></form>')
    parts.append('<p><a href="index.html">Back to the playbook</a></p>')
    organisation = (get_setting(db_session(), "organisation", {}) or {}).get("name") or ""
    return _html(build_mod.render_layout(title="Calendar subscription", body=Markup("\n".join(parts)),
                                         org=str(organisation)))
