"""The REST API's building blocks: a flask-smorest Blueprint that documents the one error shape, pagination of a
SQLAlchemy select, sorting and filtering, and optimistic locking over HTTP (ETag / If-Match)."""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from flask import request
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest import Page

from govern.errors import PreconditionFailed
from govern.http.errors import ERROR_WORDS, MAX_ID, ErrorResponseSchema, IdConverter
from govern.http.request import db_session
from govern.queries.listings import like_pattern  # noqa: F401  (the blueprints' text filters take it from here)
from govern.queries.paging import page_with_total


def _id_schema(converter, *_args, **_kwargs):
    return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class Blueprint(SmorestBlueprint):
    """A flask-smorest blueprint whose OpenAPI document describes govern's error shape.

    flask-smorest documents errors with its own schema; the first of our blueprints to be registered swaps that for
    ErrorResponseSchema in the shared response components (so every route's `default` response is right too).
    """

    def register_views_in_doc(self, api, app, spec, *, name, parameters):
        if not getattr(api, "_govern_error_schema", False):
            api._govern_error_schema = True
            api.ERROR_SCHEMA = ErrorResponseSchema
            spec.components.responses_lazy.clear()
            for key in [k for k in spec.components.responses if k == "DEFAULT_ERROR" or k.isupper()]:
                spec.components.responses.pop(key)
            api._register_responses()
            api.register_converter(IdConverter, _id_schema)
            # flask-smorest documents X-Pagination as an object; on the wire it is a JSON text.
            spec.components.headers_lazy.pop("PAGINATION", None)
            spec.components.headers.pop("PAGINATION", None)
            spec.components.header("PAGINATION", {
                "description": "pagination metadata as JSON: total, total_pages, first_page, last_page, page, "
                               "previous_page, next_page",
                "schema": {"type": "string"},
                "example": '{"total": 12, "total_pages": 1, "first_page": 1, "last_page": 1, "page": 1}'}, lazy=True)
        return super().register_views_in_doc(api, app, spec, name=name, parameters=parameters)

    def errors(self, *codes: int):
        """Document error responses in the one error shape: 400 and 401 always, plus the codes given."""

        def decorator(fn):
            for code in sorted({400, 401, *codes}, reverse=True):
                fn = self.alt_response(code, schema=ErrorResponseSchema, description=ERROR_WORDS.get(code, "error"))(fn)
            return fn

        return decorator


class SelectPage(Page):
    """A page of a SQLAlchemy select (or of a core `PagedRead`), run on the request's session: the page's rows and
    the list's total come in one statement (flask-smorest puts the totals in X-Pagination)."""

    def __init__(self, collection, page_params):
        offset, limit = page_params.first_item, page_params.page_size
        if isinstance(collection, sa.Select):
            self._items, self._total = page_with_total(db_session(), collection, offset, limit)
        else:
            self._items, self._total = collection.page(db_session(), offset, limit)
        super().__init__(collection, page_params)

    @property
    def item_count(self) -> int:
        return self._total

    @property
    def items(self) -> list:
        return self._items


def sort_clause(sort: str | None, columns: Mapping[str, Any], default: str) -> list:
    """`sort=-updated_at` → [column.desc()]; a tie-breaker keeps pages stable."""
    key = sort or default
    descending = key.startswith("-")
    column = columns[key.lstrip("-")]
    ordered = [column.desc() if descending else column.asc()]
    tie = columns.get("id")
    if tie is not None and tie is not column:
        ordered.append(tie.desc() if descending else tie.asc())
    return ordered


def sort_choices(columns: Iterable[str]) -> list[str]:
    names = [c for c in columns if c != "id"]
    return names + ["-" + c for c in names]


_ETAG = re.compile(r'^\s*(?:W/)?"?v?(\d{1,9})"?\s*$')


def etag_for(version: int) -> str:
    return f'"{int(version)}"'


def if_match_version() -> int | None:
    """The version named by `If-Match` (our ETags are the quoted version number); None when absent or `*`."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() in ("", "*"):
        return None
    match = _ETAG.match(header.split(",")[0])
    if not match:
        raise PreconditionFailed(f"If-Match {header!r} is not an ETag of this resource (they look like \"3\")",
                                 {"if_match": header})
    return int(match.group(1))
