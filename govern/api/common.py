"""Moved: the HTTP helpers live in `govern.http` (request, errors, openapi, csrf) so that capabilities need not import
an entry point. This re-export is a transition aid for branches written before the move; it goes away this session —
import from `govern.http.*` instead."""

from govern.http.csrf import CSRF_SESSION_KEY  # noqa: F401
from govern.http.errors import (  # noqa: F401
    ERROR_WORDS, HTTP_CODES, MAX_ID, ErrorBodySchema, ErrorResponseSchema, IdConverter, error_response, field_errors,
    install_error_handlers, wants_json,
)
from govern.http.openapi import (  # noqa: F401
    Blueprint, SelectPage, etag_for, if_match_version, like_pattern, sort_choices, sort_clause,
)
from govern.http.request import SAFE_METHODS, close_session, current_actor, db_session, runtime  # noqa: F401
