"""What backs an opportunity, counted by one rule for every reader: the lifecycle's guards (`has_evidence`,
`evidence_across_journeys`), the opportunity page's header, the approvals inbox, the agenda.

- *pieces*: the insights linked to the opportunity (the maintained evidence summary).
- *journeys*: the journeys of the steps those insights are linked to (the opportunity's own journey links do not
  count), by govern.yaml `evidence.journey_breadth`: `independent` (the default) counts a journey nested in another
  journey that also has evidence as that one (a micro journey and its macro journey are one); `distinct` counts each.
- *sources*: distinct sources of those insights.

The evidence *strength* (0-100) is the scoring model's computed input (govern.scoring.evidence) and is always labelled
"evidence strength N/100", never bare "evidence N".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from govern.model import EvidenceSummary, Insight, Journey, Step, insight_step, opportunity_insight, setting_row
from govern.queries.reference import reference
from govern.vocabulary import vocabulary_of

JOURNEY_BREADTH_RULE_WORDS = {
    "independent": "a journey inside another counts as that one",
    "distinct": "every distinct journey counts",
}


def journey_breadth_rule(session: Session) -> str:
    """govern.yaml `evidence.journey_breadth`: `independent` (default) or `distinct`."""
    row = setting_row(session, "evidence")
    return ((row.value if row is not None else None) or {}).get("journey_breadth") or "independent"


def nested_evidence_journeys(opportunity_id: Any) -> sa.Select:
    """How many of the journeys the opportunity's evidence comes from lie inside another of them (at any depth), as
    a scalar subquery: evidence from "Switching providers" and its micro journey "Activating my SIM" is evidence from
    one journey; from "Switching providers" and "Moving house" from two."""
    linked = (sa.select(opportunity_insight.c.insight_id)
              .join(Insight, Insight.id == opportunity_insight.c.insight_id)
              .where(opportunity_insight.c.opportunity_id == opportunity_id, Insight.merged_into_id.is_(None)))
    evidenced = (sa.select(Step.journey_id).select_from(insight_step.join(Step, Step.id == insight_step.c.step_id))
                 .where(insight_step.c.insight_id.in_(linked)))
    ancestry = (sa.select(Journey.id.label("start"), Journey.parent_id.label("up"))
                .where(Journey.id.in_(evidenced)).cte("ancestry", recursive=True))
    parent = aliased(Journey)
    ancestry = ancestry.union_all(sa.select(ancestry.c.start, parent.parent_id)
                                  .select_from(ancestry.join(parent, parent.id == ancestry.c.up)))
    return sa.select(sa.func.count(sa.distinct(ancestry.c.start))).where(ancestry.c.up.in_(evidenced))


def nested_evidence_journeys_many(session: Session, opportunity_ids: list[int]) -> dict[int, int]:
    """`nested_evidence_journeys` of many opportunities in one statement: of the journeys each one's evidence comes
    from, how many lie inside another of them (at any depth), by the journey tree of the reference snapshot."""
    if not opportunity_ids:
        return {}
    evidenced: dict[int, set[int]] = {}
    for oid, journey_id in session.execute(
            sa.select(opportunity_insight.c.opportunity_id, Step.journey_id).distinct()
            .select_from(opportunity_insight.join(insight_step,
                                                  insight_step.c.insight_id == opportunity_insight.c.insight_id)
                         .join(Step, Step.id == insight_step.c.step_id)
                         .join(Insight, Insight.id == opportunity_insight.c.insight_id))
            .where(opportunity_insight.c.opportunity_id.in_(opportunity_ids), Insight.merged_into_id.is_(None))):
        evidenced.setdefault(oid, set()).add(journey_id)
    ref = reference(session)
    out: dict[int, int] = {}
    for oid, journeys in evidenced.items():
        nested = 0
        for jid in journeys:
            cursor, seen = ref.journey(jid), set()
            parent = cursor.parent_id if cursor is not None else None
            while parent is not None and parent not in seen:
                if parent in journeys:
                    nested += 1
                    break
                seen.add(parent)
                up = ref.journey(parent)
                parent = up.parent_id if up is not None else None
        out[oid] = nested
    return out


@dataclass(frozen=True)
class EvidenceTally:
    """What backs one opportunity, by the rule above (the same numbers the guards read)."""

    pieces: int
    journeys: int
    sources: int
    unlinked: int
    rule: str  # the journey breadth rule the journeys were counted by
    words: Any = None  # the organisation's vocabulary (nouns for the label)

    def label(self) -> str:
        """'3 pieces of evidence from 2 journeys' in the organisation's words."""
        words = self.words
        pieces = words.count(self.pieces, "evidence") if words else f"{self.pieces} pieces of evidence"
        journeys = words.count(self.journeys, "journey") if words else f"{self.journeys} journeys"
        return f"{pieces} from {journeys}"

    @property
    def rule_words(self) -> str:
        return JOURNEY_BREADTH_RULE_WORDS.get(self.rule, self.rule)


def evidence_tallies(session: Session, opportunity_ids: Iterable[int]) -> dict[int, EvidenceTally]:
    """{opportunity id: its tally} for many opportunities in two statements (zeros for an opportunity without
    evidence)."""
    ids = sorted(set(opportunity_ids))
    if not ids:
        return {}
    counts = {oid: (0, 0, 0, 0) for oid in ids}
    for oid, n, j, src, unlinked in session.execute(
            sa.select(EvidenceSummary.opportunity_id, EvidenceSummary.insight_count, EvidenceSummary.journey_count,
                      EvidenceSummary.source_count, EvidenceSummary.unlinked_count)
            .where(EvidenceSummary.opportunity_id.in_(ids))):
        counts[oid] = (n or 0, j or 0, src or 0, unlinked or 0)
    rule = journey_breadth_rule(session)
    nested = nested_evidence_journeys_many(session, ids) if rule == "independent" else {}
    words = vocabulary_of(session)
    return {oid: EvidenceTally(n, max(0, j - nested.get(oid, 0)), src, unlinked, rule, words)
            for oid, (n, j, src, unlinked) in counts.items()}
