"""What the operations page shows: outbox depth and age per topic, paused topics, dead letters, the schedulers and the
evidence intake's refused records.

Reads only, in a fixed number of statements whatever the size of the outbox."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.model import IntakeRejection, OutboxMessage, OutboxTopicState, SchedulerInstance

DEAD_LETTERS_SHOWN = 50
REJECTIONS_SHOWN = 50
PAYLOAD_SHOWN = 300
WAITING = ("pending", "in_flight")
# When an integration is not healthy (the operations page, docs/deployment.md and the alert rules say the same):
# its topic is paused, its last batch failed, it has dead letters, or its oldest waiting message is older than this.
OLDEST_WAITING_HEALTHY_SECONDS = 900.0


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


@dataclass
class TopicHealth:
    topic: str
    counts: dict[str, int] = field(default_factory=dict)  # by status
    oldest_waiting_seconds: float | None = None
    paused_until: dt.datetime | None = None
    failures: int = 0
    last_error: str | None = None

    @property
    def waiting(self) -> int:
        return sum(self.counts.get(s, 0) for s in WAITING)

    @property
    def dead(self) -> int:
        return self.counts.get("dead", 0)


@dataclass(frozen=True)
class IntegrationHealth:
    """One integration's verdict: `state` is healthy | disabled | queued_while_disabled | paused | failing | dead |
    slow, and `text` says it in words (what is counted, against which threshold)."""

    name: str
    enabled: bool
    topics: tuple[str, ...]
    waiting: int
    dead: int
    state: str
    text: str

    @property
    def healthy(self) -> bool:
        return self.state in ("healthy", "disabled")


def _plural(count: int, one: str) -> str:
    return f"{count} {one}{'' if count == 1 else 's'}"


def integration_health(overview: "OperationsOverview", integrations: dict[str, bool],
                       topics_of: dict[str, tuple[str, ...]]) -> list[IntegrationHealth]:
    """Each integration's health from the outbox of the topics it delivers (`topics_of`, given by the composition
    layer, which knows the deliverers). Messages queued for a disabled integration are never delivered until it is
    configured: shown as such, never counted as healthy."""
    by_topic = {t.topic: t for t in overview.topics}
    verdicts = []
    for name, enabled in integrations.items():
        topics = tuple(topics_of.get(name, ()))
        mine = [by_topic[t] for t in topics if t in by_topic]
        waiting = sum(t.waiting for t in mine)
        dead = sum(t.dead for t in mine)
        oldest = max((t.oldest_waiting_seconds or 0.0 for t in mine), default=0.0)
        paused = next((t for t in mine if t.paused_until), None)
        failing = next((t for t in mine if t.failures), None)
        if not enabled:
            state, text = (("queued_while_disabled",
                            f"not delivered: {_plural(waiting, 'message')} queued while the integration is disabled "
                            "(configure it, or they wait for ever)") if waiting else
                           ("disabled", "disabled (not configured); nothing queued"))
        elif paused is not None:
            state = "paused"
            text = (f"paused until {paused.paused_until.strftime('%H:%M:%S UTC')} after "
                    f"{_plural(paused.failures, 'failed batch')}"
                    + (f": {paused.last_error}" if paused.last_error else ""))
        elif failing is not None:
            state = "failing"
            text = f"{_plural(failing.failures, 'failed batch')}" + (f": {failing.last_error}"
                                                                      if failing.last_error else "")
        elif dead:
            state, text = "dead", f"{_plural(dead, 'dead letter')} (refused for good; see below)"
        elif oldest > OLDEST_WAITING_HEALTHY_SECONDS:
            state = "slow"
            text = (f"{_plural(waiting, 'message')} waiting, the oldest for {round(oldest / 60)} min "
                    f"(more than {round(OLDEST_WAITING_HEALTHY_SECONDS / 60)} min)")
        else:
            state = "healthy"
            text = f"healthy ({_plural(waiting, 'message')} waiting)" if waiting else "healthy"
        verdicts.append(IntegrationHealth(name, enabled, topics, waiting, dead, state, text))
    return verdicts


@dataclass(frozen=True)
class SchedulerView:
    name: str
    leader: bool
    started_at: dt.datetime
    last_tick_at: dt.datetime
    leader_since: dt.datetime | None
    silent_seconds: float

    def alive(self, tick_seconds: float = 30.0) -> bool:
        """Ticked within three rounds."""
        return self.silent_seconds <= 3 * tick_seconds


@dataclass
class OperationsOverview:
    topics: list[TopicHealth]
    dead_letters: list[OutboxMessage]
    dead_total: int
    schedulers: list[SchedulerView]
    # Refused webhook records and skipped import rows, newest first, and how many each source has.
    intake_rejections: list[IntakeRejection] = field(default_factory=list)
    intake_rejection_counts: dict[str, int] = field(default_factory=dict)

    @property
    def intake_rejection_total(self) -> int:
        return sum(self.intake_rejection_counts.values())

    @property
    def leader(self) -> SchedulerView | None:
        return next((s for s in self.schedulers if s.leader and s.alive()), None)


def operations_overview(session: Session, now: dt.datetime) -> OperationsOverview:
    """Everything the operations page shows, in six statements."""
    now = _aware(now)
    topics: dict[str, TopicHealth] = {}
    rows = session.execute(sa.select(OutboxMessage.topic, OutboxMessage.status, sa.func.count(),
                                     sa.func.min(OutboxMessage.created_at))
                           .group_by(OutboxMessage.topic, OutboxMessage.status))
    for topic, status, count, oldest in rows:
        health = topics.setdefault(topic, TopicHealth(topic))
        health.counts[status] = count
        if status in WAITING and oldest is not None:
            age = max(0.0, (now - _aware(oldest)).total_seconds())
            health.oldest_waiting_seconds = max(age, health.oldest_waiting_seconds or 0.0)
    for state in session.scalars(sa.select(OutboxTopicState)):
        health = topics.setdefault(state.topic, TopicHealth(state.topic))
        paused = _aware(state.paused_until)
        health.paused_until = paused if paused is not None and paused > now else None
        health.failures, health.last_error = state.failures or 0, state.last_error
    dead = list(session.scalars(sa.select(OutboxMessage).where(OutboxMessage.status == "dead")
                                .order_by(OutboxMessage.id.desc()).limit(DEAD_LETTERS_SHOWN)))
    schedulers = [SchedulerView(s.name, s.leader, _aware(s.started_at), _aware(s.last_tick_at),
                                _aware(s.leader_since), max(0.0, (now - _aware(s.last_tick_at)).total_seconds()))
                  for s in session.scalars(sa.select(SchedulerInstance).order_by(SchedulerInstance.leader.desc(),
                                                                               SchedulerInstance.name))]
    rejections = list(session.scalars(sa.select(IntakeRejection)
                                      .order_by(IntakeRejection.received_at.desc(), IntakeRejection.id.desc())
                                      .limit(REJECTIONS_SHOWN)))
    rejection_counts = dict(session.execute(sa.select(IntakeRejection.source_key, sa.func.count())
                                            .group_by(IntakeRejection.source_key)).all())
    return OperationsOverview(topics=[topics[t] for t in sorted(topics)], dead_letters=dead,
                              dead_total=sum(t.dead for t in topics.values()), schedulers=schedulers,
                              intake_rejections=rejections, intake_rejection_counts=rejection_counts)


@dataclass(frozen=True)
class MetricsSnapshot:
    """What a Prometheus scrape reads from the database (true whichever process did the work)."""

    outbox: dict[tuple[str, str], int]  # (topic, status) → messages
    oldest_waiting_seconds: dict[str, float]  # topic → age of the oldest message not yet delivered
    ritual_occurrences: dict[str, int]  # status → occurrences
    schedulers: dict[str, int]  # leader | standby | silent → processes
    leader_round_age_seconds: float | None


def metrics_snapshot(session: Session, now: dt.datetime, *, alive_seconds: float = 90.0) -> MetricsSnapshot:
    """Outbox depth and age per topic, ritual occurrences by status and the schedulers, in three statements."""
    from govern.model import RitualOccurrence

    now = _aware(now)
    outbox: dict[tuple[str, str], int] = {}
    oldest: dict[str, float] = {}
    for topic, status, count, first in session.execute(
            sa.select(OutboxMessage.topic, OutboxMessage.status, sa.func.count(), sa.func.min(OutboxMessage.created_at))
            .group_by(OutboxMessage.topic, OutboxMessage.status)):
        outbox[(topic, status)] = count
        if status in WAITING and first is not None:
            oldest[topic] = max(oldest.get(topic, 0.0), max(0.0, (now - _aware(first)).total_seconds()))
    occurrences = dict(session.execute(sa.select(RitualOccurrence.status, sa.func.count())
                                       .group_by(RitualOccurrence.status)).all())
    schedulers = {"leader": 0, "standby": 0, "silent": 0}
    leader_age = None
    for leader, last in session.execute(sa.select(SchedulerInstance.leader, SchedulerInstance.last_tick_at)):
        age = max(0.0, (now - _aware(last)).total_seconds())
        role = "silent" if age > alive_seconds else ("leader" if leader else "standby")
        schedulers[role] += 1
        if leader and role == "leader":
            leader_age = age if leader_age is None else min(leader_age, age)
    return MetricsSnapshot(outbox, oldest, occurrences, schedulers, leader_age)
