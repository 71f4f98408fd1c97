"""People, council seats, sign-in passwords and personal API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from govern.model import COUNCIL_ROLES, ApiToken, CouncilSeat, Person, utcnow
from govern.passwords import hash_password, verify_password
from govern.policy import Actor
from govern.services.common import get_journey, get_person, require_text

HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "gov_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def person_snapshot(p: Person) -> dict:
    return {"handle": p.handle, "name": p.name, "email": p.email, "slack_id": p.slack_id, "title": p.title,
            "department": p.department, "is_admin": p.is_admin, "active": p.active}


def _check_person_fields(handle: str | None, email: str | None) -> None:
    errors = {}
    if handle is not None and not HANDLE.match(handle):
        errors["handle"] = "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
    if email and not EMAIL.match(email):
        errors["email"] = f"not an e-mail address: '{email}'"
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)


def create_person(session: Session, actor: Actor, *, handle: str, name: str, email: str | None = None,
                  slack_id: str | None = None, title: str | None = None, department: str | None = None,
                  is_admin: bool = False, commit: bool = True) -> Person:
    """Add a person to the organisation."""
    actor.require("person.manage")
    name = require_text(name, "name", max_len=200)
    _check_person_fields(handle, email)
    if session.scalar(sa.select(Person.id).where(Person.handle == handle)):
        raise Conflict(f"a person with handle '{handle}' already exists", {"handle": "taken"})
    if email and session.scalar(sa.select(Person.id).where(Person.email == email)):
        raise Conflict(f"a person with e-mail '{email}' already exists", {"email": "taken"})
    person = Person(handle=handle, name=name, email=email, slack_id=slack_id, title=title,
                    department=department, is_admin=is_admin)
    session.add(person)
    session.flush()
    audit.record(session, actor, "person.created", "person", handle, after=person_snapshot(person))
    if commit:
        session.commit()
    return person


def update_person(session: Session, actor: Actor, handle: str, *, commit: bool = True, **changes) -> Person:
    """Change a person's name, e-mail, Slack ID, title, department, admin flag or active flag."""
    actor.require("person.manage")
    person = get_person(session, handle)
    allowed = {"name", "email", "slack_id", "title", "department", "is_admin", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}", {k: "unknown field" for k in unknown})
    _check_person_fields(None, changes.get("email"))
    before = person_snapshot(person)
    for field, value in changes.items():
        setattr(person, field, value)
    after = person_snapshot(person)
    if before != after:
        audit.record(session, actor, "person.updated", "person", person.handle, before=before, after=after)
    if commit:
        session.commit()
    return person


def seat_member(session: Session, actor: Actor, *, person: str, role: str, journey: str | None = None,
                commit: bool = True) -> CouncilSeat:
    """Seat a person on the council in a role, optionally scoped to a journey (and its subtree)."""
    actor.require("council.manage")
    if role not in COUNCIL_ROLES:
        raise InvalidInput(f"unknown council role '{role}' (one of {', '.join(COUNCIL_ROLES)})", {"role": role})
    p = get_person(session, person)
    j = get_journey(session, journey) if journey else None
    exists = session.scalar(sa.select(CouncilSeat).where(
        CouncilSeat.person_id == p.id, CouncilSeat.role == role,
        CouncilSeat.journey_id.is_(None) if j is None else CouncilSeat.journey_id == j.id))
    if exists:
        raise Conflict(f"{p.handle} already holds the {role} seat" + (f" for {j.key}" if j else ""))
    seat = CouncilSeat(person_id=p.id, role=role, journey_id=j.id if j else None)
    session.add(seat)
    session.flush()
    audit.record(session, actor, "council.seated", "council_seat", seat.id,
                 after={"person": p.handle, "role": role, "journey": j.key if j else None})
    if commit:
        session.commit()
    return seat


def unseat_member(session: Session, actor: Actor, seat_id: int, *, commit: bool = True) -> None:
    actor.require("council.manage")
    seat = session.get(CouncilSeat, seat_id)
    if seat is None:
        raise NotFound(f"unknown council seat {seat_id}")
    before = {"person": seat.person.handle, "role": seat.role, "journey": seat.journey.key if seat.journey else None}
    session.delete(seat)
    audit.record(session, actor, "council.unseated", "council_seat", seat_id, before=before)
    if commit:
        session.commit()


# --- sign-in and tokens -------------------------------------------------------------------------------------------------


def set_password(session: Session, actor: Actor, handle: str, password: str, *, commit: bool = True) -> None:
    """Set a person's sign-in password (their own, or anyone's for those who manage people)."""
    person = get_person(session, handle)
    if actor.person_id != person.id:
        actor.require("person.manage")
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidInput("a password needs at least 8 characters", {"password": "at least 8 characters"})
    person.password_hash = hash_password(password)
    audit.record(session, actor, "person.password_set", "person", person.handle)
    if commit:
        session.commit()


def authenticate(session: Session, handle_or_email: str, password: str) -> Person:
    """The active person with these credentials, or Unauthenticated (same message whatever was wrong)."""
    person = session.scalar(sa.select(Person).where(
        sa.or_(Person.handle == handle_or_email, sa.func.lower(Person.email) == (handle_or_email or "").lower())))
    ok = bool(person and person.active and person.password_hash
              and verify_password(person.password_hash, password or ""))
    if not ok:
        raise Unauthenticated("unknown user or wrong password")
    return person


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(session: Session, actor: Actor, name: str) -> IssuedToken:
    """Issue a personal API token for the acting person; the secret is returned once and stored only as a hash."""
    actor.require("token.manage_own")
    if actor.person_id is None:
        raise InvalidInput("API tokens belong to a person; act as one (--as HANDLE)", {"person": "required"})
    name = require_text(name, "name", max_len=100)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(person_id=actor.person_id, name=name, prefix=secret[:10], token_hash=_hash_token(secret))
    session.add(token)
    session.flush()
    audit.record(session, actor, "token.created", "api_token", token.id, after={"name": name, "prefix": token.prefix})
    session.commit()
    return IssuedToken(token, secret)


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.person_id != actor.person_id and not actor.can("person.manage")):
        raise NotFound(f"unknown token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor, "token.revoked", "api_token", token.id, after={"name": token.name})
    session.commit()
    return token


def person_for_token(session: Session, secret: str) -> Person:
    """The person behind a bearer token; records its last use."""
    token = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _hash_token(secret or "")))
    if token is None or token.revoked_at is not None or not token.person.active:
        raise Unauthenticated("invalid or revoked API token")
    now = utcnow()
    # Recorded at most once a minute, so that reads do not turn every API call into a write.
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()
    return token.person


def list_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    return list(session.scalars(sa.select(ApiToken).where(ApiToken.person_id == actor.person_id)
                                .order_by(ApiToken.id)))
