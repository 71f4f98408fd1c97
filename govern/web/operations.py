"""The operations page for administrators: outbox depth and age per topic, dead letters with retry, the scheduler
leader, and the health of each integration. Reads through govern.queries; retries through the outbox services."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from govern.errors import GovernError
from govern.http.request import runtime
from govern.integrations.worker import retry_message, retry_messages
from govern.model import utcnow
from govern.integrations.jira.push import TOPIC as JIRA_TOPIC
from govern.notifications import TOPIC as NOTIFICATIONS_TOPIC
from govern.queries.operations import OLDEST_WAITING_HEALTHY_SECONDS, integration_health, operations_overview
from govern.web import bp
from govern.web.support import actor, db_session, flash_message, login_required, render_error

ADMIN_ONLY = "The operations page is for administrators."
# Which outbox topics each integration delivers (its deliverer's topic: integrations.worker.build_deliverers).
TOPICS_OF = {"jira": (JIRA_TOPIC,), "slack": (NOTIFICATIONS_TOPIC,)}


def _is_admin() -> bool:
    return "admin" in actor().roles


@bp.get("/operations")
@login_required
def operations():
    if not _is_admin():
        return render_error(403, ADMIN_ONLY)
    overview = operations_overview(db_session(), utcnow())
    integrations = {name: adapter is not None for name, adapter in runtime().adapters.items()}
    health = integration_health(overview, integrations, TOPICS_OF)
    undelivered = {topic for h in health if not h.enabled for topic in h.topics}
    return render_template("operations.html", overview=overview, integrations=health, undelivered=undelivered,
                           slow_after_minutes=round(OLDEST_WAITING_HEALTHY_SECONDS / 60),
                           can_retry=actor().can("outbox.manage"))


@bp.post("/operations/outbox/<int:message_id>/retry")
@login_required
def operations_retry(message_id: int):
    if not _is_admin():
        return render_error(403, ADMIN_ONLY)
    try:
        message = retry_message(db_session(), actor(), message_id)
    except GovernError as exc:
        flash_message("error", exc.message)
    else:
        flash_message("ok", f"Message {message.id} ({message.topic} {message.kind}) will be delivered again.")
    return redirect(url_for("web.operations"))


@bp.post("/operations/outbox/retry-dead")
@login_required
def operations_retry_dead():
    if not _is_admin():
        return render_error(403, ADMIN_ONLY)
    topic = request.form.get("topic") or None
    try:
        ids = retry_messages(db_session(), actor(), topic=topic)
    except GovernError as exc:
        flash_message("error", exc.message)
    else:
        flash_message("ok", f"{len(ids)} dead message(s){' of ' + topic if topic else ''} will be delivered again.")
    return redirect(url_for("web.operations"))
