"""Helpers every CLI command uses: the runtime, the acting person, and translating domain errors to exit codes."""

from __future__ import annotations

import functools
import sys
from typing import Callable

import click
import sqlalchemy as sa

from govern.bootstrap import bootstrap
from govern.settings import Config
from govern.db import Database
from govern.errors import GovernError
from govern.policy import Actor
from govern.runtime import Runtime
from govern.services.common import load_actor

DEMO_PASSWORD = "govern-demo"


class CommandFailed(click.ClickException):
    """A refused or failed command: the message and details on stderr, a meaningful exit code."""

    def __init__(self, message: str, exit_code: int = 1, details=None):
        super().__init__(message)
        self.exit_code = exit_code
        self.details = details

    def show(self, file=None) -> None:
        out = file or sys.stderr
        click.echo(f"error: {self.message}", file=out)
        if isinstance(self.details, dict):
            # Field paths and plain-words reasons help a person; structured extras (for API clients) would not.
            for key, value in self.details.items():
                if isinstance(value, list):
                    for item in value:
                        if isinstance(item, (str, int, float)):
                            click.echo(f"  {key}: {item}", file=out)
                elif isinstance(value, (str, int, float)) and str(value) not in self.message:
                    click.echo(f"  {key}: {value}", file=out)


def get_runtime(ctx: click.Context | None = None) -> Runtime:
    """The process's runtime, built once per command invocation from the environment."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        config = Config.from_env()
        root.obj = Runtime(config=config, db=bootstrap(Database(config.database_url)))
        root.call_on_close(root.obj.db.dispose)
    return root.obj


def resolve_actor(session, handle: str | None) -> Actor:
    """`--as HANDLE` acts as that person; without it the local operator acts as a system admin."""
    if handle:
        return load_actor(session, handle)
    return Actor.system_actor("cli")


as_option = click.option("--as", "as_handle", metavar="HANDLE",
                         help="Act as this person (their roles and permissions apply). Default: the local operator.")


def translate_errors(fn: Callable) -> Callable:
    """Domain errors and an unreachable database become clear messages and exit codes, never tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GovernError as exc:
            raise CommandFailed(exc.message, exc.exit_code, exc.details) from None
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            behind = _schema_behind()
            if behind:
                raise CommandFailed(behind, 1) from None
            if isinstance(exc, sa.exc.ProgrammingError):
                raise
            raise CommandFailed(f"the database is not reachable ({str(exc.orig).strip()}); "
                                "check GOVERN_DATABASE_URL", 1) from None

    return wrapper


def _schema_behind() -> str | None:
    """What to say when the database's schema is not the one this version needs (None when it is, or is unknown).
    Never suggests a command that could destroy data: `govern db upgrade` backs up a SQLite file first."""
    ctx = click.get_current_context(silent=True)
    runtime = ctx.find_root().obj if ctx else None
    if runtime is None:
        return None
    try:
        current, heads = runtime.db.current_revisions(), runtime.db.head_revisions()
    except Exception:  # noqa: BLE001 - unreachable: the caller says so
        return None
    if current == heads:
        return None
    if not current:
        return "the database has no schema yet: run `govern db upgrade`"
    return (f"the database schema is at revision {', '.join(sorted(current))} and this version needs "
            f"{', '.join(sorted(heads))}: run `govern db upgrade` (a SQLite file is backed up first)")


class GovernGroup(click.Group):
    """A click group whose every command translates domain errors."""

    def invoke(self, ctx: click.Context):
        return translate_errors(super().invoke)(ctx)
