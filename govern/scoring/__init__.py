"""Prioritisation: the scoring models declared in govern.yaml (`scoring:`), evidence strength, and portfolio ranking.

A score is always computed from recorded inputs (`ScoreInput` rows) and the evidence behind an opportunity; nobody types
a score in. The models (one class per kind in :mod:`govern.scoring.models`):

- ``rice``     reach × impact × confidence ÷ effort. Impact on the usual scale 3 (massive) / 2 (high) / 1 (medium) /
               0.5 (low) / 0.25 (minimal); confidence 100 / 80 / 50 (%); effort in person-months (> 0).
- ``ice``      impact × confidence × ease, each 1-10 (``combine: mean`` takes their average instead).
- ``wsjf``     (business value + time criticality + risk reduction / opportunity enablement) ÷ job size, each on the
               modified Fibonacci scale 1, 2, 3, 5, 8, 13, 20.
- ``weighted`` named criteria with weights: each input is normalised to 0-100 across the portfolio being scored
               (min-max; all equal → 50), multiplied by its weight and summed; the sum is normalised again to 0-100
               against the lowest and highest sums the weights allow, so a negative weight lowers the score.
- ``formula``  a custom arithmetic formula over named inputs, parsed and evaluated with simpleeval (never ``eval``).

Every model may also set ``evidence_weight`` (w ≥ 0): the score is multiplied by (1 + w × evidence strength ÷ 100), so
an opportunity defined once and backed across journeys rises. ``evidence_strength`` is also an input that weighted
criteria and formulas may name directly (see :func:`evidence_strength` for the rule).

Configuration (govern.yaml)::

    scoring:
      default: rice                 # the organisation's model; a journey may name another (journeys[].scoring_model)
      inputs:                       # optional: custom inputs usable by weighted criteria and formulas
        strategic_fit: {min: 0, max: 10, description: "fit with this year's strategy"}
      models:
        rice: {kind: rice, evidence_weight: 0.5}
        council_view:
          kind: weighted
          criteria: {reach: 2, evidence_strength: 3, strategic_fit: 1, effort: -1}
        quick: {kind: formula, formula: "reach * impact / effort + evidence_strength"}

``rice``, ``ice`` and ``wsjf`` are always available under their own names, declared or not.

The package: `inputs` (what an input may hold), `evidence` (evidence strength), `formula` (custom formulas), `models`
(the kinds), `config` (the `scoring:` section), `ranking` (ordering scores), `portfolio` (the database side:
recording inputs, scoring and ranking the portfolio). Import from here.
"""

from govern.scoring.config import (
    DEFAULT_SECTION, ScoringConfig, load_scoring_config, validate_journey_models, validate_scoring_config,
)
from govern.scoring.evidence import (
    EVIDENCE_PARTS, EVIDENCE_RULE, FRESH_DAYS, STALE_DAYS, EvidenceSignals, computed_inputs, evidence_parts,
    evidence_strength, evidence_strength_of, freshness,
)
from govern.scoring.formula import FORMULA_FUNCTIONS, MAX_FORMULA_LENGTH, Formula, FormulaError
from govern.scoring.inputs import COMPUTED_INPUTS, MAX_INPUT, InputSpec
from govern.scoring.models import (
    BUILTIN_INPUTS, BUILTIN_MODELS, FIBONACCI_LEVELS, ICE_INPUTS, KINDS, MODEL_KINDS, MODEL_RULES, RICE_CONFIDENCE_LEVELS,
    RICE_IMPACT_LEVELS, RICE_INPUTS, WSJF_INPUTS, FormulaModel, IceModel, RiceModel, Score, ScoringModel, WeightedModel,
    WsjfModel, value_effort_point,
)
from govern.scoring.portfolio import (
    QUADRANTS, SCORING_SETTING, StateColumn, missing_inputs, model_for_opportunity, portfolio_query, rank_by_state,
    rank_portfolio,
    missing_inputs_many, recorded_input_names, record_score_inputs, score_and_rank, score_opportunity, scoring_config, value_effort_matrix,
)
from govern.scoring.portfolio import PortfolioPlace, places_in_ranking
from govern.scoring.ranking import Ranked, rank, rank_scores

__all__ = [
    "BUILTIN_INPUTS", "BUILTIN_MODELS", "COMPUTED_INPUTS", "DEFAULT_SECTION", "EVIDENCE_PARTS", "EVIDENCE_RULE",
    "FIBONACCI_LEVELS", "FORMULA_FUNCTIONS", "FRESH_DAYS", "ICE_INPUTS", "KINDS", "MAX_FORMULA_LENGTH", "MAX_INPUT",
    "MODEL_KINDS", "MODEL_RULES", "QUADRANTS", "RICE_CONFIDENCE_LEVELS", "RICE_IMPACT_LEVELS", "RICE_INPUTS",
    "SCORING_SETTING", "STALE_DAYS", "StateColumn", "WSJF_INPUTS", "EvidenceSignals", "Formula", "FormulaError", "FormulaModel",
    "IceModel", "InputSpec", "Ranked", "RiceModel", "Score", "ScoringConfig", "ScoringModel", "WeightedModel",
    "PortfolioPlace", "places_in_ranking",
    "WsjfModel", "computed_inputs", "evidence_parts", "evidence_strength", "evidence_strength_of", "freshness",
    "load_scoring_config", "missing_inputs", "missing_inputs_many", "model_for_opportunity", "portfolio_query", "rank", "rank_by_state",
    "rank_portfolio",
    "rank_scores", "record_score_inputs", "recorded_input_names", "score_and_rank", "score_opportunity", "scoring_config",
    "validate_journey_models", "validate_scoring_config", "value_effort_matrix", "value_effort_point",
]
