"""Every reason the operator can give ``Degraded=True`` (or ``ScalingActive``) is explained
where an SRE looks.

The alert ``LLMDeploymentDegraded`` carries the condition's reason as a label and links to
its runbook; a reason missing from the runbook's table pages someone with a word nobody
explained (an outside review found four). The reasons are read from the code that sets
them (literals at each call, never a list kept beside it), so a new one fails this test
until the runbook and the README say what it means.
"""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO

PACKAGE = REPO / "operator" / "forescale"
SETTERS = {
    # module: how a Degraded reason is given there
    "assessment/workload_health.py": "ConditionUpdate(DEGRADED, 'True', reason, ...)",
    "assessment/spec_problems.py": "Reference(kind, name, reason, ...)",
    "handlers/reconciler.py": "StopPass(reason, ...) and ConditionUpdate(DEGRADED, ...)",
}


def _strings(node: ast.AST) -> set[str]:
    """The literal strings an argument can be (a conditional of literals included)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    return set()


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def degraded_reasons() -> set[str]:
    reasons: set[str] = set()
    for module in SETTERS:
        tree = ast.parse((PACKAGE / module).read_text())
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name, args = _call_name(call), call.args
            degraded = (
                name == "ConditionUpdate"
                and len(args) >= 3
                and isinstance(args[0], ast.Name)
                and args[0].id == "DEGRADED"
                and _strings(args[1]) == {"True"}
            )
            if degraded or (name == "Reference" and len(args) >= 3):
                reasons |= _strings(args[2])
            elif name == "StopPass" and args:
                reasons |= _strings(args[0])
    return reasons


def _runbook_table() -> set[str]:
    text = (REPO / "docs" / "runbooks" / "LLMDeploymentDegraded.md").read_text()
    return set(re.findall(r"^\| ([A-Z][A-Za-z]+) \|", text, flags=re.MULTILINE))


def test_the_reasons_are_read_from_the_code() -> None:
    """Guards the reader: these are set in three different ways."""
    reasons = degraded_reasons()
    assert {"InsufficientGPU", "MissingVolumeClaim", "NameConflict", "InvalidPodConfig"} <= (
        reasons
    )
    assert len(reasons) >= 10, sorted(reasons)


def test_the_runbook_explains_every_reason_and_no_other() -> None:
    table = _runbook_table()
    reasons = degraded_reasons()
    assert sorted(reasons - table) == [], "add these to the runbook's table"
    assert sorted(table - reasons) == [], "the runbook explains reasons nothing sets"


def scaling_reasons() -> set[str]:
    """Reasons of ``ScalingActive`` (``ConditionUpdate(SCALING_ACTIVE, status, reason)``)."""
    reasons: set[str] = set()
    for module in ("handlers/autoscaling.py", "handlers/reconciler.py"):
        tree = ast.parse((PACKAGE / module).read_text())
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            args = call.args
            if (
                _call_name(call) == "ConditionUpdate"
                and len(args) >= 3
                and isinstance(args[0], ast.Name)
                and args[0].id == "SCALING_ACTIVE"
            ):
                reasons |= _strings(args[2])
    return reasons


def test_the_scaling_held_runbook_explains_every_scaling_active_reason() -> None:
    """The runbook's first step prints the ScalingActive reason; its table says what each
    one means, and nothing else."""
    reasons = scaling_reasons()
    assert {"MetricsUnavailable", "ExternalScaler", "ValidMetrics"} <= reasons
    text = (REPO / "docs" / "runbooks" / "LLMDeploymentScalingHeld.md").read_text()
    table = set(re.findall(r"^ *\| ([A-Z][A-Za-z]+) \| (?:True|False|Unknown) \|", text, re.M))
    assert sorted(reasons ^ table) == []


def test_the_readme_names_every_reason() -> None:
    readme = (REPO / "README.md").read_text()
    assert sorted(r for r in degraded_reasons() if f"`{r}`" not in readme) == []
