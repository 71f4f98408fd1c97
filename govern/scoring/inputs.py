"""What a scoring input may hold, and the inputs computed from the evidence (never recorded by hand)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_INPUT = 1e12  # beyond any real reach or budget; keeps every score a finite JSON number

# Inputs computed from the evidence; never recorded by hand.
COMPUTED_INPUTS = ("evidence_strength", "evidence_count", "evidence_journeys", "evidence_sources", "evidence_age_days")


def fmt(value: float | None) -> str:
    """A number as an explanation shows it: integers bare, others to four significant digits."""
    if value is None:
        return "–"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool), as govern.yaml may give it."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def input_title(name: str) -> str:
    """An input's name in words, when it declares no title."""
    return name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class InputSpec:
    """What a recorded input may hold."""

    name: str
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    levels: tuple[float, ...] | None = None
    positive: bool = False  # strictly greater than zero (used as a divisor)
    title: str = ""  # what people read for it (govern.yaml `scoring.inputs.<name>.title`)

    @property
    def label(self) -> str:
        """The input's title, or its name in words (`patient_harm_reduction` → `Patient harm reduction`)."""
        return self.title or input_title(self.name)

    def problem(self, value: Any) -> str | None:
        """Plain words for what is wrong with `value`, or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if not math.isfinite(value) or abs(value) > MAX_INPUT:
            return f"must be a finite number no larger than {MAX_INPUT:.0e}"
        if self.levels is not None and float(value) not in self.levels:
            return "must be one of " + ", ".join(fmt(v) for v in self.levels)
        if self.positive and value <= 0:
            return "must be greater than 0"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {fmt(self.minimum)}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {fmt(self.maximum)}"
        return None
