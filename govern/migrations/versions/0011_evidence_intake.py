"""evidence intake: an insight's origin (source key + external id), link, volume, personas, sentiment, tags, merge
pointer and content hash; refused intake records; the evidence summary's volume-weighted count

Revision ID: 0011_evidence_intake
Revises: 0010_recorded_inputs
"""
from alembic import op
import sqlalchemy as sa


revision = "0011_evidence_intake"
down_revision = "0010_recorded_inputs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("insight", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("url", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("volume", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("sentiment", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("sentiment_suggested", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("tags", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_insight_source_external", ["source_key", "external_id"])
        batch_op.create_foreign_key(batch_op.f("fk_insight_merged_into_id_insight"), "insight",
                                    ["merged_into_id"], ["id"])

    op.create_table(
        "insight_persona",
        sa.Column("insight_id", sa.Integer(), nullable=False),
        sa.Column("persona_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["insight_id"], ["insight.id"], name=op.f("fk_insight_persona_insight_id_insight"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["persona_id"], ["persona.id"], name=op.f("fk_insight_persona_persona_id_persona"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("insight_id", "persona_id", name=op.f("pk_insight_persona")),
    )
    op.create_table(
        "intake_rejection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_rejection")),
    )
    with op.batch_alter_table("intake_rejection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_rejection_source_key"), ["source_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_intake_rejection_received_at"), ["received_at"], unique=False)

    # Every existing insight stands for one record, so the weighted count is the count.
    with op.batch_alter_table("evidence_summary", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weighted_count", sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE evidence_summary SET weighted_count = insight_count")


def downgrade() -> None:
    with op.batch_alter_table("evidence_summary", schema=None) as batch_op:
        batch_op.drop_column("weighted_count")
    op.drop_table("intake_rejection")
    op.drop_table("insight_persona")
    with op.batch_alter_table("insight", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_insight_merged_into_id_insight"), type_="foreignkey")
        batch_op.drop_constraint("uq_insight_source_external", type_="unique")
        for column in ("content_hash", "updated_at", "merged_into_id", "tags", "sentiment_suggested", "sentiment",
                       "volume", "url", "external_id", "source_key"):
            batch_op.drop_column(column)
