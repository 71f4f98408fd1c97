"""Adapters at the edge: Jira and Slack, the outbox worker that delivers their actions, and stand-in servers for tests."""
