"""Lifecycle definitions (YAML) and the engine that turns them into shared state machines with guards, approvals and effects."""
