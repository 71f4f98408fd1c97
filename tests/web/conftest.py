"""The web tests' helpers; the fixtures themselves (web, browser, live_server, page_as) are in tests/web_fixtures.py,
registered once for the whole suite."""

from tests.web_fixtures import CHROMIUM, WebClient, csrf_from, screenshot  # noqa: F401 - imported by the web tests
