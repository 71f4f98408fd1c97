"""People, council seats, sign-in passwords and personal API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit, notifications
from govern.db import dialect_insert
from govern.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from govern.model import COUNCIL_ROLES, ApiToken, CouncilSeat, Person, SigninThrottle, utcnow
from govern.passwords import dummy_hash, hash_password, verify_password
from govern.policy import Actor, require_not_self, seat_action
from govern.services.common import Seat, get_journey, get_person, require_text

HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "gov_"
# Sign-in throttling: after this many failures in a row for one handle (or one client address) further tries are
# refused, whatever the password, until the lock lapses; a success clears the count.
SIGNIN_FAILURES_PER_HANDLE = 5
SIGNIN_FAILURES_PER_ADDRESS = 50
SIGNIN_LOCK = dt.timedelta(minutes=15)
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
    """Add a person to the organisation (making them an administrator needs person.grant_admin)."""
    actor.require("person.manage")
    if is_admin:
        actor.require("person.grant_admin")
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
    if "is_admin" in changes and bool(changes["is_admin"]) != person.is_admin:
        actor.require("person.grant_admin")
        require_not_self(actor, person.id, "change the administrator flag")
    if "active" in changes and bool(changes["active"]) != person.active:
        require_not_self(actor, person.id, "deactivate or reactivate an account")
        if person.is_admin:
            actor.require("person.grant_admin")  # only an administrator deactivates an administrator
    before = person_snapshot(person)
    for field, value in changes.items():
        setattr(person, field, value)
    after = person_snapshot(person)
    if (before["is_admin"] and not after["is_admin"]) or (before["active"] and not after["active"]):
        end_sessions(person)  # deactivation or loss of a role ends every session
    if before != after:
        audit.record(session, actor, "person.updated", "person", person.handle, before=before, after=after)
    if commit:
        session.commit()
    return person


def seat_member(session: Session, actor: Actor, *, person: str, role: str, journey: str | None = None,
                commit: bool = True) -> CouncilSeat:
    """Seat a person on the council in a role, optionally scoped to a journey (and its subtree).

    Who may grant which seat is in the permission table (`policy.seat_action`); nobody seats themselves."""
    if role not in COUNCIL_ROLES:
        actor.require("council.manage")
        raise InvalidInput(f"unknown council role '{role}' (one of {', '.join(COUNCIL_ROLES)})", {"role": role})
    actor.require(seat_action(role))
    p = get_person(session, person)
    require_not_self(actor, p.id, f"take a {role} seat")
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
    """Remove a seat (needs the right that grants it); the person's sessions end with it."""
    actor.require("council.manage")
    seat = session.get(CouncilSeat, seat_id)
    if seat is None:
        raise NotFound(f"unknown council seat {seat_id}")
    actor.require(seat_action(seat.role))
    end_sessions(seat.person)
    before = {"person": seat.person.handle, "role": seat.role, "journey": seat.journey.key if seat.journey else None}
    session.delete(seat)
    audit.record(session, actor, "council.unseated", "council_seat", seat_id, before=before)
    if commit:
        session.commit()


# --- sign-in and tokens -------------------------------------------------------------------------------------------------


def end_sessions(person: Person) -> None:
    """End every web session of this person (their cookies carry the old session version)."""
    person.session_version = (person.session_version or 1) + 1


def session_is_current(person: Person, version) -> bool:
    """True when a session signed with `version` is still valid for this (active) person."""
    return bool(person.active) and isinstance(version, int) and version == (person.session_version or 1)


def _check_new_password(password) -> None:
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidInput("a password needs at least 8 characters", {"password": "at least 8 characters"})
    if len(password) > 1024:
        raise InvalidInput("a password has at most 1024 characters", {"password": "at most 1024 characters"})


def change_own_password(session: Session, actor: Actor, current_password: str | None, new_password: str, *,
                        commit: bool = True) -> Person:
    """A person changes their own password, proving they know the current one; every other session ends."""
    if actor.person_id is None:
        raise InvalidInput("the local operator has no password; set a person's with --as or as an administrator",
                           {"person": "required"})
    person = session.get(Person, actor.person_id)
    if person is None or not person.active:
        raise Unauthenticated("sign in first")
    if not (person.password_hash and isinstance(current_password, str)
            and verify_password(person.password_hash, current_password)):
        raise PermissionDenied("the current password is wrong (or none is set: ask an administrator to set one)",
                               {"current_password": "wrong or missing"})
    _check_new_password(new_password)
    person.password_hash = hash_password(new_password)
    person.password_reset_required = False
    end_sessions(person)
    audit.record(session, actor, "person.password_changed", "person", person.handle)
    if commit:
        session.commit()
    return person


def set_password(session: Session, actor: Actor, handle: str, password: str, *, current_password: str | None = None,
                 commit: bool = True) -> None:
    """Set a sign-in password.

    Your own: give the current one (`change_own_password`). Someone else's: an administrator's action
    (person.set_password); the person must choose their own at the next sign-in, every session of theirs ends, and
    they are told (a direct message), so a takeover cannot go unnoticed. The local operator (CLI) counts as an
    administrator."""
    person = get_person(session, handle)
    if actor.person_id is not None and actor.person_id == person.id:
        change_own_password(session, actor, current_password, password, commit=commit)
        return
    actor.require("person.set_password")
    _check_new_password(password)
    person.password_hash = hash_password(password)
    person.password_reset_required = not actor.system
    end_sessions(person)
    audit.record(session, actor, "person.password_set", "person", person.handle,
                 after={"reset_required": person.password_reset_required})
    if not actor.system:
        notifications.notify(session, notifications.SIGN_IN_CHANGED, about={"person": person.handle},
                             audience=notifications.Audience(people=(person.handle,)), facts={"by": actor.label},
                             dedupe_key=f"sign-in:{person.handle}:{person.session_version}")
    if commit:
        session.commit()


def _throttle(session: Session, key: str) -> SigninThrottle:
    row = session.scalar(sa.select(SigninThrottle).where(SigninThrottle.key == key))
    if row is None:
        # Two first sign-ins at once (one office address, one person in two browsers) would both insert the key:
        # the insert yields to a row another transaction wrote, so neither sign-in is refused with a conflict.
        session.execute(dialect_insert(session, SigninThrottle.__table__)
                        .values(key=key, failures=0, updated_at=utcnow())
                        .on_conflict_do_nothing(index_elements=["key"]))
        row = session.scalar(sa.select(SigninThrottle).where(SigninThrottle.key == key))
    return row


def authenticate(session: Session, handle_or_email: str, password: str, *, client: str | None = None) -> Person:
    """The active person with these credentials, or Unauthenticated (same message whatever was wrong).

    Throttled: after SIGNIN_FAILURES_PER_HANDLE failures for one handle (or SIGNIN_FAILURES_PER_ADDRESS from one
    client address) every try is refused for SIGNIN_LOCK, even with the right password. A password is always
    checked against a hash (a dummy one for an unknown handle), so a failure takes as long either way. Commits."""
    typed = (handle_or_email or "").strip().lower()[:200]
    keys = [f"handle:{typed}"] + ([f"address:{client[:80]}"] if client else [])
    now = utcnow()
    throttles = [_throttle(session, key) for key in keys]
    person = session.scalar(sa.select(Person).where(
        sa.or_(Person.handle == typed, sa.func.lower(Person.email) == typed))) if typed else None
    matches = verify_password(person.password_hash if person and person.password_hash else dummy_hash(),
                                  password or "")
    locked = [t for t in throttles if t.locked_until is not None and t.locked_until > now]
    if locked:
        session.commit()
        minutes = max(1, int((max(t.locked_until for t in locked) - now).total_seconds() // 60) + 1)
        raise Unauthenticated(f"too many failed sign-ins; try again in {minutes} minute(s)",
                              {"retry_after": minutes * 60, "reason": "locked"})
    ok = bool(person and person.active and person.password_hash and matches)
    if not ok:
        for t, limit in zip(throttles, (SIGNIN_FAILURES_PER_HANDLE, SIGNIN_FAILURES_PER_ADDRESS)):
            t.failures = (t.failures or 0) + 1
            t.updated_at = now
            if t.failures >= limit:
                t.locked_until = now + SIGNIN_LOCK
                t.failures = 0
        session.commit()
        raise Unauthenticated("unknown user or wrong password")
    throttles[0].failures = 0
    throttles[0].locked_until = None
    session.commit()
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


def sign_out(session: Session, actor: Actor) -> None:
    """Sign out everywhere: every web session of this person ends (API tokens stay until revoked)."""
    if actor.person_id is None:
        return
    person = session.get(Person, actor.person_id)
    if person is not None:
        end_sessions(person)
        audit.record(session, actor, "person.signed_out", "person", person.handle)
        session.commit()


def person_for_token(session: Session, secret: str) -> tuple[Person, list[Seat]]:
    """The person behind a bearer token and their council seats, read in one statement (the seats through an outer
    join, so that loading the caller's actor needs no statement of its own for them); records the token's last use."""
    rows = session.execute(
        sa.select(ApiToken, Person, CouncilSeat.role, CouncilSeat.journey_id)
        .join(Person, Person.id == ApiToken.person_id)
        .outerjoin(CouncilSeat, CouncilSeat.person_id == Person.id)
        .where(ApiToken.token_hash == _hash_token(secret or "")).order_by(CouncilSeat.id)).all()
    token, person = (rows[0][0], rows[0][1]) if rows else (None, None)
    if token is None or token.revoked_at is not None or not person.active:
        raise Unauthenticated("invalid or revoked API token")
    now = utcnow()
    # Recorded at most once a minute, so that reads do not turn every API call into a write.
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()
    return person, [(role, journey_id) for _, _, role, journey_id in rows if role is not None]


def list_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    return list(session.scalars(sa.select(ApiToken).where(ApiToken.person_id == actor.person_id)
                                .order_by(ApiToken.id)))
