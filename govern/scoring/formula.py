"""Custom scoring formulas: parsed and checked with `ast`, evaluated with simpleeval (never `eval`)."""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import simpleeval

FORMULA_FUNCTIONS: dict[str, Any] = {
    "min": min, "max": max, "abs": abs, "round": round, "sqrt": math.sqrt, "log": math.log, "log10": math.log10,
    "exp": math.exp, "clamp": lambda x, lo, hi: max(lo, min(hi, x)),
}
MAX_FORMULA_LENGTH = 500

_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_ALLOWED_UNARY = (ast.UAdd, ast.USub, ast.Not)
_ALLOWED_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class FormulaError(ValueError):
    """A formula that cannot be parsed, or that failed on the given values."""


@dataclass(frozen=True)
class Formula:
    """A parsed custom formula; the names it uses are checked against the known inputs before it is ever evaluated."""

    text: str
    names: tuple[str, ...]
    tree: Any = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: Any) -> "Formula":
        if not isinstance(text, str) or not text.strip():
            raise FormulaError("invalid formula: must be a non-empty text")
        if len(text) > MAX_FORMULA_LENGTH:
            raise FormulaError(f"invalid formula: longer than {MAX_FORMULA_LENGTH} characters")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise FormulaError(f"invalid formula: {exc.msg} at column {exc.offset}") from None
        names: list[str] = []
        for node in ast.walk(tree.body):
            if isinstance(node, ast.Name):
                if node.id not in names:
                    names.append(node.id)
            elif isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in FORMULA_FUNCTIONS:
                    called = ast.unparse(node.func)
                    raise FormulaError(
                        f"invalid formula: unknown function '{called}' (allowed: {', '.join(FORMULA_FUNCTIONS)})"
                    )
                if node.keywords:
                    raise FormulaError("invalid formula: keyword arguments are not allowed")
            elif isinstance(node, ast.Constant):
                if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                    raise FormulaError("invalid formula: only numbers may appear as constants")
            elif isinstance(node, ast.BinOp):
                if not isinstance(node.op, _ALLOWED_BINOPS):
                    raise FormulaError(f"invalid formula: operator {type(node.op).__name__} is not allowed")
            elif isinstance(node, ast.UnaryOp):
                if not isinstance(node.op, _ALLOWED_UNARY):
                    raise FormulaError(f"invalid formula: operator {type(node.op).__name__} is not allowed")
            elif isinstance(node, ast.Compare):
                if not all(isinstance(op, _ALLOWED_COMPARE) for op in node.ops):
                    raise FormulaError("invalid formula: that comparison is not allowed")
            elif isinstance(node, (ast.IfExp, ast.BoolOp, ast.And, ast.Or, ast.Load, *_ALLOWED_BINOPS,
                                   *_ALLOWED_UNARY, *_ALLOWED_COMPARE)):
                pass
            else:
                raise FormulaError(f"invalid formula: {type(node).__name__} is not allowed")
        names = [n for n in names if n not in FORMULA_FUNCTIONS]
        return cls(text=text.strip(), names=tuple(names), tree=tree.body)

    def evaluate(self, values: Mapping[str, float]) -> float:
        evaluator = simpleeval.SimpleEval(functions=FORMULA_FUNCTIONS, names=dict(values))
        try:
            result = evaluator.eval(self.text, previously_parsed=self.tree)
        except ZeroDivisionError:
            raise FormulaError("division by zero") from None
        except (ValueError, OverflowError, TypeError, simpleeval.InvalidExpression) as exc:
            raise FormulaError(str(exc)) from None
        if isinstance(result, bool):
            result = float(result)
        if not isinstance(result, (int, float)) or not math.isfinite(result):
            raise FormulaError("the formula did not give a finite number")
        return float(result)


