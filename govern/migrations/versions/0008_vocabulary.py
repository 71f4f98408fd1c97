"""vocabulary: checklist ticks, insight redaction, and an audit chain over payload digests

The audit chain used to hash each event's payload itself, so erasing personal data from a payload broke it. From
this revision the chain covers a digest of the payload. Existing chains are re-sealed here, carefully: the old chain
is verified first with the old rule (an upgrade never seals over tampering: a broken chain stops the upgrade and
says where), then every event gets its payload digest and a hash under the new rule, in order. Downgrading does the
reverse, and is refused once a payload has been erased (the old rule cannot verify it).

Revision ID: 0008_vocabulary
Revises: 0009_notifications
"""
from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0008_vocabulary"
down_revision = "0009_notifications"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BATCH = 2000

_events = sa.table(
    "audit_event",
    sa.column("id", sa.Integer), sa.column("at", sa.DateTime), sa.column("actor", sa.String),
    sa.column("action", sa.String), sa.column("entity_type", sa.String), sa.column("entity_id", sa.String),
    sa.column("before", sa.JSON), sa.column("after", sa.JSON), sa.column("reason", sa.Text),
    sa.column("prev_hash", sa.String), sa.column("hash", sa.String), sa.column("payload_digest", sa.String),
    sa.column("redacted_at", sa.DateTime),
)


def _hash(body) -> str:
    # Frozen copies of govern.audit's rules at this revision: a migration must not change when the code does.
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


def _header(row) -> dict:
    return {"id": row.id, "at": row.at.isoformat(timespec="microseconds"), "actor": row.actor, "action": row.action,
            "entity_type": row.entity_type, "entity_id": row.entity_id}


def _old_hash(row, prev_hash: str) -> str:
    return _hash({**_header(row), "before": row.before, "after": row.after, "reason": row.reason,
                  "prev_hash": prev_hash})


def _payload_digest(row) -> str:
    return _hash({"before": row.before, "after": row.after, "reason": row.reason})


def _new_hash(row, payload_digest: str, prev_hash: str) -> str:
    return _hash({**_header(row), "payload_digest": payload_digest, "prev_hash": prev_hash})


def _rows(bind, after_id: int):
    return bind.execute(sa.select(_events).where(_events.c.id > after_id).order_by(_events.c.id).limit(BATCH)).all()


def _reseal(bind, *, to_digests: bool) -> None:
    """Verify the chain under the rule it has now and re-seal it under the other, batch by batch, in id order."""
    old_prev, new_prev, last_id = GENESIS, GENESIS, 0
    while rows := _rows(bind, last_id):
        updates = []
        for row in rows:
            if row.id != last_id + 1:
                raise RuntimeError(f"audit chain: events {last_id + 1}..{row.id - 1} are missing; run "
                                   "`govern audit verify` and resolve it before upgrading (nothing was changed)")
            if to_digests:
                ok = row.prev_hash == old_prev and _old_hash(row, old_prev) == row.hash
            else:
                if row.redacted_at is not None:
                    raise RuntimeError(f"audit chain: event {row.id} has an erased payload, which the older rule "
                                       "cannot verify; this database cannot be downgraded below 0008_vocabulary")
                ok = row.prev_hash == old_prev and _new_hash(row, _payload_digest(row), old_prev) == row.hash
            if not ok:
                raise RuntimeError(f"audit chain: event {row.id} does not match its hash or link; run "
                                   "`govern audit verify` and resolve it first (nothing was changed)")
            old_prev = row.hash
            if to_digests:
                digest = _payload_digest(row)
                new_hash = _new_hash(row, digest, new_prev)
            else:
                digest, new_hash = None, _old_hash(row, new_prev)
            updates.append({"row_id": row.id, "prev": new_prev, "h": new_hash, "d": digest})
            new_prev, last_id = new_hash, row.id
        bind.execute(_events.update().where(_events.c.id == sa.bindparam("row_id"))
                     .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("h"),
                             payload_digest=sa.bindparam("d")), updates)


def upgrade() -> None:
    op.create_table(
        "checklist_tick",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("ticked_by_id", sa.Integer(), nullable=True),
        sa.Column("ticked_at", sa.DateTime(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["opportunity_id"], ["opportunity.id"],
                                name=op.f("fk_checklist_tick_opportunity_id_opportunity"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticked_by_id"], ["person.id"], name=op.f("fk_checklist_tick_ticked_by_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_tick")),
        sa.UniqueConstraint("opportunity_id", "check", name=op.f("uq_checklist_tick_opportunity_id_check")),
    )
    op.create_index(op.f("ix_checklist_tick_opportunity_id"), "checklist_tick", ["opportunity_id"], unique=False)
    with op.batch_alter_table("insight") as batch:
        batch.add_column(sa.Column("redacted_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("redacted_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("redacted_reason", sa.Text(), nullable=True))
        batch.create_foreign_key(op.f("fk_insight_redacted_by_id_person"), "person", ["redacted_by_id"], ["id"])
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("payload_digest", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("redacted_at", sa.DateTime(), nullable=True))
    _reseal(op.get_bind(), to_digests=True)


def downgrade() -> None:
    _reseal(op.get_bind(), to_digests=False)
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("redacted_at")
        batch.drop_column("payload_digest")
    with op.batch_alter_table("insight") as batch:
        batch.drop_constraint(op.f("fk_insight_redacted_by_id_person"), type_="foreignkey")
        batch.drop_column("redacted_reason")
        batch.drop_column("redacted_by_id")
        batch.drop_column("redacted_at")
    op.drop_index(op.f("ix_checklist_tick_opportunity_id"), table_name="checklist_tick")
    op.drop_table("checklist_tick")
