"""search stemming: search finds word forms ("ports" finds "porting") on both databases

PostgreSQL: a GIN index on the english text-search vector of an opportunity's title and description and of an
insight's text and source — exactly the expression govern.queries.search matches against.

SQLite: an FTS5 table per model with the porter tokenizer, its content read from the model's table (external content,
rowid = id), rebuilt here from the existing rows and kept in step by triggers on insert, update and delete. The FTS5
tables and triggers are outside the ORM metadata (govern.queries.search.is_search_object). A later revision that
rebuilds `opportunity` or `insight` through a batch operation drops their triggers with the old table and must create
them again (the statements are below).

Revision ID: 0014_search_stemming
Revises: 0013_delivery_once
"""
from alembic import op


revision = "0014_search_stemming"
down_revision = "0013_delivery_once"
branch_labels = None
depends_on = None

# (table, FTS5 table, GIN index, searched columns)
SEARCHED = (
    ("opportunity", "opportunity_search", "ix_opportunity_search", ("title", "description")),
    ("insight", "insight_search", "ix_insight_search", ("text", "source")),
)


def _document(columns) -> str:
    return " || ' ' || ".join(f"coalesce({column}, '')" for column in columns)


def _sqlite_statements(table: str, fts: str, columns) -> list[str]:
    names = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    remove = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"
    add = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', content_rowid='id', "
        f"tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {add} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {remove} END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} BEGIN {remove} {add} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # the rows already there
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, fts, index, columns in SEARCHED:
        if dialect == "postgresql":
            op.execute(f"CREATE INDEX {index} ON {table} USING gin "
                       f"(to_tsvector('english'::regconfig, {_document(columns)}))")
        elif dialect == "sqlite":
            for statement in _sqlite_statements(table, fts, columns):
                op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, fts, index, _columns in SEARCHED:
        if dialect == "postgresql":
            op.execute(f"DROP INDEX IF EXISTS {index}")
        elif dialect == "sqlite":
            for trigger in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{trigger}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
