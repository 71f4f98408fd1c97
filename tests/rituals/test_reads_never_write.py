"""Reads never write: every GET route of the web app and the API, signed in as each role (and anonymous), leaves the
database as it was — the audit chain's head and the row count of every table. Run on SQLite and PostgreSQL
(GOVERN_TEST_DATABASE=postgresql)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from govern.model import AuditEvent, Base, RitualOccurrence
from govern.services.common import load_actor
from govern.services.people import create_token
from tests.conftest import actor
from tests.web.conftest import WebClient

ROLES = {"lead": "ana", "manager": "marco", "coordinator": "lotte", "supporter": "priya", "anonymous": None}
SKIP = re.compile(r"^/static|/vendor/|stream|/events$|^/metrics$|/logout")


def _snapshot(db) -> dict:
    with db.session_scope() as s:
        head = s.execute(sa.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
        counts = {t.name: s.scalar(sa.select(sa.func.count()).select_from(t))
                  for t in Base.metadata.sorted_tables}
    return {"audit_head": tuple(head) if head else None, "rows": counts}


def _examples(db) -> dict[str, str]:
    """Real keys of the example organisation for path parameters, and a recorded occurrence and feed to open."""
    from govern.rituals.cadence import iter_occurrences
    from govern.rituals.services import (
        create_calendar_token,
        ensure_occurrence,
        get_ritual,
        iso,
    )

    with db.session_scope() as s:
        ritual = get_ritual(s, "weekly-council-review")
        past = next(iter_occurrences(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                     dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=15)))
        recorded = ensure_occurrence(s, ritual, past)
        s.commit()
        feed = create_calendar_token(s, actor(s, "ana"), ritual="weekly-council-review")
        unrecorded = past + dt.timedelta(days=7)
        return {"occurrence": str(recorded.id), "feed": feed.secret, "when": iso(unrecorded)}


def _fill(rule, examples: dict[str, str]) -> str:
    path = rule.rule
    for arg in sorted(rule.arguments):
        if arg in ("key",):
            if "/rituals" in path:
                value = "weekly-council-review"
            elif "/kpis" in path:
                value = "porting-csat"
            elif "/personas" in path:
                value = "switcher"
            else:
                value = "switching-providers"
        elif arg in ("ref", "opportunity", "number"):
            value = "OPP-1"
        elif arg == "when":
            value = examples["when"]
        elif arg == "token":
            value = examples["feed"]
        elif "occurrence" in arg:
            value = examples["occurrence"]
        elif arg in ("handle", "person"):
            value = "lotte"
        else:
            value = "1"
        path = re.sub(r"<(?:[^:<>]+:)?" + re.escape(arg) + r">", value, path)
    return path


def _get_routes(app) -> list:
    return [r for r in app.url_map.iter_rules()
            if "GET" in r.methods and not SKIP.search(r.rule) and r.endpoint != "static"]


@pytest.mark.parametrize("role", list(ROLES))
def test_no_get_route_writes_anything(example_app, example_db, role):
    examples = _examples(example_db)
    handle = ROLES[role]
    web = WebClient(example_app.test_client())
    api = example_app.test_client()
    headers = {}
    if handle:
        web.sign_in(handle)
        with example_db.session_scope() as s:
            headers = {"Authorization": f"Bearer {create_token(s, load_actor(s, handle), 'sweep').secret}"}
    before = _snapshot(example_db)
    seen = []
    for rule in _get_routes(example_app):
        path = _fill(rule, examples)
        client_get = (lambda p: api.get(p, headers=headers)) if rule.rule.startswith("/api/") else web.get
        response = client_get(path)
        seen.append((path, response.status_code))
        assert response.status_code < 500, (path, response.get_data(as_text=True)[:500])
        after = _snapshot(example_db)
        assert after == before, f"GET {path} as {role} wrote to the database: " + str(
            {k: (before["rows"][k], v) for k, v in after["rows"].items() if before["rows"][k] != v}
            or {"audit_head": (before["audit_head"], after["audit_head"])})
    assert len(seen) > 40  # the sweep really covered the app
    # an unrecorded past occurrence was opened and stays unrecorded
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(RitualOccurrence)) == before["rows"]["ritual_occurrence"]
