"""Small readings of a parsed vLLM module that the wheel's readers share
(:mod:`forescale.vllm_contract.wheel`, :mod:`forescale.vllm_contract.wheel_logs`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator


def call_name(node: ast.Call) -> str | None:
    """The called name: ``f`` of ``f(...)`` or of ``x.f(...)``."""
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def calls_in(tree: ast.AST) -> Iterator[ast.Call]:
    """Every call in ``tree``, nested ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def module_assignment(tree: ast.Module, name: str) -> ast.AST | None:
    """The value a module assigns to ``name`` at its top level (plain or annotated)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.value
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
        ):
            return node.value
    return None
