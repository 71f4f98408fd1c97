"""The service layer: one function per use case, called by every entry point (API, UI, CLI, Slack, scheduler)."""

# The evidence summary is kept current by a session event registered when this module is imported.
from govern.services import summary as _summary  # noqa: E402,F401
