"""Fixtures for the REST API tests: the example organisation behind the app, and bearer tokens per person."""

from __future__ import annotations

import pytest

from govern.policy import Actor
from govern.services.common import load_actor
from govern.services.people import create_person, create_token


class ApiClient:
    """The Flask test client with a bearer token per person, speaking JSON under /api/v1."""

    def __init__(self, app, db):
        self.app = app
        self.db = db
        self.client = app.test_client()
        self._tokens: dict[str, str] = {}

    def token(self, handle: str) -> str:
        if handle not in self._tokens:
            with self.db.session_scope() as s:
                self._tokens[handle] = create_token(s, load_actor(s, handle), f"tests-{handle}").secret
        return self._tokens[handle]

    def call(self, method: str, path: str, *, as_: str | None = None, json=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if as_:
            headers["Authorization"] = f"Bearer {self.token(as_)}"
        url = path if path.startswith("/api/") else f"/api/v1{path}"
        return self.client.open(url, method=method, json=json, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, **kw):
        return self.call("POST", path, **kw)

    def patch(self, path, **kw):
        return self.call("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api(example_app, example_db) -> ApiClient:
    return ApiClient(example_app, example_db)


@pytest.fixture
def viewer(example_db) -> str:
    """A person with no seat and no journey: the plain viewer."""
    with example_db.session_scope() as s:
        create_person(s, Actor.system_actor("test"), handle="vera", name="Vera Viewer", email="vera@telconova.example")
    return "vera"


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape, with the expected status (and code)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]
