"""recorded inputs: the built-in models' scoring inputs of each opportunity in one maintained row

Revision ID: 0010_recorded_inputs
Revises: 0002_read_side
"""
from alembic import op
import sqlalchemy as sa


revision = "0010_recorded_inputs"
down_revision = "0002_read_side"
branch_labels = None
depends_on = None

COLUMNS = ("reach", "impact", "confidence", "effort", "ease", "business_value", "time_criticality", "risk_reduction",
           "job_size")


def upgrade() -> None:
    op.create_table(
        "recorded_inputs",
        sa.Column("opportunity_id", sa.Integer(), autoincrement=False, nullable=False),
        *[sa.Column(name, sa.Double(), nullable=True) for name in COLUMNS],
        sa.ForeignKeyConstraint(["opportunity_id"], ["opportunity.id"],
                                name=op.f("fk_recorded_inputs_opportunity_id_opportunity"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("opportunity_id", name=op.f("pk_recorded_inputs")),
    )
    # Every existing opportunity's inputs, pivoted as govern.services.summary does.
    pivot = ", ".join(f"MAX(CASE WHEN name = '{name}' THEN value END)" for name in COLUMNS)
    op.execute(f"INSERT INTO recorded_inputs (opportunity_id, {', '.join(COLUMNS)}) "
               f"SELECT opportunity_id, {pivot} FROM score_input GROUP BY opportunity_id")


def downgrade() -> None:
    op.drop_table("recorded_inputs")
