"""security: approvers fixed at request time, revocable sessions, forced password reset, sign-in throttling and
replay protection for signed inbound requests (Slack, Jira)

Revision ID: 0003_security
Revises: 0009_notifications
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_security"
down_revision = "0009_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approvers", sa.JSON(), nullable=True))
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("password_reset_required", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        "signin_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_throttle")),
        sa.UniqueConstraint("key", name=op.f("uq_signin_throttle_key")),
    )
    op.create_table(
        "request_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_receipt")),
        sa.UniqueConstraint("source", "key", name=op.f("uq_request_receipt_source_key")),
    )
    with op.batch_alter_table("request_receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_receipt_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("request_receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_receipt_received_at"))
    op.drop_table("request_receipt")
    op.drop_table("signin_throttle")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("password_reset_required")
        batch_op.drop_column("session_version")
    with op.batch_alter_table("approval_request", schema=None) as batch_op:
        batch_op.drop_column("approvers")
