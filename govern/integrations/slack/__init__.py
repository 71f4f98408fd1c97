"""Slack: slash commands, interactive approvals, notifications and agendas."""
