"""What every HTTP entry point shares, and nothing more: the request's session and actor, one error shape, the CSRF
token, OpenAPI documentation, pagination and ETags.

The REST API (`govern.api`), the web UI (`govern.web`) and the capabilities' own routes (rituals' API and calendar
feeds, the playbook, Slack and Jira endpoints) all use these, so they live here rather than inside one entry point:
a capability never imports an entry point to serve HTTP.
"""
