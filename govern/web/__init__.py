"""The council's web app: server-rendered pages for reviews, approvals and the journey framework."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("web", __name__, template_folder="templates")

# The views register their routes on `bp` when imported.
from govern.web import auth, board, journeys, opportunities, council, charts, lists, operations, curation, intake  # noqa: E402,F401,E501  (route modules)
