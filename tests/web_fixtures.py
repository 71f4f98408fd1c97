"""Fixtures for the web app: a signed-in test client, a live server on a free port, and Debian's Chromium. Registered once
for the whole suite by tests/conftest.py (pytest_plugins): a session-scoped browser defined in two modules would be two
Playwright instances at once, which its sync API refuses."""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from govern.cli.support import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class WebClient:
    """A Flask test client that signs in through the form and keeps the page's CSRF token for posts."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def get(self, path, **kw):
        response = self.client.get(path, **kw)
        match = TOKEN.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    def post(self, path, data=None, *, with_token=True, **kw):
        data = dict(data or {})
        if with_token and "csrf_token" not in data:
            if self.token is None:
                self.get("/login")
            data["csrf_token"] = self.token
        return self.client.post(path, data=data, **kw)

    def sign_in(self, handle, password=DEMO_PASSWORD):
        self.get("/login")
        response = self.post("/login", {"handle": handle, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        self.get("/evidence")  # a light page, for the signed-in session's form token
        return self


@pytest.fixture
def web(example_app):
    """Sign in as someone: `web("lotte")` returns a WebClient with its own cookie jar."""
    def make(handle: str) -> WebClient:
        return WebClient(example_app.test_client()).sign_in(handle)

    return make


# --- the browser ------------------------------------------------------------------------------------------------------


def _browser_required() -> bool:
    return os.environ.get("GOVERN_REQUIRE_BROWSER", "") in ("1", "true", "yes")


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright; skipped when absent unless GOVERN_REQUIRE_BROWSER=1 (CI)."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if _browser_required():
            pytest.fail(f"{CHROMIUM} is missing and GOVERN_REQUIRE_BROWSER=1 (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if _browser_required():
            raise
        pytest.skip("playwright is not installed")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
                                     headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def live_server(example_app):
    """The example organisation's app served over real HTTP on a free loopback port, in a thread."""
    server = make_server("127.0.0.1", 0, example_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def page_as(browser, live_server):
    """`page_as("lotte")`: a fresh browser context signed in as that person (laptop-sized window)."""
    contexts = []

    def make(handle: str, *, width: int = 1440, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server)
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []  # CSP violations and script errors show up here
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.goto("/login")
        page.get_by_label("Handle or e-mail").fill(handle)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/board")
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a screenshot of the page under test-artifacts/ (not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
