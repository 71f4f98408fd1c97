"""kpi freshness: a KPI's expected cadence and its own measurement window

`kpi.cadence_days`: how often the KPI is measured (govern.yaml `kpis[].cadence`); a KPI whose latest measurement is
older than that (plus a grace) is stale (govern.queries.freshness). `kpi.measure_after_days`: how long after go-live
its outcome is measured (None: the lifecycle definition's `measure_after_days`).

Revision ID: 0015_kpi_freshness
Revises: 0014_search_stemming
"""
from alembic import op
import sqlalchemy as sa


revision = "0015_kpi_freshness"
down_revision = "0014_search_stemming"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kpi") as batch:
        batch.add_column(sa.Column("cadence_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("measure_after_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kpi") as batch:
        batch.drop_column("measure_after_days")
        batch.drop_column("cadence_days")
