"""Who you are, and your personal API tokens (the secret is shown once, stored hashed, revocable)."""

from __future__ import annotations

import sqlalchemy as sa

from govern.http.openapi import Blueprint
from govern.http.request import current_actor, db_session
from govern.api.schemas import IssuedTokenSchema, MeSchema, TokenCreateSchema, TokenSchema
from govern.model import Journey, Person
from govern.policy import ACTIONS
from govern.services import people as people_service

blp = Blueprint("identity", __name__, url_prefix=None, description="Who you are and your personal API tokens")


@blp.route("/me")
@blp.response(200, MeSchema)
@blp.errors()
def whoami():
    """The signed-in person, the roles they hold and which journeys each scoped role covers."""
    actor = current_actor()
    session = db_session()
    keys = dict(session.execute(sa.select(Journey.id, Journey.key)).all())
    return {
        "person": session.get(Person, actor.person_id) if actor.person_id else None,
        "handle": actor.handle,
        "roles": sorted(actor.roles),
        "scopes": {role: sorted(keys[j] for j in ids if j in keys) for role, ids in sorted(actor.scopes.items())},
        "may": [action for action, (_desc, grants) in ACTIONS.items() if actor.roles & set(grants)],
    }


@blp.route("/tokens")
@blp.response(200, TokenSchema(many=True))
@blp.errors()
def list_tokens():
    """Your tokens: name, prefix, created, last used, revoked (never the secret)."""
    actor = current_actor()
    actor.require("token.manage_own")
    return people_service.list_tokens(db_session(), actor)


@blp.route("/tokens", methods=["POST"])
@blp.arguments(TokenCreateSchema)
@blp.response(201, IssuedTokenSchema)
@blp.errors(403, 422)
def create_token(data):
    """Issue a personal token; the answer holds the secret, once. Use it as 'Authorization: Bearer <secret>'."""
    issued = people_service.create_token(db_session(), current_actor(), data["name"])
    token = issued.token
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "created_at": token.created_at,
            "last_used_at": token.last_used_at, "revoked_at": token.revoked_at, "secret": issued.secret}


@blp.route("/tokens/<id:token_id>", methods=["DELETE"])
@blp.response(200, TokenSchema)
@blp.errors(404)
def revoke_token(token_id: int):
    """Revoke one of your tokens (those who manage people may revoke anyone's). Revoking twice is harmless."""
    return people_service.revoke_token(db_session(), current_actor(), token_id)
