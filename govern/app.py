"""The Flask app factory: composition of the core, the API, the web UI and the integration endpoints."""

from __future__ import annotations

import datetime as dt
import importlib
import logging

from flask import Flask
from flask_smorest import Api

from govern import __version__, passwords
from govern.http.errors import install_error_handlers
from govern.http.request import close_session
from govern.settings import Config
from govern.bootstrap import bootstrap
from govern.db import Database
from govern.http.security import install as install_security
from govern.runtime import Runtime

log = logging.getLogger(__name__)

# (module, attribute) of every flask-smorest blueprint mounted under /api/v1.
API_BLUEPRINTS = [
    ("govern.api.journeys", "blp"),
    ("govern.api.opportunities", "blp"),
    ("govern.api.people", "blp"),
    ("govern.api.council", "blp"),
    ("govern.api.personas", "blp"),
    ("govern.api.evidence", "blp"),
    ("govern.api.triage", "blp"),
    ("govern.api.intake", "blp"),
    ("govern.api.approvals", "blp"),
    ("govern.api.audit", "blp"),
    ("govern.api.outbox", "blp"),
    ("govern.api.tokens", "blp"),
    ("govern.api.config", "blp"),
    ("govern.api.integrations", "blp"),
    ("govern.api.measurement", "blp"),
    ("govern.rituals.api", "blp"),
]
# (module, attribute) of plain Flask blueprints: the web UI, Slack and Jira endpoints, calendars, the playbook.
WEB_BLUEPRINTS = [
    ("govern.health", "bp"),
    ("govern.web", "bp"),
    ("govern.integrations.slack.views", "bp"),
    ("govern.integrations.jira.webhook", "bp"),
    ("govern.api.intake", "webhook_bp"),
    ("govern.rituals.api", "calendar_bp"),
    ("govern.playbook.views", "bp"),
]


def _load(module: str, attr: str):
    """The blueprints and adapters are named as data so that the composition is visible in one place."""
    return getattr(importlib.import_module(module), attr)


def build_adapters(config: Config) -> dict:
    """Integration adapters, built only when configured; unset integrations are disabled, visibly."""
    adapters: dict = {}
    for name, module, enabled in (("jira", "govern.integrations.jira.adapter", config.jira_enabled),
                                  ("slack", "govern.integrations.slack.adapter", config.slack_enabled)):
        adapters[name] = _load(module, "build")(config) if enabled else None
        if adapters[name] is None:
            log.info("%s integration disabled (not configured)", name)
    return adapters


def create_app(config: Config | None = None, *, db: Database | None = None) -> Flask:
    """Build the WSGI app. Nothing connects to anything until a request needs it."""
    config = config or Config.from_env()
    if config.password_hash_cost is not None:
        passwords.use_cost(config.password_hash_cost)
    app = Flask("govern", instance_path=str(config.instance_path.resolve()), instance_relative_config=False,
                template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.cookies_secure,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        TESTING=config.testing,
        API_TITLE="Journey ops engine API",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",  # /api/docs is served by govern.http.security (no CDN, no inline script)
        JSON_SORT_KEYS=False,
    )
    runtime = Runtime(config=config, db=bootstrap(db or Database(config.database_url)), adapters=build_adapters(config))
    app.extensions["govern"] = runtime
    app.teardown_appcontext(close_session)
    install_security(app, config)
    install_error_handlers(app)

    api = Api(app, spec_kwargs={
        "info": {"description": "Journeys, evidence, opportunities, approvals, rituals and the audit trail."},
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearerAuth": []}],
    })
    app.extensions["govern.api"] = api
    for module, attr in API_BLUEPRINTS:
        blueprint = _load(module, attr)
        api.register_blueprint(blueprint, url_prefix=f"/api/v1{blueprint.url_prefix or ''}")
    for module, attr in WEB_BLUEPRINTS:
        app.register_blueprint(_load(module, attr))

    return app
