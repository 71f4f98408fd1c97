"""Triage: evidence that matches no step (an insight with no steps that is not a merged duplicate) waits here for the
people who sort it, with suggested steps.

Who sees which insight in triage (an insight without steps has no journey of its own):
- when its source belongs to journeys (govern.yaml: the journey a source declares, else the journeys its step
  rules point at), it waits for those journeys: the council (lead, manager, admin) and the coordinators and owners
  whose journeys include one of them see it;
- otherwise it waits for the council and every coordinator;
- whoever recorded an insight always sees it.
Supporters and viewers see only what they recorded.

Every read here is a bounded number of statements: the page with its total (one), its rows' personas (one), the
step documents for the suggestions (two), whatever the number of insights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from govern.model import Insight, Journey, insight_step, setting_row
from govern.policy import Actor, Scope, ACTIONS
from govern.queries import suggestions
from govern.queries.paging import rows_with_total

SOURCES_SETTING = "sources"
COUNCIL_ROLES = ("admin", "lead", "manager")


def source_journeys(session: Session) -> dict[str, set[int]]:
    """{source key: journey ids} for the sources of govern.yaml: the journey a source declares (`journey:`), else the
    journeys its step rules point at (`sources[].steps[].step`: where its evidence belongs, so what none of its rules
    matched waits for those journeys' people). The setting is read with every setting at once; one statement for
    the journeys, none when no source names one."""
    row = setting_row(session, SOURCES_SETTING)
    declared: dict[str, set[str]] = {}
    for source in (row.value if row is not None and isinstance(row.value, list) else []):
        if not isinstance(source, dict) or not isinstance(source.get("key"), str):
            continue
        if isinstance(source.get("journey"), str):
            keys = {source["journey"]}
        else:
            keys = {str(rule.get("step", "")).partition("/")[0] for rule in source.get("steps") or []
                    if isinstance(rule, dict) and rule.get("step")}
        if keys:
            declared[source["key"]] = keys
    if not declared:
        return {}
    wanted = set().union(*declared.values())
    ids = dict(session.execute(sa.select(Journey.key, Journey.id).where(Journey.key.in_(wanted))).all())
    return {key: {ids[k] for k in keys if k in ids} for key, keys in declared.items()}


def in_triage() -> list[sa.ColumnElement[bool]]:
    """An insight waits in triage when it has no step and is not a merged duplicate."""
    return [~sa.exists().where(insight_step.c.insight_id == Insight.id), Insight.merged_into_id.is_(None)]


def visible_to(session: Session, actor: Actor) -> sa.ColumnElement[bool]:
    """The triage items `actor` sees (the rule in the module's docstring), as one SQL condition."""
    if actor.system or any(r in actor.roles for r in COUNCIL_ROLES) or _curates_everywhere(actor):
        return sa.true()
    mine = Insight.created_by_id == actor.person_id if actor.person_id is not None else sa.false()
    by_source = source_journeys(session)
    covered: set[int] = set()
    for role in ("coordinator", "owner"):
        covered |= set(actor.scopes.get(role, frozenset()))
    theirs = [key for key, journey_ids in by_source.items() if journey_ids & covered]
    clauses = [mine]
    if theirs:
        clauses.append(Insight.source_key.in_(theirs))
    if "coordinator" in actor.roles:  # what waits for no journey waits for every coordinator
        clauses.append(sa.or_(Insight.source_key.is_(None), Insight.source_key.not_in(list(by_source)))
                       if by_source else sa.true())
    return sa.or_(*clauses)


def _curates_everywhere(actor: Actor) -> bool:
    grants = ACTIONS["evidence.curate"][1]
    return any(grants.get(r) is Scope.ALL or actor.grants.get(r, {}).get("evidence.curate") is Scope.ALL
               for r in actor.roles)


@dataclass(frozen=True)
class TriageRow:
    insight: Insight
    suggestions: list[suggestions.StepSuggestion]
    duplicates: list[suggestions.DuplicateSuggestion]


@dataclass(frozen=True)
class TriagePage:
    rows: list[TriageRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def triage_count(session: Session, actor: Actor) -> int:
    """How many insights wait in `actor`'s triage (one statement)."""
    return session.scalar(sa.select(sa.func.count()).select_from(Insight)
                          .where(*in_triage(), visible_to(session, actor))) or 0


def triage_page(session: Session, actor: Actor, *, page: int = 1, per_page: int = 25,
                with_suggestions: bool = True, limit_suggestions: int = 3) -> TriagePage:
    """One page of `actor`'s triage, newest first, each insight with its suggested steps (and near-duplicates among
    the page's insights)."""
    page, per_page = max(1, page), max(1, min(per_page, 200))
    query = (sa.select(Insight).where(*in_triage(), visible_to(session, actor))
             .order_by(Insight.number.desc()))
    rows, total = rows_with_total(session, query, (page - 1) * per_page, per_page)
    insights = [row[0] for row in rows]
    if insights:  # the page's personas and authors in one statement each (never one per row)
        session.scalars(sa.select(Insight).where(Insight.id.in_([i.id for i in insights]))
                        .options(selectinload(Insight.personas), selectinload(Insight.created_by))).all()
    texts = [i.text for i in insights]
    steps = suggestions.step_documents(session) if with_suggestions and insights else []
    suggested = suggestions.suggest_steps_for_texts(texts, steps, limit=limit_suggestions) if steps else \
        [[] for _ in insights]
    pairs = suggestions.duplicate_pairs([(i.key, i.text) for i in insights]) if with_suggestions else []
    dupes: dict[str, list[suggestions.DuplicateSuggestion]] = {}
    by_key = {i.key: i for i in insights}
    for older, newer, score in pairs:
        dupes.setdefault(newer, []).append(suggestions.DuplicateSuggestion(older, by_key[older].text, score))
        dupes.setdefault(older, []).append(suggestions.DuplicateSuggestion(newer, by_key[newer].text, score))
    return TriagePage([TriageRow(i, s, dupes.get(i.key, [])) for i, s in zip(insights, suggested)], total, page,
                      per_page)


# --- suggestions for one insight, duplicates on creation, themes -----------------------------------------------------


DUPLICATE_CANDIDATES = 500  # the most recent live insights a new text is compared with (plus same text / source)


def likely_duplicates(session: Session, text: str, *, source: str | None = None, source_key: str | None = None,
                      external_id: str | None = None, exclude_id: int | None = None,
                      limit: int = 5) -> list[suggestions.DuplicateSuggestion]:
    """Insights a new (or edited) insight probably repeats: the same source reference (source key + external id),
    or a near-identical text among the same text, the same source's and the most recent DUPLICATE_CANDIDATES live
    insights. At most three statements."""
    found: dict[str, suggestions.DuplicateSuggestion] = {}
    live = [Insight.merged_into_id.is_(None), Insight.redacted_at.is_(None)]
    if exclude_id is not None:
        live.append(Insight.id != exclude_id)
    if source_key and external_id:
        for insight in session.scalars(sa.select(Insight).where(Insight.source_key == source_key,
                                                                Insight.external_id == external_id, *live[:1])):
            found[insight.key] = suggestions.DuplicateSuggestion(insight.key, insight.text, 1.0)
    if not isinstance(text, str) or not text.strip():
        return list(found.values())
    recent = sa.select(Insight.id).where(*live).order_by(Insight.number.desc()).limit(DUPLICATE_CANDIDATES)
    same = [Insight.id.in_(recent.scalar_subquery()),
            sa.func.lower(sa.func.trim(Insight.text)) == text.strip().lower()]
    if source and source.strip():
        same.append(sa.func.lower(sa.func.trim(Insight.source)) == source.strip().lower())
    rows = session.execute(sa.select(Insight.number, Insight.text).where(*live, sa.or_(*same))
                           .order_by(Insight.number.desc()).limit(DUPLICATE_CANDIDATES * 2)).all()
    for d in suggestions.near_duplicates(text, [(f"INS-{n}", t) for n, t in rows], limit=limit):
        found.setdefault(d.key, d)
    return sorted(found.values(), key=lambda d: -d.score)[:limit]


def suggestions_for(session: Session, insight: Insight, *, limit: int = 5) -> dict[str, Any]:
    """Suggested steps (not already linked), near-duplicates and, unless a person set one, a sentiment for one
    insight; each labelled a suggestion."""
    linked = {f"{s.journey.key}/{s.key}" for s in insight.steps}
    steps = [s for s in suggestions.step_documents(session) if s.ref not in linked]
    return {
        "label": suggestions.SUGGESTION,
        "steps": suggestions.suggest_steps(insight.text, steps, limit=limit),
        "duplicates": likely_duplicates(session, insight.text, source=insight.source, exclude_id=insight.id),
        "sentiment": (suggestions.suggest_sentiment(insight.text)
                      if insight.sentiment is None or insight.sentiment_suggested else None),
    }


@dataclass(frozen=True)
class ThemesView:
    themes: list[suggestions.Theme]
    considered: int  # insights clustered
    total: int  # insights in the set (more than considered when capped)
    cap: int
    scope: str


def themes_view(session: Session, actor: Actor, *, scope: str = "triage", journey: str | None = None,
                n_themes: int | None = None) -> ThemesView:
    """Themes across a set of evidence: `triage` (what `actor` sees waiting), `all`, or one journey's evidence; the
    most recent THEMES_CAP insights of the set are clustered. Four statements: the count, the texts, the step
    documents (two)."""
    cap = suggestions.THEMES_CAP
    clauses: list[Any] = [Insight.merged_into_id.is_(None), Insight.redacted_at.is_(None)]
    if scope == "triage":
        clauses += [*in_triage()[:1], visible_to(session, actor)]
    elif journey:
        from govern.model import Step

        clauses.append(Insight.id.in_(sa.select(insight_step.c.insight_id)
                                      .join(Step, Step.id == insight_step.c.step_id)
                                      .join(Journey, Journey.id == Step.journey_id).where(Journey.key == journey)))
    total = session.scalar(sa.select(sa.func.count()).select_from(Insight).where(*clauses)) or 0
    rows = session.execute(sa.select(Insight.number, Insight.text).where(*clauses)
                           .order_by(Insight.number.desc()).limit(cap)).all()
    items = [(f"INS-{n}", t) for n, t in rows]
    steps = suggestions.step_documents(session) if items else []
    return ThemesView(suggestions.themes(items, steps, n_themes=n_themes), len(items), total, cap,
                      scope if scope == "triage" or not journey else f"journey {journey}")
