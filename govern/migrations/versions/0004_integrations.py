"""integrations: outbox topic pauses (circuit breaker) and handled Jira webhook deliveries

Revision ID: 0004_integrations
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_integrations'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_topic_state',
    sa.Column('topic', sa.String(length=20), nullable=False),
    sa.Column('paused_until', sa.DateTime(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('topic', name=op.f('pk_outbox_topic_state'))
    )
    op.create_table('jira_webhook_receipt',
    sa.Column('identifier', sa.String(length=200), nullable=False),
    sa.Column('issue_key', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('identifier', name=op.f('pk_jira_webhook_receipt'))
    )
    with op.batch_alter_table('jira_webhook_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jira_webhook_receipt_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jira_webhook_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jira_webhook_receipt_received_at'))
    op.drop_table('jira_webhook_receipt')
    op.drop_table('outbox_topic_state')
