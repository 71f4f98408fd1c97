"""The core of the journey ops engine: domain model, storage, policy, audit, services, and the app, API, UI and CLI."""

__version__ = "0.1.0"
