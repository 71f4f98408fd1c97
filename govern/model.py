"""The domain model: typed SQLAlchemy 2 tables for journeys, the council, evidence, opportunities and their governance."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.orm.util import identity_key


def utcnow() -> dt.datetime:
    """Naive UTC timestamp; every datetime column stores UTC."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


COUNCIL_ROLES = ("lead", "manager", "coordinator", "supporter")
INSIGHT_KINDS = ("quote", "survey", "analytics", "ticket", "interview", "observation", "other")
KPI_KINDS = ("cx", "behavioural", "business")
KPI_SCALES = ("nps", "csat5", "csat_pct", "ces", "stars", "percent", "count", "currency", "custom")
DIRECTIONS = ("higher", "lower")
# How often a KPI is measured (govern.yaml `kpis[].cadence`: a name or a number of days; govern.queries.freshness).
KPI_CADENCES = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366}


def kpi_cadence_days(value: Any) -> int | None:
    """`monthly` → 31, `14` → 14, None → None; ValueError naming what is allowed otherwise."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in KPI_CADENCES:
        return KPI_CADENCES[value.strip().lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"must be one of {', '.join(KPI_CADENCES)} or a whole number of days ≥ 1, got {value!r}")
SOLUTION_STATES = ("todo", "in_progress", "done")
# What people read for a solution's state, everywhere (pages, history, agenda, Slack): one vocabulary.
SOLUTION_STATE_TITLES = {"todo": "To do", "in_progress": "In progress", "done": "Delivered"}
APPROVAL_STATUSES = ("pending", "approved", "rejected", "withdrawn", "superseded")
OUTBOX_STATUSES = ("pending", "in_flight", "delivered", "failed", "dead")
OCCURRENCE_STATUSES = ("planned", "held", "skipped", "cancelled", "missed")


# --- people and the council -------------------------------------------------------------------------------------------


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[Optional[str]] = mapped_column(sa.String(254), unique=True)
    slack_id: Mapped[Optional[str]] = mapped_column(sa.String(32), unique=True)
    title: Mapped[Optional[str]] = mapped_column(sa.String(200))
    department: Mapped[Optional[str]] = mapped_column(sa.String(200))
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[Optional[str]] = mapped_column(sa.String(255))
    # Bumped on sign-out, password change, deactivation and role loss: every session signed with an older one ends.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Set when someone else set the password: the person must choose their own at the next sign-in.
    password_reset_required: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    seats: Mapped[list["CouncilSeat"]] = relationship(back_populates="person", cascade="all, delete-orphan")


class ApiToken(Base):
    """A personal API token; only its hash is stored, the secret is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[Optional[dt.datetime]]
    revoked_at: Mapped[Optional[dt.datetime]]

    person: Mapped[Person] = relationship()


class CouncilSeat(Base):
    """A person's seat on the journey council; a journey scope limits coordinator and supporter seats."""

    __tablename__ = "council_seat"
    __table_args__ = (sa.UniqueConstraint("person_id", "role", "journey_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    journey_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("journey.id"), index=True)

    person: Mapped[Person] = relationship(back_populates="seats")
    journey: Mapped[Optional["Journey"]] = relationship()


# --- the journey framework ----------------------------------------------------------------------------------------------


journey_persona = sa.Table(
    "journey_persona",
    Base.metadata,
    sa.Column("journey_id", sa.ForeignKey("journey.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("persona_id", sa.ForeignKey("persona.id", ondelete="CASCADE"), primary_key=True),
)


class Persona(Base):
    __tablename__ = "persona"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    needs: Mapped[list[Any]] = mapped_column(default=list)

    journeys: Mapped[list["Journey"]] = relationship(secondary=journey_persona, back_populates="personas")


class Journey(Base):
    """A customer journey at some level of the hierarchy; `owner_id` empty is an ownership gap the system shows."""

    __tablename__ = "journey"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[str] = mapped_column(sa.String(40))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    parent_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("journey.id"), index=True)
    # The step of the parent journey that this journey details (a micro journey zooming into one macro step).
    parent_step_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("step.id", use_alter=True, name="fk_journey_parent_step_id_step")
    )
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"), index=True)
    slack_channel: Mapped[Optional[str]] = mapped_column(sa.String(80))
    scoring_model: Mapped[Optional[str]] = mapped_column(sa.String(64))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parent: Mapped[Optional["Journey"]] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Journey"]] = relationship(back_populates="parent", order_by="Journey.position")
    owner: Mapped[Optional[Person]] = relationship(foreign_keys=[owner_id])
    stages: Mapped[list["Stage"]] = relationship(
        back_populates="journey", order_by="Stage.position", cascade="all, delete-orphan"
    )
    steps: Mapped[list["Step"]] = relationship(
        back_populates="journey", order_by="Step.position", cascade="all, delete-orphan", foreign_keys="Step.journey_id"
    )
    parent_step: Mapped[Optional["Step"]] = relationship(foreign_keys=[parent_step_id], post_update=True)
    personas: Mapped[list[Persona]] = relationship(secondary=journey_persona, back_populates="journeys")

    # As the API shows them (a list's row has the same names): children by position (ties by id), personas by id.
    @property
    def child_keys(self) -> list[str]:
        return [c.key for c in sorted(self.children, key=lambda c: (c.position, c.id))]

    @property
    def persona_keys(self) -> list[str]:
        return [p.key for p in sorted(self.personas, key=lambda p: p.id)]


class Stage(Base):
    __tablename__ = "stage"
    __table_args__ = (sa.UniqueConstraint("journey_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(sa.ForeignKey("journey.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    position: Mapped[int] = mapped_column(default=0)

    journey: Mapped[Journey] = relationship(back_populates="stages")
    steps: Mapped[list["Step"]] = relationship(back_populates="stage", order_by="Step.position")


class Step(Base):
    __tablename__ = "step"
    __table_args__ = (sa.UniqueConstraint("journey_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(sa.ForeignKey("journey.id", ondelete="CASCADE"), index=True)
    stage_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("stage.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    position: Mapped[int] = mapped_column(default=0)
    touchpoint: Mapped[Optional[str]] = mapped_column(sa.String(200))
    channel: Mapped[Optional[str]] = mapped_column(sa.String(100))
    moment_that_matters: Mapped[bool] = mapped_column(default=False)
    emotion_score: Mapped[Optional[float]]

    journey: Mapped[Journey] = relationship(back_populates="steps", foreign_keys=[journey_id])
    stage: Mapped[Optional[Stage]] = relationship(back_populates="steps")


class Kpi(Base):
    """A KPI definition for a journey or one of its steps, with its scale, direction and target."""

    __tablename__ = "kpi"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    scale: Mapped[str] = mapped_column(sa.String(20))
    scale_min: Mapped[Optional[float]]
    scale_max: Mapped[Optional[float]]
    unit: Mapped[Optional[str]] = mapped_column(sa.String(20))
    direction: Mapped[str] = mapped_column(sa.String(10), default="higher")
    target: Mapped[Optional[float]]
    journey_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("journey.id"), index=True)
    step_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("step.id"), index=True)
    # How often it is measured, in days (govern.yaml `cadence`; govern.queries.freshness says when it is stale) and
    # how long after go-live its outcome is measured (None: the lifecycle's `measure_after_days`).
    cadence_days: Mapped[Optional[int]]
    measure_after_days: Mapped[Optional[int]]

    journey: Mapped[Optional[Journey]] = relationship()
    step: Mapped[Optional[Step]] = relationship()
    measurements: Mapped[list["KpiMeasurement"]] = relationship(
        back_populates="kpi", order_by="KpiMeasurement.measured_at", cascade="all, delete-orphan"
    )


class KpiMeasurement(Base):
    __tablename__ = "kpi_measurement"
    __table_args__ = (sa.UniqueConstraint("kpi_id", "measured_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kpi_id: Mapped[int] = mapped_column(sa.ForeignKey("kpi.id", ondelete="CASCADE"), index=True)
    value: Mapped[float]
    measured_at: Mapped[dt.datetime]
    source: Mapped[Optional[str]] = mapped_column(sa.String(200))
    recorded_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    kpi: Mapped[Kpi] = relationship(back_populates="measurements")


# --- evidence and opportunities -----------------------------------------------------------------------------------------


insight_step = sa.Table(
    "insight_step",
    Base.metadata,
    sa.Column("insight_id", sa.ForeignKey("insight.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("step_id", sa.ForeignKey("step.id"), primary_key=True),
)

opportunity_journey = sa.Table(
    "opportunity_journey",
    Base.metadata,
    sa.Column("opportunity_id", sa.ForeignKey("opportunity.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("journey_id", sa.ForeignKey("journey.id"), primary_key=True),
)

opportunity_insight = sa.Table(
    "opportunity_insight",
    Base.metadata,
    sa.Column("opportunity_id", sa.ForeignKey("opportunity.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("insight_id", sa.ForeignKey("insight.id"), primary_key=True),
)

insight_persona = sa.Table(
    "insight_persona",
    Base.metadata,
    sa.Column("insight_id", sa.ForeignKey("insight.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("persona_id", sa.ForeignKey("persona.id", ondelete="CASCADE"), primary_key=True),
)

SENTIMENT_RANGE = (-2.0, 2.0)

# How much an insight's volume weighs in evidence strength's volume part (govern.scoring.evidence): it counts as
# 1 + floor(log10(volume)) insights, at most VOLUME_WEIGHT_CAP — 1 ticket is 1, 10 are 2, 100 are 3, 1,000 or more 4.
# Whole numbers, so the Python and SQL paths agree exactly; a cluster of 420 tickets outweighs a quote without
# swamping broad, fresh, varied support.
VOLUME_WEIGHT_CAP = 4
VOLUME_WEIGHT_RULE = ("an insight standing for v records counts 1 + floor(log10 v) insights in the volume part, "
                      f"at most {VOLUME_WEIGHT_CAP} (1 → 1, 10 → 2, 100 → 3, 1000+ → 4)")


def volume_weight(volume: int | None) -> int:
    """The rule VOLUME_WEIGHT_RULE for one insight."""
    v = max(1, int(volume or 1))
    return min(VOLUME_WEIGHT_CAP, len(str(v)))


def volume_weight_sql(volume: sa.ColumnElement) -> sa.ColumnElement:
    """VOLUME_WEIGHT_RULE as a SQL expression (no logarithm function needed: thresholds)."""
    return sa.case((volume >= 1000, 4), (volume >= 100, 3), (volume >= 10, 2), else_=1)


class Insight(Base):
    """A piece of evidence; never deleted while linked, never orphaned by a configuration change.

    Imported or fed evidence names its origin: `source_key` (a govern.yaml `sources:` key; null for hand-typed) and
    `external_id` (the record's id there), unique together, so a re-import updates instead of duplicating;
    `content_hash` is the hash of the mapped fields (unchanged rows write nothing). `volume` is how many tickets,
    responses or people it stands for (counted, bounded, by evidence strength: govern.scoring.evidence). A merged
    duplicate points at its survivor (`merged_into_id`) and is counted nowhere."""

    __tablename__ = "insight"
    __table_args__ = (sa.UniqueConstraint("source_key", "external_id", name="uq_insight_source_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    text: Mapped[str] = mapped_column(sa.Text)
    source: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    observed_on: Mapped[dt.date]
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Erased personal data: the text (and source) are replaced, the insight and its links stay (see redaction).
    redacted_at: Mapped[Optional[dt.datetime]]
    redacted_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    redacted_reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    source_key: Mapped[Optional[str]] = mapped_column(sa.String(64))
    external_id: Mapped[Optional[str]] = mapped_column(sa.String(200))
    url: Mapped[Optional[str]] = mapped_column(sa.String(2000))
    volume: Mapped[int] = mapped_column(default=1, server_default="1")
    # -2..+2; `sentiment_suggested` while the value is a suggestion nobody confirmed.
    sentiment: Mapped[Optional[float]] = mapped_column(sa.Float)
    sentiment_suggested: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    tags: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    merged_into_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("insight.id"))
    updated_at: Mapped[Optional[dt.datetime]]
    content_hash: Mapped[Optional[str]] = mapped_column(sa.String(64))

    steps: Mapped[list[Step]] = relationship(secondary=insight_step, order_by="Step.id")
    personas: Mapped[list[Persona]] = relationship(secondary=insight_persona, order_by="Persona.id")
    created_by: Mapped[Optional[Person]] = relationship(foreign_keys=[created_by_id])
    merged_into: Mapped[Optional["Insight"]] = relationship(remote_side=[id], foreign_keys=[merged_into_id])

    @property
    def key(self) -> str:
        return f"INS-{self.number}"

    @property
    def step_refs(self) -> list[str]:
        """Its steps as 'journey/step' keys, as the API shows them (a list's row has the same name)."""
        return [f"{s.journey.key}/{s.key}" for s in self.steps]


class Opportunity(Base):
    """A "How might we …" opportunity; `state` belongs to its lifecycle, `version` guards against lost updates."""

    __tablename__ = "opportunity"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    lifecycle: Mapped[str] = mapped_column(sa.String(64), default="default")
    state: Mapped[str] = mapped_column(sa.String(64), index=True)
    state_reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"), index=True)
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    state_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When the evaluation of its outcome is due: set by the lifecycle's `schedule_evaluation` effect in the transition's
    # transaction, cleared when the opportunity leaves the state that transition led to (read by govern.queries).
    evaluation_due_at: Mapped[Optional[dt.datetime]] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    owner: Mapped[Optional[Person]] = relationship(foreign_keys=[owner_id])
    created_by: Mapped[Optional[Person]] = relationship(foreign_keys=[created_by_id])
    journeys: Mapped[list[Journey]] = relationship(secondary=opportunity_journey, order_by="Journey.id")
    insights: Mapped[list[Insight]] = relationship(secondary=opportunity_insight, order_by="Insight.id")
    solutions: Mapped[list["Solution"]] = relationship(
        back_populates="opportunity", order_by="Solution.id", cascade="all, delete-orphan"
    )
    kpi_links: Mapped[list["OpportunityKpi"]] = relationship(
        back_populates="opportunity", order_by="OpportunityKpi.kpi_id", cascade="all, delete-orphan"
    )
    score_inputs: Mapped[list["ScoreInput"]] = relationship(
        back_populates="opportunity", order_by="ScoreInput.name", cascade="all, delete-orphan"
    )

    @property
    def key(self) -> str:
        return f"OPP-{self.number}"

    # The keys of what it links to, as the API shows them; a list's row (govern.queries.listings) has the same names.
    @property
    def journey_keys(self) -> list[str]:
        return [j.key for j in self.journeys]

    @property
    def insight_keys(self) -> list[str]:
        return [i.key for i in self.insights]

    @property
    def kpi_keys(self) -> list[str]:
        return [link.kpi.key for link in self.kpi_links]

    @property
    def solution_keys(self) -> list[str]:
        return [s.key for s in self.solutions]


class EvidenceSummary(Base):
    """What backs an opportunity, kept current in the same transaction as every change of its evidence (an insight
    linked or unlinked, a linked insight's steps changed), so that ranking and guards read one row per opportunity
    instead of aggregating every link each time (`govern.services.summary.refresh_evidence_summary`)."""

    __tablename__ = "evidence_summary"

    opportunity_id: Mapped[int] = mapped_column(
        sa.ForeignKey("opportunity.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    # Linked insights, merged duplicates excluded (what guards count as evidence).
    insight_count: Mapped[int] = mapped_column(default=0)
    # The same insights weighted by their volume, for evidence strength's volume part: each counts
    # 1 + floor(log10(volume)), at most 4 (govern.scoring.evidence.VOLUME_WEIGHT_RULE).
    weighted_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Distinct journeys of the steps the insights are linked to (the opportunity's own journey links do not count).
    journey_count: Mapped[int] = mapped_column(default=0)
    # Distinct sources, compared case-insensitively and trimmed.
    source_count: Mapped[int] = mapped_column(default=0)
    # Linked insights attached to no step (they count for no journey).
    unlinked_count: Mapped[int] = mapped_column(default=0)
    newest_observed_on: Mapped[Optional[dt.date]]


# The inputs the built-in models (RICE, ICE, WSJF) record: one column each in RecordedInputs.
RECORDED_INPUT_COLUMNS = ("reach", "impact", "confidence", "effort", "ease", "business_value", "time_criticality",
                          "risk_reduction", "job_size")


class RecordedInputs(Base):
    """The built-in models' recorded inputs of an opportunity in one row (NULL: not recorded), kept current in the same
    transaction as every change of its ScoreInput rows, so that ranking a large portfolio reads one row per
    opportunity instead of pivoting every input each time (`govern.services.summary.refresh_recorded_inputs`). An
    opportunity with no recorded input has no row. Custom inputs (scoring.inputs) are read from ScoreInput."""

    __tablename__ = "recorded_inputs"

    opportunity_id: Mapped[int] = mapped_column(
        sa.ForeignKey("opportunity.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    reach: Mapped[Optional[float]]
    impact: Mapped[Optional[float]]
    confidence: Mapped[Optional[float]]
    effort: Mapped[Optional[float]]
    ease: Mapped[Optional[float]]
    business_value: Mapped[Optional[float]]
    time_criticality: Mapped[Optional[float]]
    risk_reduction: Mapped[Optional[float]]
    job_size: Mapped[Optional[float]]


def pivoted_inputs(names: Iterable[str]) -> list[sa.ColumnElement]:
    """Over ScoreInput rows grouped by opportunity: one column per input name, the value recorded under it (NULL: not
    recorded). The one pivot that both the maintained RecordedInputs rows and ranking by custom inputs read."""
    return [sa.func.max(sa.case((ScoreInput.name == name, ScoreInput.value))) for name in names]


class NumberCounter(Base):
    """The last number handed out per kind of key (INS-n, OPP-n). Taking a number updates this row, which holds its
    lock until the transaction ends, so concurrent writers never get the same number; a deleted row's number is never
    handed out again, because the counter only grows."""

    __tablename__ = "number_counter"

    kind: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class OpportunityKpi(Base):
    """A KPI an opportunity targets, with the baseline taken on entering implement and the evaluated outcome."""

    __tablename__ = "opportunity_kpi"

    opportunity_id: Mapped[int] = mapped_column(sa.ForeignKey("opportunity.id", ondelete="CASCADE"), primary_key=True)
    kpi_id: Mapped[int] = mapped_column(sa.ForeignKey("kpi.id"), primary_key=True)
    baseline_value: Mapped[Optional[float]]
    baseline_at: Mapped[Optional[dt.datetime]]
    outcome_value: Mapped[Optional[float]]
    outcome_at: Mapped[Optional[dt.datetime]]
    verdict: Mapped[Optional[str]] = mapped_column(sa.String(20))  # improved | no_change | worse

    opportunity: Mapped[Opportunity] = relationship(back_populates="kpi_links")
    kpi: Mapped[Kpi] = relationship()


class ScoreInput(Base):
    """One named scoring input for an opportunity (reach, impact, …); scores are always computed from these."""

    __tablename__ = "score_input"
    __table_args__ = (sa.UniqueConstraint("opportunity_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(sa.ForeignKey("opportunity.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[float]
    recorded_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    opportunity: Mapped[Opportunity] = relationship(back_populates="score_inputs")


class Solution(Base):
    """Concrete work for an opportunity; becomes a backlog item in Jira (`external_key`)."""

    __tablename__ = "solution"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(sa.ForeignKey("opportunity.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[str] = mapped_column(sa.String(20), default="todo")
    due_on: Mapped[Optional[dt.date]]
    external_key: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
    external_url: Mapped[Optional[str]] = mapped_column(sa.String(500))
    external_status: Mapped[Optional[str]] = mapped_column(sa.String(100))
    external_updated_at: Mapped[Optional[dt.datetime]]
    synced_at: Mapped[Optional[dt.datetime]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    opportunity: Mapped[Opportunity] = relationship(back_populates="solutions")

    @property
    def key(self) -> str:
        return f"SOL-{self.id}"


class OpportunityTransition(Base):
    """Each state change, for history and the cumulative-flow chart (the audit log holds the full record)."""

    __tablename__ = "opportunity_transition"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(sa.ForeignKey("opportunity.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(sa.String(64))
    from_state: Mapped[Optional[str]] = mapped_column(sa.String(64))
    to_state: Mapped[str] = mapped_column(sa.String(64))
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    approval_request_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("approval_request.id"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class ApprovalRequest(Base):
    """A request to make a transition that needs approval; `rule` is the approval rule captured when requested."""

    __tablename__ = "approval_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(sa.ForeignKey("opportunity.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(sa.String(64))
    from_state: Mapped[str] = mapped_column(sa.String(64))
    to_state: Mapped[str] = mapped_column(sa.String(64))
    requested_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Who could approve, fixed when the request was made (journey owners by key, council role holders, their
    # handles): a later edit of the opportunity's journeys or of the council cannot change who must approve.
    approvers: Mapped[Optional[dict[str, Any]]]
    status: Mapped[str] = mapped_column(sa.String(20), default="pending", index=True)
    decided_reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[Optional[dt.datetime]]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    opportunity: Mapped[Opportunity] = relationship()
    requested_by: Mapped[Optional[Person]] = relationship()
    votes: Mapped[list["ApprovalVote"]] = relationship(
        back_populates="request", order_by="ApprovalVote.id", cascade="all, delete-orphan"
    )


class ApprovalVote(Base):
    __tablename__ = "approval_vote"
    __table_args__ = (sa.UniqueConstraint("request_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_request.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id"))
    decision: Mapped[str] = mapped_column(sa.String(10))  # approve | reject
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    # Which part of the rule this vote satisfied, e.g. "owner:switching-providers" or "role:lead".
    capacity: Mapped[Optional[str]] = mapped_column(sa.String(120))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[ApprovalRequest] = relationship(back_populates="votes")
    person: Mapped[Person] = relationship()


# --- rituals ------------------------------------------------------------------------------------------------------------


class Ritual(Base):
    """A recurring review (weekly council review, monthly KPI review …) declared in govern.yaml."""

    __tablename__ = "ritual"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    purpose: Mapped[str] = mapped_column(sa.Text, default="")
    cadence_kind: Mapped[str] = mapped_column(sa.String(10))  # cron | rrule
    cadence: Mapped[str] = mapped_column(sa.String(300))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    duration_minutes: Mapped[int] = mapped_column(default=60)
    scope_kind: Mapped[str] = mapped_column(sa.String(20), default="council")  # council | journey | subtree
    scope_journey_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("journey.id"))
    attendee_roles: Mapped[list[Any]] = mapped_column(default=list)
    attendee_people: Mapped[list[Any]] = mapped_column(default=list)
    slack_channel: Mapped[Optional[str]] = mapped_column(sa.String(80))
    agenda_sections: Mapped[list[Any]] = mapped_column(default=list)
    agenda_lead_minutes: Mapped[int] = mapped_column(default=60)
    piggyback_on: Mapped[Optional[str]] = mapped_column(sa.String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    # When the ritual was first declared: its past starts at its first occurrence from then (or its `since:`).
    created_at: Mapped[Optional[dt.datetime]] = mapped_column(default=utcnow)

    scope_journey: Mapped[Optional[Journey]] = relationship()


class RitualOccurrence(Base):
    """One occurrence of a ritual, keyed by (ritual, scheduled time) so that it fires exactly once."""

    __tablename__ = "ritual_occurrence"
    __table_args__ = (sa.UniqueConstraint("ritual_id", "scheduled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ritual_id: Mapped[int] = mapped_column(sa.ForeignKey("ritual.id", ondelete="CASCADE"), index=True)
    scheduled_at: Mapped[dt.datetime]  # UTC
    status: Mapped[str] = mapped_column(sa.String(20), default="planned")
    agenda: Mapped[Optional[dict[str, Any]]] = mapped_column(sa.JSON)
    agenda_built_at: Mapped[Optional[dt.datetime]]
    agenda_posted_at: Mapped[Optional[dt.datetime]]
    notes: Mapped[Optional[str]] = mapped_column(sa.Text)
    held_at: Mapped[Optional[dt.datetime]]
    recorded_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    fired_by: Mapped[Optional[str]] = mapped_column(sa.String(100))
    # A moved occurrence keeps its cadence slot (`scheduled_at`, the unique key) and meets at `moved_to` instead.
    moved_to: Mapped[Optional[dt.datetime]]
    # Why it was skipped, cancelled or moved (shown in the calendar feed).
    status_reason: Mapped[Optional[str]] = mapped_column(sa.Text)

    ritual: Mapped[Ritual] = relationship()
    attendance: Mapped[list["Attendance"]] = relationship(cascade="all, delete-orphan", back_populates="occurrence")


class Attendance(Base):
    __tablename__ = "attendance"

    occurrence_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ritual_occurrence.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id"), primary_key=True)
    present: Mapped[bool] = mapped_column(default=True)

    occurrence: Mapped[RitualOccurrence] = relationship(back_populates="attendance")
    person: Mapped[Person] = relationship()


class Decision(Base):
    """A traceable decision: who decided what, when, in which ritual, about which opportunity or request."""

    __tablename__ = "decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("ritual_occurrence.id"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    opportunity_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("opportunity.id"))
    approval_request_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("approval_request.id"))
    outcome: Mapped[Optional[str]] = mapped_column(sa.String(20))
    decided_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FollowUp(Base):
    __tablename__ = "follow_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("decision.id"))
    occurrence_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("ritual_occurrence.id"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    due_on: Mapped[Optional[dt.date]]
    done_at: Mapped[Optional[dt.datetime]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    owner: Mapped[Optional[Person]] = relationship()


class MinutesVersion(Base):
    """An earlier text of an occurrence's notes: editing the minutes after the meeting keeps every version."""

    __tablename__ = "minutes_version"
    __table_args__ = (sa.UniqueConstraint("occurrence_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(sa.ForeignKey("ritual_occurrence.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    notes: Mapped[Optional[str]] = mapped_column(sa.Text)
    recorded_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AgendaItem(Base):
    """A point someone put on an occurrence's agenda before the meeting."""

    __tablename__ = "agenda_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(sa.ForeignKey("ritual_occurrence.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    added_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    added_by: Mapped[Optional[Person]] = relationship()


class CalendarToken(Base):
    """An unguessable, revocable token behind an iCalendar feed (per ritual or per person)."""

    __tablename__ = "calendar_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    ritual_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("ritual.id", ondelete="CASCADE"))
    person_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[Optional[dt.datetime]]


# --- delivery, audit and settings ---------------------------------------------------------------------------------------


class ChecklistTick(Base):
    """A lifecycle check (a checklist guard such as "clinical safety case attached") ticked for an opportunity: by
    whom, when, with an optional link to its evidence. Unticking removes the row; the audit log keeps both."""

    __tablename__ = "checklist_tick"
    __table_args__ = (sa.UniqueConstraint("opportunity_id", "check"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(sa.ForeignKey("opportunity.id", ondelete="CASCADE"), index=True)
    check: Mapped[str] = mapped_column(sa.String(64))
    ticked_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    ticked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    link: Mapped[Optional[str]] = mapped_column(sa.String(500))
    note: Mapped[Optional[str]] = mapped_column(sa.Text)

    ticked_by: Mapped[Optional[Person]] = relationship()


class OutboxMessage(Base):
    """An effect to deliver outside the database (Jira, Slack), written in the same transaction as the change."""

    __tablename__ = "outbox_message"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(20))  # jira | slack | ...
    kind: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedupe_key: Mapped[Optional[str]] = mapped_column(sa.String(200), unique=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[Optional[str]] = mapped_column(sa.Text)
    external_ref: Mapped[Optional[str]] = mapped_column(sa.String(200))
    claimed_by: Mapped[Optional[str]] = mapped_column(sa.String(100))
    claimed_until: Mapped[Optional[dt.datetime]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[Optional[dt.datetime]]
    # An attempt may have landed without our knowing (its answer was lost, or its worker's lease ran out) at or
    # before this time: the next attempt looks for it at the remote (Jira's labels, Slack's history) before writing.
    unsure_since: Mapped[Optional[dt.datetime]]


class OutboxTopicState(Base):
    """Delivery health of one outbox topic: a topic whose remote is down is paused as a whole (a circuit breaker), so
    that an outage costs one probe per backoff step instead of one failed call per message."""

    __tablename__ = "outbox_topic_state"

    topic: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    paused_until: Mapped[Optional[dt.datetime]]
    failures: Mapped[int] = mapped_column(default=0)  # consecutive failed batches; 0 = healthy
    last_error: Mapped[Optional[str]] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SchedulerInstance(Base):
    """A scheduler process and its last round: the operations page shows who leads and whether they still tick.

    Written by each scheduler on every round (a heartbeat); the leader lock itself stays in PostgreSQL or a file."""

    __tablename__ = "scheduler_instance"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)  # host:pid
    leader: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_tick_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    leader_since: Mapped[Optional[dt.datetime]]


class IntakeRejection(Base):
    """A webhook record refused or an import row skipped (`--skip-invalid`), kept with the reason for the operations
    page: nothing sent is lost silently, and a retry of the corrected record is safe (upsert by external id)."""

    __tablename__ = "intake_rejection"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_key: Mapped[str] = mapped_column(sa.String(64), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    # The record as received, truncated to INTAKE_PAYLOAD_LIMIT characters.
    payload: Mapped[str] = mapped_column(sa.Text, default="")
    row_number: Mapped[Optional[int]]


INTAKE_PAYLOAD_LIMIT = 64 * 1024


class JiraWebhookReceipt(Base):
    """A Jira webhook delivery already handled, by Jira's `X-Atlassian-Webhook-Identifier` (unchanged across Jira's
    retries): a replayed or retried delivery changes nothing."""

    __tablename__ = "jira_webhook_receipt"

    identifier: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    issue_key: Mapped[Optional[str]] = mapped_column(sa.String(64))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class AuditEvent(Base):
    """Append-only, hash-chained record of every change and decision."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    before: Mapped[Optional[dict[str, Any]]] = mapped_column(sa.JSON)
    after: Mapped[Optional[dict[str, Any]]] = mapped_column(sa.JSON)
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    # The chain covers the digest of (before, after, reason), so an erased payload (redacted_at set) still verifies.
    payload_digest: Mapped[Optional[str]] = mapped_column(sa.String(64))
    redacted_at: Mapped[Optional[dt.datetime]]

    __table_args__ = (sa.Index("ix_audit_entity", "entity_type", "entity_id"),)


class Setting(Base):
    """Organisation-wide configuration from govern.yaml (lifecycle, scoring, terminology, integrations) and sync state."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[Optional[dict[str, Any]]] = mapped_column(sa.JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


_EVERY_SETTING = sa.select(Setting).execution_options(populate_existing=True)  # built once: read in most transactions


def setting_row(session, key: str) -> Setting | None:
    """A setting's row. The first read in a transaction loads every setting at once (a handful of rows of
    organisation configuration), so a use case reading several settings, or one that is absent, costs one statement.
    The rows are held in `session.info` for the rest of the transaction (the identity map alone holds them weakly)."""
    cache = session.info.get("settings")
    if cache is None or cache[0] is not session.get_transaction():
        rows = session.scalars(_EVERY_SETTING).all()
        cache = session.info["settings"] = (session.get_transaction(), {row.key: row for row in rows})
    row = cache[1].get(key)
    if row is None:  # added in this transaction (flushed or not) after the rows were read
        row = session.identity_map.get(identity_key(Setting, (key,))) or next(
            (o for o in session.new if isinstance(o, Setting) and o.key == key), None)
        if row is not None:
            cache[1][key] = row
    return None if row is not None and row in session.deleted else row


# --- protection against guessing and replays ---------------------------------------------------------------------------


class SigninThrottle(Base):
    """Failed sign-ins per handle (or e-mail) and per client address; a lock ends further tries until it lapses."""

    __tablename__ = "signin_throttle"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[Optional[dt.datetime]]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequestReceipt(Base):
    """A signed inbound request already handled (Slack request signature, Jira webhook identifier): a replay or a
    retry of the same request is recognised and not executed twice."""

    __tablename__ = "request_receipt"
    __table_args__ = (sa.UniqueConstraint("source", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(20))
    key: Mapped[str] = mapped_column(sa.String(128))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
