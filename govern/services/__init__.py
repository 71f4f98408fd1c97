"""The service layer: one function per use case, called by every entry point (API, UI, CLI, Slack, scheduler)."""
