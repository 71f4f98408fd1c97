"""Migration 0009_notifications: Slack messages queued by an older version become notification events, so nothing
waiting is lost on upgrade (and a downgrade gives them back)."""

import sqlalchemy as sa

from govern import notifications
from govern.bootstrap import bootstrap
from govern.db import Database
from govern.model import OutboxMessage
from govern.notifications import Notification


def test_queued_slack_messages_become_notifications_and_come_back_on_downgrade(tmp_path):
    from alembic import command

    from govern.db import alembic_config

    db = bootstrap(Database(f"sqlite:///{tmp_path / 'old.db'}"))
    db.upgrade("0007_ops")
    table = OutboxMessage.__table__
    # Rows as the previous version's producers wrote them (no producer writes them any more).
    old_rows = [
        ("transition", {"opportunity": "OPP-6", "title": "eSIM", "from": "research", "to": "parked", "actor": "lotte",
                        "journeys": ["activating-my-sim"], "channel": None, "transition_id": 9}),
        ("approval_request", {"request_id": 4, "opportunity": "OPP-1", "title": "Porting", "from": "research",
                              "to": "prioritise", "journeys": ["switching-providers"], "approvers": ["Ana Silva"]}),
        ("agenda", {"occurrence_id": 12, "channel": "cx-council", "text": "Agenda for Weekly council review",
                    "blocks": [{"type": "header"}], "markdown": "# Weekly", "ritual": "weekly-council-review",
                    "agenda": {"ritual": {"name": "Weekly council review"}, "sections": []}}),
    ]
    with db.engine.begin() as conn:
        for n, (kind, payload) in enumerate(old_rows):
            conn.execute(sa.insert(table).values(topic="slack", kind=kind, payload=payload, status="pending",
                                                 attempts=0, dedupe_key=f"old:{n}"))
    db.upgrade()
    with db.session_scope() as s:
        rows = {m.kind: Notification.of(m) for m in s.scalars(sa.select(OutboxMessage))}
        assert {m.topic for m in s.scalars(sa.select(OutboxMessage))} == {notifications.TOPIC}
    moved = rows[notifications.OPPORTUNITY_MOVED]
    assert moved.about["opportunity"] == "OPP-6" and moved.facts["to"] == "parked"
    assert moved.audience.journeys == ("activating-my-sim",)
    request = rows[notifications.APPROVAL_REQUESTED]
    assert request.about["request_id"] == 4 and request.audience.journeys == ("switching-providers",)
    agenda = rows[notifications.RITUAL_AGENDA]
    assert agenda.audience.channels == ("cx-council",) and "blocks" not in agenda.facts
    assert agenda.about["name"] == "Weekly council review" and agenda.facts["agenda"]["sections"] == []

    command.downgrade(alembic_config(db), "0007_ops")
    with db.engine.connect() as conn:
        back = {kind: payload for kind, payload in conn.execute(sa.select(table.c.kind, table.c.payload))}
    assert set(back) == {"transition", "approval_request", "agenda"}
    assert back["transition"]["journeys"] == ["activating-my-sim"] and back["agenda"]["channel"] == "cx-council"
    db.dispose()
