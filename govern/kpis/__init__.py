"""KPIs: scales and their normalisation to 0-100, trends, targets, and the evaluate verdict (target_met / short_of_target /
improved / no_change / worse; the rules in govern.kpis.verdicts).

Scales (``Kpi.scale``), with their natural bounds; ``scale_min``/``scale_max`` on a KPI override them:

==========  ============  =====================================================================
scale       bounds        notes
==========  ============  =====================================================================
nps         -100 … 100    Net Promoter Score
csat5       1 … 5         CSAT on a five-point scale
csat_pct    0 … 100       CSAT as the share of satisfied answers
ces         1 … 7         Customer Effort Score (set the direction your question implies)
stars       1 … 5         star ratings
percent     0 … 100       conversion, error rate, …
count       0 … ∞         tickets, clicks to complete a task, … (see below)
currency    -∞ … ∞        revenue per customer, … (see below)
custom      min … max     needs scale_min and scale_max
==========  ============  =====================================================================

Normalising to 0-100 (100 is always best): on a bounded scale, ``100 × (value − min) ÷ (max − min)``, reversed when lower
is better, values outside the bounds clamped. Counts and currency have no natural bounds, so they need either
``scale_min``/``scale_max`` (then the same rule) or a ``target``; with only a target the reading is *progress to target*:
higher is better → ``100 × value ÷ target`` capped at 100 (0 or less reads 0); lower is better → 100 at or below the
target, falling linearly to 0 at twice the target. A count or currency KPI with neither is refused when defined.

Evaluate: the change from baseline to the latest measurement counts in the KPI's direction. It is ``no_change`` when its
size is within the tolerance, and otherwise ``improved`` or ``worse``. The tolerance is the smaller of 2 % of the scale's
span (NPS 4 points, CSAT 1-5 0.08, percent 2 points) and 5 % of the baseline's size (so churn moving from 1.6 % to 1.5 %
counts), but never below 0.1 % of the span; an unbounded KPI uses 5 % of the baseline's size (at least 0.01). The trend's
improving / flat / worsening uses the same tolerance around the previous measurement. A KPI with a target reads
``target_met`` or ``short_of_target`` (improved, target not met) instead of ``improved``; ``target_met`` (the boolean)
is reported beside the verdict.

The measurement window: evaluate uses only a measurement taken at least ``measure_after_days`` after the change went
live (the KPI's own ``measure_after_days``, else the ``record_outcome`` effect's parameter, else the lifecycle
definition's ``measure_after_days``, 28 by default). With none that late, evaluate is refused, naming the measurements
that exist and the earliest date that counts; each outcome says which baseline, which measurement and which window it
used.
"""

from govern.kpis.measurements import (
    evaluate_opportunity,
    import_measurements_csv,
    kpi_trend,
    list_kpis,
    measurement_dict,
    opportunity_kpis,
    record_baselines,
    record_measurement,
    record_outcomes,
)
from govern.kpis.scales import KpiScale, ScaleError, validate_kpi_definitions
from govern.kpis.verdicts import VERDICT_WORDS, VERDICTS, evaluate, overall_verdict, trend, verdict_words

__all__ = [
    "KpiScale",
    "ScaleError",
    "evaluate",
    "evaluate_opportunity",
    "import_measurements_csv",
    "kpi_trend",
    "list_kpis",
    "measurement_dict",
    "opportunity_kpis",
    "overall_verdict",
    "record_baselines",
    "record_measurement",
    "record_outcomes",
    "trend",
    "validate_kpi_definitions",
    "verdict_words",
    "VERDICTS",
    "VERDICT_WORDS",
]
