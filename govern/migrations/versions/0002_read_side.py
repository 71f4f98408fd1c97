"""read side: evaluation due as domain state; lifecycle states say what they are

- `opportunity.evaluation_due_at`: written by the lifecycle's `schedule_evaluation` effect (it used to live only in an
  outbox payload, which the agenda read back). Back-filled from those payloads for opportunities still in the state
  the transition led to.
- The applied lifecycle (`lifecycle.current` setting) of a shipped definition gets its states' `kind` and `title`
  from the shipped file; states of any other definition that declare no kind are read as final (when listed under
  `final`) or active, which is what the parser assumes too.

Revision ID: 0002_read_side
Revises: 0003_security, 0008_vocabulary
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib import resources

import sqlalchemy as sa
import yaml
from alembic import op

revision = "0002_read_side"
down_revision = ("0003_security", "0008_vocabulary")  # also merges the two heads main had
branch_labels = None
depends_on = None


def _digest(data) -> str:  # the lifecycle engine's cache key: sha256 of the canonical JSON of the definition
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _shipped(name: str):
    path = resources.files("govern").joinpath("workflows", "definitions", f"{name}.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def upgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evaluation_due_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_opportunity_evaluation_due_at"), ["evaluation_due_at"], unique=False)

    bind = op.get_bind()
    meta = sa.MetaData()
    opportunity = sa.Table("opportunity", meta, autoload_with=bind)
    transition = sa.Table("opportunity_transition", meta, autoload_with=bind)
    outbox = sa.Table("outbox_message", meta, autoload_with=bind)
    setting = sa.Table("setting", meta, autoload_with=bind)

    # Evaluation due dates out of the delivery queue, into the opportunity (latest transition wins).
    # Written as slack/evaluation_due {opportunity, due_at, transition_id} before 0009_notifications, and as
    # notifications/evaluation.due {about: {opportunity}, facts: {due_at, transition_id}} after it.
    rows = bind.execute(sa.select(outbox.c.payload).where(
        sa.or_(sa.and_(outbox.c.topic == "slack", outbox.c.kind == "evaluation_due"),
               sa.and_(outbox.c.topic == "notifications", outbox.c.kind == "evaluation.due")))
        .order_by(outbox.c.id)).all()
    for (payload,) in rows:
        payload = json.loads(payload) if isinstance(payload, str) else (payload or {})
        flat = {**(payload.get("about") or {}), **(payload.get("facts") or {}), **payload}
        try:
            number = int(str(flat["opportunity"]).removeprefix("OPP-"))
            due = dt.datetime.fromisoformat(str(flat["due_at"]).replace("Z", "+00:00"))
            transition_id = int(flat["transition_id"])
        except (KeyError, TypeError, ValueError):
            continue
        due = due.astimezone(dt.timezone.utc).replace(tzinfo=None) if due.tzinfo else due
        entered = bind.execute(sa.select(transition.c.to_state, transition.c.opportunity_id)
                               .where(transition.c.id == transition_id)).first()
        if entered is None:
            continue
        bind.execute(opportunity.update().where(opportunity.c.id == entered.opportunity_id,
                                                opportunity.c.number == number,
                                                opportunity.c.state == entered.to_state)
                     .values(evaluation_due_at=due))

    # State kinds and titles for an applied shipped lifecycle stored before states declared them.
    row = bind.execute(sa.select(setting.c.value).where(setting.c.key == "lifecycle.current")).first()
    value = row[0] if row is not None else None
    value = json.loads(value) if isinstance(value, str) else value
    definition = value.get("definition") if isinstance(value, dict) else None
    if isinstance(definition, dict) and isinstance(definition.get("states"), dict):
        shipped = _shipped(str(definition.get("name"))) or {}
        shipped_states = shipped.get("states") or {}
        changed = False
        for name, body in definition["states"].items():
            body = body if isinstance(body, dict) else {}
            model = shipped_states.get(name) or {}
            for key in ("kind", "title"):
                if key not in body and key in model:
                    body[key] = model[key]
                    changed = True
            definition["states"][name] = body
        if changed:
            value["digest"] = _digest(definition)
            bind.execute(setting.update().where(setting.c.key == "lifecycle.current").values(value=value))


def downgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opportunity_evaluation_due_at"))
        batch_op.drop_column("evaluation_due_at")
