"""Text search that understands word forms, the one query layer behind every search box and the API's `q`.

`text_clauses(model, text)` turns what a person typed into WHERE clauses on Opportunity or Insight, one per word (all
must hold). A word matches a row when it occurs in the searched columns as typed (a case-insensitive substring, as
before: "onb" finds "onboarding", "OPP-3" finds OPP-3 by its number) **or** when a form of it does: "ports" finds
"porting", "billing" finds "bill".

Word forms come from the database's own full-text search, one construct compiled per dialect:
- PostgreSQL: `to_tsvector('english', <columns>) @@ plainto_tsquery('english', <word>)` (the english snowball
  stemmer); a GIN index on exactly that expression (revision 0014_search_stemming) serves it.
- SQLite: an FTS5 table per model with the porter tokenizer (`opportunity_search`, `insight_search`: external content
  on the model's table, rowid = the row's id), kept in step by triggers on insert, update and delete and rebuilt from
  the rows by the revision. The word goes in as one FTS5 string ("…" with quotes doubled), so quotes, operators (AND,
  OR, NOT, NEAR, *, ^, :, parentheses) are searched as text, never parsed as a query.

Bounds: at most MAX_SEARCH_LENGTH characters (longer is refused with InvalidInput, a 400) and the first
MAX_SEARCH_WORDS words; each word adds a clause to the one statement that lists the page, never a statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from govern.errors import InvalidInput
from govern.model import Insight, Opportunity

MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 12
_WORD_CHARACTER = re.compile(r"\w")


@dataclass(frozen=True)
class Searched:
    """What one model's search reads: its columns, the FTS5 table on SQLite, its key prefix and number column."""

    model: type
    columns: tuple[str, ...]
    fts_table: str
    key_prefix: str


SEARCHED = {
    Opportunity: Searched(Opportunity, ("title", "description"), "opportunity_search", "OPP-"),
    Insight: Searched(Insight, ("text", "source"), "insight_search", "INS-"),
}

# The FTS5 tables (and the shadow tables SQLite makes for each) and PostgreSQL's GIN indexes are outside the ORM
# metadata: the model/migration agreement test and autogenerate leave these names alone.
SEARCH_TABLES = tuple(s.fts_table for s in SEARCHED.values())
SEARCH_INDEXES = ("ix_opportunity_search", "ix_insight_search")
_FTS5_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")


def is_search_object(name: str | None) -> bool:
    """True for a table or index name that belongs to the search machinery (not the model's)."""
    if not name:
        return False
    return name in SEARCH_INDEXES or any(name == table or name in {table + s for s in _FTS5_SHADOWS}
                                         for table in SEARCH_TABLES)


def search_words(text: str | None) -> list[str]:
    """The words of a search (lower case), bounded; a search longer than MAX_SEARCH_LENGTH is refused."""
    text = (text or "").strip()
    if len(text) > MAX_SEARCH_LENGTH:
        raise InvalidInput(f"the search is too long ({len(text)} characters; at most {MAX_SEARCH_LENGTH})",
                           {"q": f"at most {MAX_SEARCH_LENGTH} characters"})
    if "\x00" in text:
        raise InvalidInput("the search contains a NUL character", {"q": "contains a NUL character"})
    return [w for w in text.lower().split() if w][:MAX_SEARCH_WORDS]


class WordFormMatch(ColumnElement[bool]):
    """True where a form of `word` occurs in the model's searched columns (compiled per dialect, see the module)."""

    inherit_cache = False
    type = sa.Boolean()

    def __init__(self, searched: Searched, word: str):
        self.searched = searched
        self.word = word


def _document(searched: Searched) -> ColumnElement[str]:
    # coalesce(a, '') || ' ' || coalesce(b, '') — spelled exactly as in the GIN index of revision 0014
    model = searched.model
    parts = [sa.func.coalesce(getattr(model, column), sa.literal_column("''")) for column in searched.columns]
    document = parts[0]
    for part in parts[1:]:
        document = document.op("||")(sa.literal_column("' '")).op("||")(part)
    return document


@compiles(WordFormMatch, "postgresql")
def _postgresql(element: WordFormMatch, compiler, **kw) -> str:
    clause = sa.func.to_tsvector(sa.literal_column("'english'::regconfig"), _document(element.searched)).op("@@")(
        sa.func.plainto_tsquery(sa.literal_column("'english'::regconfig"), sa.literal(element.word, sa.Text)))
    return compiler.process(clause, **kw)


def fts5_string(word: str) -> str:
    """`word` as one FTS5 string: searched as its tokens in order, never read as query syntax."""
    return '"' + word.replace('"', '""') + '"'


@compiles(WordFormMatch, "sqlite")
def _sqlite(element: WordFormMatch, compiler, **kw) -> str:
    searched = element.searched
    table = sa.table(searched.fts_table, sa.column("rowid"))
    matching = sa.select(table.c.rowid).where(
        sa.literal_column(searched.fts_table).op("MATCH")(sa.literal(fts5_string(element.word), sa.Text)))
    return compiler.process(searched.model.id.in_(matching), **kw)


@compiles(WordFormMatch)
def _elsewhere(element: WordFormMatch, compiler, **kw) -> str:
    return compiler.process(sa.false(), **kw)  # another database: the substring match alone


def word_clause(model: type, word: str) -> ColumnElement[bool]:
    """One word of a search on `model`: as typed in a searched column, a form of it, or the row's key."""
    searched = SEARCHED[model]
    clause = sa.or_(*(sa.func.lower(sa.func.coalesce(getattr(model, column), "")).contains(word, autoescape=True)
                      for column in searched.columns))
    if _WORD_CHARACTER.search(word):
        clause = sa.or_(clause, WordFormMatch(searched, word))
    upper = word.upper()
    if upper.startswith(searched.key_prefix) and upper[len(searched.key_prefix):].isdigit():
        number = int(upper[len(searched.key_prefix):])
        if number < 2 ** 31:
            clause = sa.or_(clause, model.number == number)
    return clause


def text_clauses(model: type, text: str | None) -> list[ColumnElement[bool]]:
    """WHERE clauses on `model` (Opportunity or Insight) for a search: every word must match (see word_clause)."""
    return [word_clause(model, word) for word in search_words(text)]
