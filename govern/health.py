"""What operators and their tools poll: liveness (`/healthz`), readiness (`/readyz`) and Prometheus `/metrics`,
plus the request timing behind the latency histogram."""

from __future__ import annotations

import hmac
import logging
import time

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, jsonify, request

from govern import __version__, telemetry
from govern.model import utcnow

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def _runtime():
    return current_app.extensions["govern"]


def _database_answers(runtime) -> bool:
    try:
        with runtime.db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception as exc:  # noqa: BLE001 - health reports any failure as a status
        log.warning("health check: database unavailable: %s", type(exc).__name__)
        return False


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers and reaches its database; which integrations are on."""
    runtime = _runtime()
    ok = _database_answers(runtime)
    body = {"status": "ok" if ok else "degraded", "version": __version__, "database": "ok" if ok else "unavailable",
            "integrations": {name: ("enabled" if adapter else "disabled")
                             for name, adapter in runtime.adapters.items()}}
    return jsonify(body), 200 if ok else 503


@bp.get("/readyz")
def readyz():
    """Readiness: the database answers and its schema is at the newest migration this code knows (else 503)."""
    runtime = _runtime()
    checks: dict[str, str] = {}
    if not _database_answers(runtime):
        checks["database"] = "unavailable"
        checks["migrations"] = "unknown"
    else:
        checks["database"] = "ok"
        try:
            current, heads = runtime.db.current_revisions(), runtime.db.head_revisions()
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            log.warning("readiness check: cannot read the schema revision: %s", type(exc).__name__)
            current, heads = set(), {"?"}
        checks["migrations"] = ("ok" if current == heads else
                                f"schema at {', '.join(sorted(current)) or 'nothing'}, code expects "
                                f"{', '.join(sorted(heads))}: run `govern db upgrade`")
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503


# --- metrics ----------------------------------------------------------------------------------------------------------


@bp.record_once
def _count_business_events(_state) -> None:
    telemetry.install()


@bp.before_app_request
def _start_timer() -> None:
    g.govern_request_started = time.perf_counter()


@bp.after_app_request
def _observe(response):
    started = g.pop("govern_request_started", None)
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        telemetry.request_done(request.method, route, response.status_code, time.perf_counter() - started)
    return response


@bp.get("/metrics")
def metrics():
    """Prometheus metrics; with GOVERN_METRICS_TOKEN set, only for `Authorization: Bearer <that token>`."""
    runtime = _runtime()
    token = runtime.config.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return jsonify({"error": {"code": "unauthenticated", "message": "metrics need the metrics token "
                                      "(Authorization: Bearer …)", "details": None}}), 401
    body, content_type = telemetry.exposition(runtime.db.session, utcnow)
    return Response(body, content_type=content_type)
