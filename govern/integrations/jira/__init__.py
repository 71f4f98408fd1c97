"""Jira backlog sync: solutions become backlog items, status comes back."""
