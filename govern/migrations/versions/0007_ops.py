"""ops: scheduler processes and the last round each ran (who leads, for the operations page)

Revision ID: 0007_ops
Revises: 0005_scale
"""
from alembic import op
import sqlalchemy as sa


revision = "0007_ops"
down_revision = "0005_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_instance",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("leader", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_tick_at", sa.DateTime(), nullable=False),
        sa.Column("leader_since", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_instance")),
    )


def downgrade() -> None:
    op.drop_table("scheduler_instance")
