"""Domain errors: every entry point translates these into its own answer (HTTP status, exit code, Slack message)."""

from __future__ import annotations

from typing import Any


class GovernError(Exception):
    """Base class; `code` is stable and machine-readable, `message` is for people, `details` names what is wrong."""

    code = "error"
    http_status = 400
    exit_code = 1

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(GovernError):
    """Bad input; `details` maps field paths to messages."""

    code = "invalid_input"
    http_status = 422
    exit_code = 2


class NotFound(GovernError):
    code = "not_found"
    http_status = 404
    exit_code = 3


class Unauthenticated(GovernError):
    code = "unauthenticated"
    http_status = 401
    exit_code = 4


class PermissionDenied(GovernError):
    code = "forbidden"
    http_status = 403
    exit_code = 4


class Conflict(GovernError):
    """A stale write, a duplicate, or an action that already happened."""

    code = "conflict"
    http_status = 409
    exit_code = 5


class PreconditionFailed(Conflict):
    """The caller's If-Match version is not the current one."""

    code = "precondition_failed"
    http_status = 412


class GuardsUnmet(Conflict):
    """A transition was refused; `details` lists every unmet guard in plain words."""

    code = "guards_unmet"
    http_status = 409


class RefusedChange(Conflict):
    """A change that would orphan or lose data (e.g. removing a journey that evidence is linked to)."""

    code = "refused"
    http_status = 409
