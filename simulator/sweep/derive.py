"""Derived parameters: profile keys computed from the swept ones, e.g. ::

    derived:
      peak_macs_per_cycle.int8: arch.rows * arch.cols

A systolic array's peak is its PE count, so a sweep of the array's shape has to move the peak
with it (else a 16 x 16 array would be priced as 16 MACs per PE). A formula is arithmetic
(``+ - * / // ** %``, parentheses, numbers) over swept or earlier derived keys, parsed once
with ``ast`` and evaluated without ``eval``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import HwsimError

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}


# No hardware figure needs a larger power (2 ** 64 bytes is 16 EiB); a larger exponent of an
# integer would be computed exactly, for hours.
MAX_EXPONENT = 64


class FormulaError(HwsimError):
    """A derived parameter's formula is not arithmetic over known keys."""


@dataclass(frozen=True)
class Formula:
    key: str
    text: str
    tree: ast.expr = field(compare=False, repr=False)
    names: frozenset[str] = frozenset()

    def __call__(self, params: Mapping[str, Any]) -> Any:
        return _evaluate(self.tree, params)


def parse_formula(key: str, text: str, known: frozenset[str]) -> Formula:
    """``text`` as a formula over ``known`` keys; ``FormulaError`` says what is wrong."""
    try:
        tree = ast.parse(str(text), mode="eval").body
    except SyntaxError:
        raise FormulaError(f"'{text}' is not an arithmetic expression") from None
    names = _check(tree)
    unknown = sorted(names - known)
    if unknown:
        raise FormulaError(
            f"'{text}' uses {', '.join(unknown)}, which is not a swept or earlier derived key"
        )
    return Formula(key, str(text), tree, frozenset(names))


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _check(node: ast.expr) -> set[str]:
    """The keys ``node`` reads; anything but arithmetic is an error."""
    name = _dotted(node)
    if name is not None:
        return {name}
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return set()
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _check(node.left) | _check(node.right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _check(node.operand)
    raise FormulaError(f"'{ast.unparse(node)}': only numbers, keys and + - * / // ** % are allowed")


def _evaluate(node: ast.expr, params: Mapping[str, Any]) -> Any:
    name = _dotted(node)
    if name is not None:
        return params[name]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, params), _evaluate(node.right, params)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            # 9 ** 9 ** 9 is a 370-million-digit integer: Python computes it for hours
            raise OverflowError(f"exponent {right:.6g} is above {MAX_EXPONENT}")
        return _BINARY[type(node.op)](left, right)
    assert isinstance(node, ast.UnaryOp)
    value = _evaluate(node.operand, params)
    return -value if isinstance(node.op, ast.USub) else value


def apply(formulas: tuple[Formula, ...], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with each derived key added, in order."""
    out = dict(params)
    for formula in formulas:
        out[formula.key] = formula(out)
    return out
