"""Arithmetic from text without eval: the expression is parsed with `ast` and only numbers,
+ - * / // % **, unary signs and parentheses are walked. Sizes are bounded before each
operation, so `9**9**9` or a huge factorial-by-multiplication is refused instead of hanging."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

Number = int | float
MAX_EXPRESSION_CHARS = 200
MAX_INT_BITS = 4096
"""About 1,233 decimal digits: far past anything spoken, cheap to compute."""
MAX_DEPTH = 50


class CalculationError(ValueError):
    pass


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_SPOKEN = {"×": "*", "÷": "/", "^": "**", "−": "-", "–": "-"}


def _check(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculationError("the result is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("the result is too large")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        if abs(base) > 1 and exponent * max(abs(base).bit_length() - 1, 1) > MAX_INT_BITS:
            raise CalculationError("the result is too large")
        return base**exponent
    if base == 0 and exponent < 0:
        raise CalculationError("zero cannot be raised to a negative power")
    try:
        result = float(base) ** float(exponent)
    except OverflowError:
        raise CalculationError("the result is too large") from None
    if isinstance(result, complex):
        raise CalculationError("the result is not a real number")
    return result


def _eval(node: ast.AST, depth: int = 0) -> Number:
    if depth > MAX_DEPTH:
        raise CalculationError("the expression is nested too deeply")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _check(node.value)  # type: ignore[arg-type]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand, depth + 1)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _check(_power(left, right))
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise CalculationError("division by zero")
        try:
            return _check(_BINARY[type(node.op)](left, right))
        except OverflowError:
            raise CalculationError("the result is too large") from None
    raise CalculationError(
        f"only numbers, + - * / // % ** and parentheses are allowed, not {_describe(node)}"
    )


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"'{node.id}'"
    if isinstance(node, ast.Constant):
        return repr(node.value)
    return type(node).__name__


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; CalculationError in one line when it has none."""
    text = expression.strip()
    for spoken, symbol in _SPOKEN.items():
        text = text.replace(spoken, symbol)
    text = text.replace(",", "")  # thousands separators: "1,234 * 2"
    if not text:
        raise CalculationError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalculationError(f"cannot parse {expression!r} as arithmetic") from None
    return _eval(tree)


def format_number(value: Number) -> str:
    """Integers exactly; floats to 10 significant digits, without a trailing '.0'."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"
