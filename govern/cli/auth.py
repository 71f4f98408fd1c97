"""CLI for people's sign-in: passwords and personal API tokens.

    govern user set-password HANDLE            (prompts twice; or --password-stdin)
    govern token create --as HANDLE NAME       (prints the secret once)
    govern token list [--as HANDLE]            (without --as, the local operator sees every token)
    govern token revoke ID [--as HANDLE]
"""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa

from govern.cli.support import CommandFailed, GovernGroup, as_option, get_runtime, resolve_actor
from govern.model import ApiToken
from govern.services import people as people_service


@click.group(cls=GovernGroup)
def token():
    """Personal API tokens (use one as 'Authorization: Bearer <secret>')."""


@click.group(cls=GovernGroup)
def user():
    """Sign-in accounts."""


@user.command("set-password")
@click.argument("handle")
@as_option
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def set_password(handle: str, as_handle: str | None, password_stdin: bool):
    """Set HANDLE's sign-in password: as the local operator or an administrator (HANDLE must then choose their own at
    the next sign-in, unless set by the local operator), or your own with --as HANDLE (asks for the current one; with
    --password-stdin, the current password is the first line and the new one the second)."""
    own = bool(as_handle) and as_handle == handle
    current = None
    if password_stdin:
        if own:
            current = sys.stdin.readline().rstrip("\r\n")
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if own:
            current = click.prompt(f"Current password for {handle}", hide_input=True)
        password = click.prompt(f"New password for {handle}", hide_input=True, confirmation_prompt=True)
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        people_service.set_password(session, actor, handle, password, current_password=current)
    click.echo(f"password set for {handle}")


@token.command("create")
@click.argument("name")
@as_option
def create_token(name: str, as_handle: str | None):
    """Create a personal API token called NAME for the person given with --as; prints the secret once."""
    if not as_handle:
        raise CommandFailed("a token belongs to a person: say whose with --as HANDLE", 2)
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        issued = people_service.create_token(session, actor, name)
        click.echo(f"token {issued.token.id} '{issued.token.name}' for {actor.handle} (prefix {issued.token.prefix})",
                   err=True)
        click.echo("store this secret now; it is not shown again:", err=True)
        click.echo(issued.secret)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


@token.command("list")
@as_option
def list_tokens(as_handle: str | None):
    """List tokens: yours with --as, every token for the local operator (never the secrets)."""
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        if actor.system:
            tokens = list(session.scalars(sa.select(ApiToken).order_by(ApiToken.id)))
        else:
            tokens = people_service.list_tokens(session, actor)
        if not tokens:
            click.echo("no tokens")
            return
        click.echo(f"{'id':>4}  {'person':<10} {'name':<24} {'prefix':<12} {'created':<20} {'last used':<20} status")
        for t in tokens:
            status = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
            click.echo(f"{t.id:>4}  {t.person.handle:<10} {t.name[:24]:<24} {t.prefix:<12} {_when(t.created_at):<20} "
                       f"{_when(t.last_used_at):<20} {status}")


@token.command("revoke")
@click.argument("token_id", type=int)
@as_option
def revoke_token(token_id: int, as_handle: str | None):
    """Revoke token TOKEN_ID (yours, or anyone's for those who manage people and the local operator)."""
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        revoked = people_service.revoke_token(session, actor, token_id)
        click.echo(f"token {revoked.id} '{revoked.name}' revoked at {_when(revoked.revoked_at)}")
