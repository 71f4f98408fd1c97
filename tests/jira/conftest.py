"""Fixtures for the Jira capability: a stand-in Jira on a free loopback port, in Server or Cloud mode."""

from __future__ import annotations

import pytest

from tests.standins.jira import JiraStandIn

DEPLOYMENTS = ["Server", "Cloud"]


@pytest.fixture(params=DEPLOYMENTS)
def standin(request):
    """A running stand-in Jira, once per deployment type."""
    fake = JiraStandIn(request.param)
    fake.serve()
    yield fake
    fake.stop()


import datetime as dt  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from govern.model import Opportunity, OutboxMessage, Setting, Solution  # noqa: E402
from govern.policy import Actor  # noqa: E402
from govern.workflows.services import queue_missing_backlog_items  # noqa: E402
from govern.integrations.jira.adapter import JiraAdapter  # noqa: E402
from govern.integrations.jira.push import JiraDeliverer  # noqa: E402
from govern.integrations.worker import OutboxWorker, RetryPolicy  # noqa: E402

DEFAULT_MAPPING = {"project": "OPS", "issue_types": {"solution": "Epic"}, "labels": ["customer-journey"]}


def set_mapping(db, **overrides):
    with db.session_scope() as session:
        setting = session.get(Setting, "jira") or Setting(key="jira")
        setting.value = {**DEFAULT_MAPPING, **overrides}
        session.add(setting)
        session.commit()


def add_opportunity(db, solutions: int, *, number: int | None = None, enqueue_push: bool = True,
                    state: str = "implement") -> tuple[int, list[int]]:
    """An opportunity in implement with `solutions` solutions; by default their create_issue messages are queued by
    the real producer, the reconciliation `queue_missing_backlog_items` (the same the JiraReconciler and
    `govern jira sync` run, writing what the lifecycle's create_backlog_items effect writes). It queues for every
    solution that belongs in the backlog and has nothing queued — so also for earlier opportunities added with
    `enqueue_push=False` in a backlog state (a test that wants those left alone adds them last)."""
    with db.session_scope() as session:
        number = number or (session.scalar(sa.select(sa.func.max(Opportunity.number))) or 0) + 1
        opp = Opportunity(number=number, title=f"How might we keep switchers informed #{number}?", state=state,
                          lifecycle="default")
        session.add(opp)
        session.flush()
        for n in range(solutions):
            session.add(Solution(opportunity_id=opp.id, title=f"Solution {n + 1} of OPP-{number}",
                                 description="Status SMS during porting", due_on=dt.date(2026, 12, 1)))
        session.flush()
        ids = list(session.scalars(sa.select(Solution.id).where(Solution.opportunity_id == opp.id)
                                   .order_by(Solution.id)))
        session.commit()
        if enqueue_push:
            queue_missing_backlog_items(session, Actor.system_actor("jira"))
        return opp.id, ids


def outbox_rows(db) -> list[OutboxMessage]:
    with db.session_scope() as session:
        return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def solutions(db) -> list[Solution]:
    with db.session_scope() as session:
        return list(session.scalars(sa.select(Solution).order_by(Solution.id)))


@pytest.fixture
def adapter(standin):
    return JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)


@pytest.fixture
def jira_worker(db, adapter):
    """A worker with only the Jira deliverer, quick retries, a short lease."""
    set_mapping(db)
    # The stand-in's search is current unless a test gives it a lag (tests/jira/test_lost_answer.py), so a lost answer
    # is looked up at once here rather than after the settle time.
    deliverer = JiraDeliverer(db, adapter, base_url="http://govern.test", settle_seconds=0)
    return OutboxWorker(db, [deliverer], name="test-worker", lease_seconds=30,
                        policy=RetryPolicy(base_seconds=0.0, cap_seconds=0.0))


# For behaviour that does not depend on the deployment type (worker, outbox, mapping): Server only, to keep the suite
# fast; everything that talks differently to Cloud (v3, ADF, search/jql, identities) runs in both.
server_only = pytest.mark.parametrize("standin", ["Server"], indirect=True)


class SimulatedClock:
    """Naive-UTC time that moves only when told: the worker, the reconciler and the stand-in share it, so a test runs
    a 20-minute outage in a blink (`advance` is what the code under test calls instead of sleeping)."""

    def __init__(self, start: dt.datetime | None = None):
        from govern.model import utcnow

        self.at = start or utcnow()
        self.slept = 0.0

    def now(self) -> dt.datetime:
        return self.at

    def catch_up(self) -> None:
        """Move to the real present (rows written since the clock was made carry real times)."""
        from govern.model import utcnow

        self.at = max(self.at, utcnow())

    def advance(self, seconds: float) -> None:
        self.slept += seconds
        self.at += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return SimulatedClock()
