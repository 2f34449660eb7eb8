"""Countdown and arithmetic verifiers: a safe expression evaluator (a Python `ast` walk, never `eval`).

countdown   row has `nums` (list of ints) and the gold is the target: the answer is an expression
            such as `(100-93)+30` (an `= 23` tail is allowed and must equal the target) using each
            given number exactly once, with + - * / and parentheses; its exact value must be the target.
arithmetic  the answer is a number or an expression of numbers with + - * / ( ) and unary minus; its
            exact value must equal the gold's (also evaluated).

The evaluator accepts only those node types and integer/decimal literals, works in exact fractions,
and caps the text at 200 characters and 64 operators, so its work is bounded: it runs in the
caller's process without a worker.
"""
from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Mapping
from fractions import Fraction

from reasonrl.types import Verdict

MAX_CHARS = 200
MAX_OPS = 64
_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}
_ALLOWED_TEXT = re.compile(r"[\d\s+\-*/().=]*")


class ExprError(ValueError):
    """The text is not an allowed arithmetic expression."""


def _normalize(text: str) -> str:
    s = text.strip().strip("$").strip()
    s = s.replace("×", "*").replace("\\times", "*").replace("\\cdot", "*").replace("÷", "/").replace("\\div", "/")
    s = s.replace("−", "-").replace("\\left", "").replace("\\right", "")
    return s.strip().rstrip(".")


def parse_expr(text: str, *, unary: bool) -> tuple[ast.AST, list[Fraction]]:
    """-> (expression tree, the literal numbers in it). Raises ExprError on anything else."""
    if len(text) > MAX_CHARS:
        raise ExprError(f"expression longer than {MAX_CHARS} characters")
    if not _ALLOWED_TEXT.fullmatch(text):
        raise ExprError("only digits, + - * / ( ) and spaces are allowed")
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ExprError(f"not an expression: {text!r}") from None
    nums, ops = [], 0
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            ops += 1
            if type(node.op) not in _OPS:
                raise ExprError(f"operator {type(node.op).__name__} not allowed")
        elif isinstance(node, ast.UnaryOp):
            ops += 1
            if not (unary and isinstance(node.op, ast.USub)):
                raise ExprError("unary operators not allowed")
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExprError(f"literal {node.value!r} not allowed")
            nums.append(Fraction(str(node.value)))
        elif not isinstance(node, (ast.operator, ast.unaryop)):
            raise ExprError(f"{type(node).__name__} not allowed")
    if ops > MAX_OPS:
        raise ExprError(f"more than {MAX_OPS} operators")
    return tree, nums


def evaluate(tree: ast.AST) -> Fraction:
    """Exact value of a tree accepted by parse_expr. Raises ZeroDivisionError."""
    if isinstance(tree, ast.Constant):
        return Fraction(str(tree.value))
    if isinstance(tree, ast.UnaryOp):
        return -evaluate(tree.operand)
    return _OPS[type(tree.op)](evaluate(tree.left), evaluate(tree.right))


def _value(text: str, *, unary: bool) -> tuple[Fraction, list[Fraction]]:
    tree, nums = parse_expr(text, unary=unary)
    return evaluate(tree), nums


def _split_equation(s: str) -> tuple[str, str | None]:
    """'expr = 23' -> ('expr', '23'); 'expr' -> ('expr', None). The side with operators is the expression."""
    parts = [p.strip() for p in s.split("=")]
    if len(parts) == 1:
        return s, None
    if len(parts) != 2:
        raise ExprError("more than one '='")
    lhs, rhs = parts
    return (rhs, lhs) if re.fullmatch(r"\d+", lhs) and not re.fullmatch(r"\d+", rhs) else (lhs, rhs)


def countdown_verifier(prediction: str, gold, row: Mapping | None = None) -> Verdict:
    """Each number of row['nums'] used exactly once, value equal to the target (the gold)."""
    row = row or {}
    if "nums" not in row:
        return Verdict(None, "error", "row has no 'nums' field")
    try:
        target = Fraction(str(gold).strip())
        nums = Counter(Fraction(int(n)) for n in row["nums"])
        expr, rhs = _split_equation(_normalize(prediction))
        value, used = _value(expr, unary=False)
        if rhs is not None and Fraction(rhs) != value:
            return Verdict(0.0, "wrong", f"{expr} is {value}, not the {rhs} written after '='")
    except ZeroDivisionError:
        return Verdict(0.0, "wrong", "division by zero")
    except (ExprError, ValueError) as e:
        return Verdict(0.0, "unparseable", str(e))
    if Counter(used) != nums:
        got = ", ".join(str(n) for n in sorted(used))
        return Verdict(0.0, "wrong", f"numbers used [{got}] are not each of {sorted(row['nums'])} exactly once")
    ok = value == target
    return Verdict(1.0 if ok else 0.0, "correct" if ok else "wrong", f"{expr} = {value}, target {target}")


def arithmetic_verifier(prediction: str, gold, row: Mapping | None = None) -> Verdict:
    """Exact value of the predicted expression equals the gold's."""
    try:
        want, _ = _value(_normalize(str(gold)), unary=True)
    except (ExprError, ZeroDivisionError) as e:
        return Verdict(None, "error", f"gold {gold!r} is not arithmetic ({e}); never scored")
    try:
        got, _ = _value(_normalize(prediction).replace(",", ""), unary=True)
    except ZeroDivisionError:
        return Verdict(0.0, "wrong", "division by zero")
    except ExprError as e:
        return Verdict(0.0, "unparseable", str(e))
    ok = got == want
    return Verdict(1.0 if ok else 0.0, "correct" if ok else "wrong", f"{prediction.strip()} = {got}, gold {want}")


def countdown_gold_problem(gold, row: Mapping) -> str:
    """'' if a countdown row is well formed, else why not (checked once when the data is loaded)."""
    try:
        Fraction(str(gold).strip())
        nums = row["nums"]
        if not nums or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums):
            return f"'nums' must be a non-empty list of integers (got {nums!r})"
    except (KeyError, TypeError):
        return "row has no 'nums' list"
    except ValueError:
        return f"target {gold!r} is not a number"
    return ""


def arithmetic_gold_problem(gold, row: Mapping) -> str:
    try:
        _value(_normalize(str(gold)), unary=True)
    except (ExprError, ZeroDivisionError) as e:
        return f"gold {gold!r} is not arithmetic ({e})"
    return ""
