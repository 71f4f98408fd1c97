"""The search tests read the example organisation through the API's bearer-token client and the web app."""

from tests.api.conftest import api  # noqa: F401
