"""scale: per-kind number counters and the maintained evidence summary per opportunity

Revision ID: 0005_scale
Revises: 0004_integrations
"""
from alembic import op
import sqlalchemy as sa


revision = "0005_scale"
down_revision = "0004_integrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "number_counter",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_number_counter")),
    )
    op.create_table(
        "evidence_summary",
        sa.Column("opportunity_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("insight_count", sa.Integer(), nullable=False),
        sa.Column("journey_count", sa.Integer(), nullable=False),
        sa.Column("source_count", sa.Integer(), nullable=False),
        sa.Column("unlinked_count", sa.Integer(), nullable=False),
        sa.Column("newest_observed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["opportunity_id"], ["opportunity.id"],
                                name=op.f("fk_evidence_summary_opportunity_id_opportunity"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("opportunity_id", name=op.f("pk_evidence_summary")),
    )
    # Counters start at the highest number in use (numbers of rows deleted before this revision cannot be known).
    # An empty database gets no counter rows (the first number taken creates them), so it stays empty for an import.
    for table in ("insight", "opportunity"):
        op.execute(f"INSERT INTO number_counter (kind, last) SELECT '{table}', MAX(number) FROM {table} "
                   "HAVING MAX(number) IS NOT NULL")
    # The summary of every existing opportunity, computed as govern.services.summary does.
    op.execute("""
        INSERT INTO evidence_summary (opportunity_id, insight_count, journey_count, source_count, unlinked_count,
                                      newest_observed_on)
        SELECT o.id, COALESCE(c.insights, 0), COALESCE(b.journeys, 0), COALESCE(c.sources, 0),
               COALESCE(c.unlinked, 0), c.newest
        FROM opportunity o
        LEFT JOIN (
            SELECT oi.opportunity_id AS opp_id, COUNT(*) AS insights,
                   COUNT(DISTINCT LOWER(TRIM(i.source))) AS sources,
                   SUM(CASE WHEN EXISTS (SELECT 1 FROM insight_step s WHERE s.insight_id = i.id) THEN 0 ELSE 1 END)
                       AS unlinked,
                   MAX(i.observed_on) AS newest
            FROM opportunity_insight oi JOIN insight i ON i.id = oi.insight_id
            GROUP BY oi.opportunity_id
        ) c ON c.opp_id = o.id
        LEFT JOIN (
            SELECT oi.opportunity_id AS opp_id, COUNT(DISTINCT st.journey_id) AS journeys
            FROM opportunity_insight oi
            JOIN insight_step s ON s.insight_id = oi.insight_id
            JOIN step st ON st.id = s.step_id
            GROUP BY oi.opportunity_id
        ) b ON b.opp_id = o.id
    """)


def downgrade() -> None:
    op.drop_table("evidence_summary")
    op.drop_table("number_counter")
