"""delivery once: an outbox message remembers when an attempt may have landed without our knowing

`outbox_message.unsure_since`: set when a create's or post's answer was lost (a timeout, a connection dropped after
sending) or when a worker's lease ran out mid-delivery; the next attempt first looks at the remote (Jira's search by
label after a settle time, Slack's channel history by message metadata) and does not write again if it finds it.

Revision ID: 0013_delivery_once
Revises: 0012_meeting_mode
"""
from alembic import op
import sqlalchemy as sa


revision = "0013_delivery_once"
down_revision = "0012_meeting_mode"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("unsure_since", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("unsure_since")
