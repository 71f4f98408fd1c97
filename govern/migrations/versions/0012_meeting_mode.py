"""meeting mode: a ritual's creation time, moved occurrences and their reasons, minutes versions, agenda items

Revision ID: 0012_meeting_mode
Revises: 0011_evidence_intake
"""
from alembic import op
import sqlalchemy as sa


revision = "0012_meeting_mode"
down_revision = "0011_evidence_intake"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ritual") as batch:
        batch.add_column(sa.Column("created_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("ritual_occurrence") as batch:
        batch.add_column(sa.Column("moved_to", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
    op.create_table(
        "minutes_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurrence_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["occurrence_id"], ["ritual_occurrence.id"],
                                name=op.f("fk_minutes_version_occurrence_id_ritual_occurrence"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["person.id"],
                                name=op.f("fk_minutes_version_recorded_by_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minutes_version")),
        sa.UniqueConstraint("occurrence_id", "version", name=op.f("uq_minutes_version_occurrence_id_version")),
    )
    op.create_index(op.f("ix_minutes_version_occurrence_id"), "minutes_version", ["occurrence_id"])
    op.create_table(
        "agenda_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurrence_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["occurrence_id"], ["ritual_occurrence.id"],
                                name=op.f("fk_agenda_item_occurrence_id_ritual_occurrence"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["added_by_id"], ["person.id"], name=op.f("fk_agenda_item_added_by_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_item")),
    )
    op.create_index(op.f("ix_agenda_item_occurrence_id"), "agenda_item", ["occurrence_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agenda_item_occurrence_id"), table_name="agenda_item")
    op.drop_table("agenda_item")
    op.drop_index(op.f("ix_minutes_version_occurrence_id"), table_name="minutes_version")
    op.drop_table("minutes_version")
    with op.batch_alter_table("ritual_occurrence") as batch:
        batch.drop_column("status_reason")
        batch.drop_column("moved_to")
    with op.batch_alter_table("ritual") as batch:
        batch.drop_column("created_at")
