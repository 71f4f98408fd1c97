"""Configuration, read from the environment only when an app or command starts (never at import)."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path


def default_instance_path() -> Path:
    return Path(os.environ.get("GOVERN_INSTANCE_PATH", Path.cwd() / "instance"))


@dataclass(frozen=True)
class Config:
    """Everything the app, CLI and workers need to start. Secrets are kept out of repr."""

    database_url: str
    instance_path: Path
    secret_key: str = field(repr=False, default="")
    base_url: str = "http://127.0.0.1:5000"
    jira_url: str | None = None
    jira_user: str | None = None
    jira_token: str | None = field(repr=False, default=None)
    jira_webhook_secret: str | None = field(repr=False, default=None)
    slack_bot_token: str | None = field(repr=False, default=None)
    slack_signing_secret: str | None = field(repr=False, default=None)
    slack_api_url: str | None = None
    run_scheduler: bool = True
    run_worker: bool = True
    testing: bool = False
    session_cookie_secure: bool = False
    metrics_token: str | None = field(repr=False, default=None)
    # Strict-Transport-Security max-age in seconds (0: not sent). Set it once the site is served over https only.
    hsts_max_age: int = 0
    # Request bodies larger than this are refused (413) before anything reads them.
    max_content_length: int = 4 * 1024 * 1024
    # How long one Jira call may take before it counts as failed, and how often the reconciler looks for solutions
    # missing from Jira and pulls changes (seconds).
    jira_timeout: float = 10.0
    jira_push_every: float = 60.0
    jira_pull_every: float = 300.0
    # Uploaded evidence imports (CLI, API, web) larger than this are refused with a clear message.
    max_import_bytes: int = 50 * 1024 * 1024
    # The evidence sources' webhook secrets (govern.yaml `sources[].secret_env` names one of these variables):
    # every GOVERN_…_SECRET variable set, except the Jira and Slack secrets, which are never reused.
    intake_secrets: dict[str, str] = field(repr=False, default_factory=dict, hash=False, compare=False)

    def intake_secret(self, variable: str | None) -> str | None:
        """The webhook secret held by the environment variable `variable` (None: unset, the feed is disabled)."""
        return self.intake_secrets.get(variable) if variable else None
    # After a create whose answer was lost (a timeout, a connection dropped after sending), how long to wait before
    # the search that decides whether it landed: longer than Jira's search index lag (seconds).
    jira_settle_seconds: float = 60.0
    # How often the ritual scheduler in a web process looks for rituals due (seconds).
    scheduler_tick_seconds: float = 30.0
    # The scrypt (N, r, p) of new password hashes. None (always, outside tests) keeps govern.passwords' production
    # default; the test configuration sets a cheap cost so that signing in is not the slowest part of the suite. Not
    # read from the environment on purpose.
    password_hash_cost: tuple[int, int, int] | None = None

    @property
    def cookies_secure(self) -> bool:
        """Cookies are marked Secure when asked, and always when the site's base URL is https."""
        return self.session_cookie_secure or self.base_url.lower().startswith("https://")

    @property
    def jira_enabled(self) -> bool:
        return bool(self.jira_url and self.jira_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Config":
        """Build the configuration from GOVERN_* variables; the SQLite file in the instance folder is the default."""
        env = os.environ if environ is None else environ
        instance = Path(env.get("GOVERN_INSTANCE_PATH", str(Path.cwd() / "instance")))
        url = env.get("GOVERN_DATABASE_URL") or f"sqlite:///{instance / 'govern.db'}"
        return cls(
            database_url=normalise_database_url(url),
            instance_path=instance,
            secret_key=env.get("GOVERN_SECRET_KEY") or _instance_secret(instance),
            base_url=env.get("GOVERN_BASE_URL", "http://127.0.0.1:5000"),
            jira_url=env.get("GOVERN_JIRA_URL") or None,
            jira_user=env.get("GOVERN_JIRA_USER") or None,
            jira_token=env.get("GOVERN_JIRA_TOKEN") or None,
            jira_webhook_secret=env.get("GOVERN_JIRA_WEBHOOK_SECRET") or None,
            slack_bot_token=env.get("GOVERN_SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("GOVERN_SLACK_SIGNING_SECRET") or None,
            slack_api_url=env.get("GOVERN_SLACK_API_URL") or None,
            run_scheduler=env.get("GOVERN_RUN_SCHEDULER", "1") not in ("0", "false", "no"),
            run_worker=env.get("GOVERN_RUN_WORKER", "1") not in ("0", "false", "no"),
            session_cookie_secure=env.get("GOVERN_SECURE_COOKIES", "0") in ("1", "true", "yes"),
            metrics_token=env.get("GOVERN_METRICS_TOKEN") or None,
            hsts_max_age=_whole_number(env, "GOVERN_HSTS_MAX_AGE", 0),
            max_content_length=_whole_number(env, "GOVERN_MAX_CONTENT_LENGTH", 4 * 1024 * 1024),
            jira_timeout=_seconds(env, "GOVERN_JIRA_TIMEOUT", 10.0),
            jira_push_every=_seconds(env, "GOVERN_JIRA_PUSH_EVERY", 60.0),
            jira_pull_every=_seconds(env, "GOVERN_JIRA_PULL_EVERY", 300.0),
            max_import_bytes=_whole_number(env, "GOVERN_MAX_IMPORT_BYTES", 50 * 1024 * 1024),
            intake_secrets={name: value for name, value in env.items()
                            if INTAKE_SECRET_NAME.match(name) and name not in RESERVED_SECRETS and value},
            jira_settle_seconds=_seconds(env, "GOVERN_JIRA_SETTLE_SECONDS", 60.0),
            scheduler_tick_seconds=_seconds(env, "GOVERN_SCHEDULER_TICK", 30.0),
        )


# The names an evidence source's `secret_env` may take (checked by govern.yaml's schema too).
INTAKE_SECRET_NAME = re.compile(r"^GOVERN_[A-Z0-9_]+_SECRET$")
RESERVED_SECRETS = frozenset({"GOVERN_JIRA_WEBHOOK_SECRET", "GOVERN_SLACK_SIGNING_SECRET"})


def _whole_number(env, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


def _seconds(env, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _instance_secret(instance: Path) -> str:
    """A development secret kept in the instance folder so sessions survive restarts; set GOVERN_SECRET_KEY in production."""
    path = instance / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        instance.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
