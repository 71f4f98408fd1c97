"""Guards: named pure predicates with parameters over an opportunity's facts, each answering in plain words.

A lifecycle definition names guards (`has_evidence: {min: 2}`); the engine binds them to their parameters once per
definition and evaluates them against `OpportunityFacts`, a frozen snapshot the services compute from the database.
Guards never read the database themselves, so the same answer is given in the CLI, the API, Slack and the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from govern.vocabulary import DEFAULT as DEFAULT_WORDS, Vocabulary


@dataclass(frozen=True)
class OpportunityFacts:
    """What the guards may look at, computed once per request by `workflows.services.facts_for`.

    `evidence_journey_count` counts the distinct journeys of the *steps* the evidence is linked to. The opportunity's
    own journey links do not count: an opportunity linked to two journeys but backed only by evidence from one has
    evidence from one journey. Insights linked to no step add nothing to that count (`unlinked_evidence_count` says
    how many there are, so the refusal can tell the user to link them to a step).
    """

    opportunity_id: int | None = None
    owner_id: int | None = None
    journey_ids: tuple[int, ...] = ()
    evidence_count: int = 0
    evidence_journey_count: int = 0
    evidence_source_count: int = 0
    unlinked_evidence_count: int = 0
    missing_score_inputs: tuple[str, ...] = ()  # empty means the opportunity can be scored
    solution_count: int = 0
    solutions_done: int = 0
    targeted_kpi_count: int = 0
    baselines_recorded: int = 0
    outcomes_recorded: int = 0
    outcomes_improved: int = 0  # verdict target_met, short_of_target or improved (govern.kpis.verdicts)
    outcomes_met: int = 0  # verdict target_met, or improved for a KPI without a target
    checks_ticked: frozenset[str] = frozenset()  # the lifecycle's checks (checklist guards) ticked now
    # How the organisation names things ("2 pieces of patient feedback"): guards answer in its words.
    words: Vocabulary = field(default=DEFAULT_WORDS, compare=False, repr=False)


@dataclass(frozen=True)
class GuardResult:
    """One guard's answer: `message` is plain words, true either way ("has 3 pieces of evidence (needs 2)")."""

    name: str
    ok: bool
    message: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"guard": self.name, "ok": self.ok, "message": self.message, "params": dict(self.params)}


@dataclass(frozen=True)
class ParamSpec:
    """One guard parameter: an integer with a lower bound and a default (every built-in parameter is a count)."""

    default: int
    minimum: int = 0
    description: str = ""


_COUNTED = re.compile(r"\{(\w+):([^}|]+)(?:\|([^}]+))?\}")


@dataclass(frozen=True)
class GuardSpec:
    name: str
    # Plain words for the playbook and the diagram legend: `{opportunity}` is the organisation's word, `{min:solution}`
    # the parameter counted with it ("1 solution", "2 solutions"), `{min:source|sources}` a count of a plain word.
    description: str
    check: Callable[..., tuple[bool, str]]
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    reads: tuple[str, ...] = ()  # which groups of facts it needs: evidence, score, solutions, kpis (owner is always there)
    title: str = ""  # the short label of diagrams and edges, in the same placeholders as `description`

    def describe(self, params: Mapping[str, Any], words: Vocabulary = DEFAULT_WORDS) -> str:
        """The description with its parameters counted in the organisation's words."""
        return self._filled(self.description, params, words)

    def titled(self, params: Mapping[str, Any], words: Vocabulary = DEFAULT_WORDS) -> str:
        """The short title of diagrams and edges ("at least 2 pieces of evidence"), in the organisation's words."""
        return self._filled(self.title or self.description, params, words)

    def _filled(self, template: str, params: Mapping[str, Any], words: Vocabulary) -> str:

        def counted(match: re.Match[str]) -> str:
            n = params.get(match.group(1), self.params[match.group(1)].default if match.group(1) in self.params else 0)
            noun, many = match.group(2), match.group(3)
            if many is not None:
                return f"{n} {noun if n == 1 else many}"
            return words.count(int(n), noun)

        text = _COUNTED.sub(counted, template)
        for key, value in params.items():
            text = text.replace(f"`{key}`", str(value))
        return words.fill(text)

    def label(self, params: Mapping[str, Any]) -> str:
        """Short label for diagrams: `has_evidence ≥ 2`."""
        if not params:
            return self.name
        if set(params) == {"min"}:
            return f"{self.name} ≥ {params['min']}"
        if self.name == CHECKLIST:
            return f"check {params.get('check')}"
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _has_evidence(facts: OpportunityFacts, min: int) -> tuple[bool, str]:
    have = facts.evidence_count
    if have >= min:
        return True, f"has {facts.words.count(have, 'evidence')} (needs {min})"
    return False, f"needs {facts.words.count(min, 'evidence')}, has {have}"


def _evidence_across_journeys(facts: OpportunityFacts, min: int) -> tuple[bool, str]:
    have = facts.evidence_journey_count
    if have >= min:
        return True, f"has evidence from {facts.words.count(have, 'journey')} (needs {min})"
    message = f"needs evidence from {facts.words.count(min, 'journey')}, has evidence from {have}"
    if facts.unlinked_evidence_count:
        n = facts.unlinked_evidence_count
        message += (f" ({facts.words.count(n, 'insight')} {'is' if n == 1 else 'are'} not linked to any "
                    f"step yet, so counted for no {facts.words.one('journey')})")
    return False, message


def _evidence_from_sources(facts: OpportunityFacts, min: int) -> tuple[bool, str]:
    have = facts.evidence_source_count
    if have >= min:
        return True, f"has evidence from {_plural(have, 'source')} (needs {min})"
    return False, f"needs evidence from {_plural(min, 'distinct source')}, has {have}"


def _has_owner(facts: OpportunityFacts) -> tuple[bool, str]:
    if facts.owner_id is not None:
        return True, "has an owner"
    return False, "needs an owner"


def _has_score(facts: OpportunityFacts) -> tuple[bool, str]:
    if not facts.missing_score_inputs:
        return True, "has every scoring input"
    return False, "needs a score: missing scoring inputs " + ", ".join(facts.missing_score_inputs)


def _has_solution(facts: OpportunityFacts, min: int) -> tuple[bool, str]:
    have = facts.solution_count
    if have >= min:
        return True, f"has {facts.words.count(have, 'solution')} (needs {min})"
    return False, f"needs {facts.words.count(min, 'solution')}, has {have}"


def _solutions_delivered(facts: OpportunityFacts) -> tuple[bool, str]:
    total, done = facts.solution_count, facts.solutions_done
    w = facts.words
    if total == 0:
        return False, f"needs its {w.solutions} delivered, but it has no {w.solutions}"
    if done >= total:
        return True, ("its " if total == 1 else f"all {total} ") + f"{w.word('solution', total)} delivered"
    return False, f"needs every {w.solution} delivered, {done} of {total} done"


def _has_kpi(facts: OpportunityFacts, min: int) -> tuple[bool, str]:
    have = facts.targeted_kpi_count
    if have >= min:
        return True, f"targets {_plural(have, 'KPI')} (needs {min})"
    return False, f"needs to target {_plural(min, 'KPI')}, targets {have}"


def _kpi_baseline_recorded(facts: OpportunityFacts) -> tuple[bool, str]:
    total, have = facts.targeted_kpi_count, facts.baselines_recorded
    if total == 0:
        return False, "needs a KPI baseline, but it targets no KPI"
    if have >= total:
        return True, f"baseline recorded for {_plural(total, 'targeted KPI')}"
    return False, f"needs a baseline for every targeted KPI, {have} of {total} recorded"


def _outcome_recorded(facts: OpportunityFacts) -> tuple[bool, str]:
    total, have = facts.targeted_kpi_count, facts.outcomes_recorded
    if total == 0:
        return False, "needs an evaluated outcome, but it targets no KPI"
    if have >= total:
        return True, f"outcome recorded for {_plural(total, 'targeted KPI')}"
    return False, f"needs an outcome for every targeted KPI, {have} of {total} evaluated"


def _outcome_missed(facts: OpportunityFacts) -> tuple[bool, str]:
    ok, message = _outcome_recorded(facts)
    if not ok:
        return False, message
    missed = facts.outcomes_recorded - facts.outcomes_improved
    if missed > 0:
        return True, f"outcome missed for {_plural(missed, 'KPI')} of {facts.outcomes_recorded}"
    return False, "only when the outcome missed: every targeted KPI improved"


def _outcome_met(facts: OpportunityFacts) -> tuple[bool, str]:
    ok, message = _outcome_recorded(facts)
    if not ok:
        return False, message
    if facts.outcomes_improved >= facts.outcomes_recorded:
        return True, f"every targeted KPI improved ({facts.outcomes_improved})"
    missed = facts.outcomes_recorded - facts.outcomes_improved
    return False, f"needs every targeted KPI improved, {_plural(missed, 'KPI')} did not"


def _targets_met(facts: OpportunityFacts) -> tuple[bool, str]:
    ok, message = _outcome_recorded(facts)
    if not ok:
        return False, message
    if facts.outcomes_met >= facts.outcomes_recorded:
        return True, f"every targeted KPI met its target ({facts.outcomes_met})"
    missed = facts.outcomes_recorded - facts.outcomes_met
    return False, (f"needs every targeted KPI to meet its target (or, without a target, to improve), "
                   f"{_plural(missed, 'KPI')} did not")


def _targets_missed(facts: OpportunityFacts) -> tuple[bool, str]:
    ok, message = _outcome_recorded(facts)
    if not ok:
        return False, message
    missed = facts.outcomes_recorded - facts.outcomes_met
    if missed > 0:
        return True, f"{_plural(missed, 'KPI')} of {facts.outcomes_recorded} short of its target or not improved"
    return False, "only when a target was missed: every targeted KPI met its target"


def _checklist(facts: OpportunityFacts, check: str, title: str) -> tuple[bool, str]:
    if check in facts.checks_ticked:
        return True, f"“{title}” is ticked"
    return False, f"needs “{title}” ticked"


CHECKLIST = "checklist"  # the guard a lifecycle's declared check (`checks:`) becomes
_MIN = "the least number required"

GUARDS: dict[str, GuardSpec] = {
    spec.name: spec
    for spec in (
        GuardSpec("has_evidence", "the {opportunity} is backed by at least {min:evidence}",
                  _has_evidence, {"min": ParamSpec(1, 1, _MIN)}, ("evidence",), title="at least {min:evidence}"),
        GuardSpec("evidence_across_journeys", "the evidence is linked to steps of at least {min:journey}",
                  _evidence_across_journeys, {"min": ParamSpec(2, 1, _MIN)}, ("evidence",), title="evidence from {min:journey}"),
        GuardSpec("evidence_from_sources", "the evidence comes from at least {min:distinct source|distinct sources}",
                  _evidence_from_sources, {"min": ParamSpec(2, 1, _MIN)}, ("evidence",), title="evidence from {min:distinct source|distinct sources}"),
        GuardSpec("has_owner", "someone owns the {opportunity}", _has_owner, title="has an owner"),
        GuardSpec("has_score", "every input of the scoring model is recorded, so it has a score", _has_score,
                  reads=("score",), title="scored"),
        GuardSpec("has_solution", "it has at least {min:solution}", _has_solution,
                  {"min": ParamSpec(1, 1, _MIN)}, ("solutions",), title="at least {min:solution}"),
        GuardSpec("solutions_delivered", "every {solution}'s backlog item is done", _solutions_delivered,
                  reads=("solutions",), title="every {solution} delivered"),
        GuardSpec("has_kpi", "the {opportunity} targets at least {min:kpi}", _has_kpi, {"min": ParamSpec(1, 1, _MIN)},
                  ("kpis",), title="targets {min:kpi}"),
        GuardSpec("kpi_baseline_recorded", "a baseline is recorded for every targeted KPI", _kpi_baseline_recorded,
                  reads=("kpis",), title="KPI baselines recorded"),
        GuardSpec("outcome_recorded", "an outcome (target met; improved, target not met; improved; no change; worse) "
                  "is recorded for every targeted KPI", _outcome_recorded, reads=("kpis",), title="outcome recorded"),
        GuardSpec("outcome_missed", "the outcome is recorded and at least one targeted KPI did not improve (a KPI "
                  "improved but short of its target counts as improved)", _outcome_missed, reads=("kpis",),
                  title="a KPI did not improve"),
        GuardSpec("outcome_met", "the outcome is recorded and every targeted KPI improved or held its target, whether "
                  "or not it reached the target (ask for the targets with the guard \"every KPI met its target\")", _outcome_met,
                  reads=("kpis",), title="every KPI improved"),
        GuardSpec("targets_met", "the outcome is recorded and every targeted KPI met its target (a KPI without a "
                  "target improved)", _targets_met, reads=("kpis",), title="every KPI met its target"),
        GuardSpec("targets_missed", "the outcome is recorded and at least one targeted KPI missed its target (or, "
                  "without a target, did not improve)", _targets_missed, reads=("kpis",),
                  title="a KPI missed its target"),
        GuardSpec(CHECKLIST, "“`title`” is ticked", _checklist, reads=("checks",), title="“`title`” ticked"),
    )
}


FACT_GROUPS = ("evidence", "score", "solutions", "kpis", "checks")


def facts_needed(names) -> frozenset[str]:
    """The groups of facts a set of guards reads, so that only those are computed."""
    return frozenset(group for name in names for group in GUARDS[name].reads)


def validate_params(name: str, params: Any) -> tuple[dict[str, int], dict[str, str]]:
    """Check a guard's parameters; returns (params with defaults filled in, {param: problem})."""
    spec = GUARDS[name]
    problems: dict[str, str] = {}
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        return {}, {"": f"parameters of {name} must be a mapping, got {params!r}"}
    resolved: dict[str, int] = {}
    for key, value in params.items():
        if key not in spec.params:
            allowed = ", ".join(spec.params) or "none"
            problems[str(key)] = f"unknown parameter for {name} (allowed: {allowed})"
            continue
        pspec = spec.params[key]
        if isinstance(value, bool) or not isinstance(value, int):
            problems[str(key)] = f"must be a whole number, got {value!r}"
        elif value < pspec.minimum:
            problems[str(key)] = f"must be at least {pspec.minimum}, got {value}"
        else:
            resolved[key] = value
    for key, pspec in spec.params.items():
        resolved.setdefault(key, pspec.default)
    return resolved, problems


def evaluate(name: str, params: Mapping[str, Any], facts: OpportunityFacts) -> GuardResult:
    """Run one named guard with its (already validated) parameters."""
    spec = GUARDS[name]
    ok, message = spec.check(facts, **params)
    return GuardResult(name, ok, message, dict(params))
