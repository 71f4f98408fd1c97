"""The REST API under /api/v1 (flask-smorest: one blueprint per resource, marshmallow schemas, OpenAPI)."""
