"""What a vLLM wheel logs: its line format and the logger calls of the modules the
sim-server imitates (:mod:`forescale.sim.server_logging`), read with :mod:`ast`.

Why these facts: a replica's log is read by people (``kubectl logs POD -c vllm``) and the
sim-server writes vLLM's lines so that what the sandbox shows is what a cluster shows. A
line's message, level and position are literals in vLLM's source, so they can be read as
reliably as its flags and metrics:

* the format: ``_FORMAT`` in ``vllm/logger.py`` (an f-string whose only expression is the
  ``VLLM_LOGGING_PREFIX`` prefix, empty by default: its literal parts are the format) and
  ``_DATE_FORMAT``;
* the process names a line can carry: the literal given to ``decorate_logs(...)`` (the
  API server's) and the ``name=`` literals of the processes the engine starts
  (``PROCESS_MODULES``: the engine core's);
* per module of ``LOG_MODULES``, every call of a logger method (``logger.info(...)``,
  ``logger.info_once(...)``, and ``log_fn(...)``, the stats logger's chosen level), with
  its line, its method, and the string literals of the function it is in: a message is
  one literal, or (the stats line) pieces the function joins.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forescale.vllm_contract.source_ast import call_name, calls_in, module_assignment

if TYPE_CHECKING:
    from forescale.vllm_contract.wheel import WheelSources

LOGGER_MODULE = "vllm/logger.py"
LOG_MODULES = (
    "vllm/model_executor/model_loader/default_loader.py",
    "vllm/entrypoints/launchers/api_server/entry.py",
    "vllm/entrypoints/launchers/launcher.py",
    "vllm/v1/metrics/loggers.py",
)
"""The modules whose logger calls the sim-server's lines come from."""
PROCESS_MODULES = ("vllm/entrypoints/launchers/api_server/entry.py", "vllm/v1/engine/utils.py")
"""Where the API server names its process and the engine starts its engine core's."""
LOG_METHODS = frozenset(
    {"debug", "info", "info_once", "warning", "warning_once", "error", "exception", "log_fn"}
)


@dataclass(frozen=True)
class LogCall:
    """One logger call in a vLLM module."""

    line: int
    level: str
    literals: frozenset[str]
    """Every string literal of the function the call is in (not of functions nested in
    it): its message's pieces."""


@dataclass(frozen=True)
class LogFacts:
    """A release's log format and the logger calls of ``LOG_MODULES``."""

    line_format: str | None = None
    date_format: str | None = None
    calls: dict[str, tuple[LogCall, ...]] | None = None
    """Module path -> its logger calls; a module the wheel lacks is absent."""
    process_names: frozenset[str] = frozenset()


def _literal_text(node: ast.AST | None) -> str | None:
    """A string literal, or an f-string's literal parts (its expressions dropped)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value
            for part in node.values
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
        )
    return None


def _method(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.attr if func.value.id == "logger" and func.attr in LOG_METHODS else None
    if isinstance(func, ast.Name) and func.id == "log_fn":
        return func.id
    return None


def _own_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of a function, not of the functions defined inside it."""
    nodes: list[ast.AST] = []
    pending = list(ast.iter_child_nodes(scope))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def _log_calls(tree: ast.Module) -> tuple[LogCall, ...]:
    found = []
    for scope in ast.walk(tree):
        if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        own = _own_nodes(scope)
        literals = frozenset(
            node.value
            for node in own
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        )
        for node in own:
            if isinstance(node, ast.Call) and (method := _method(node)) is not None:
                found.append(LogCall(node.lineno, method, literals))
    return tuple(sorted(found, key=lambda c: c.line))


def _process_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in calls_in(tree):
        called = call_name(node)
        if called == "decorate_logs" and node.args:
            names |= _strings(node.args[0])
        if called == "Process":
            for keyword in node.keywords:
                if keyword.arg == "name":
                    names |= _strings(keyword.value)
    return names


def _strings(node: ast.expr) -> set[str]:
    """Whole string literals an expression can be (an f-string is not one)."""
    if isinstance(node, ast.JoinedStr):
        return set()
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    return set()


def read_logs(sources: WheelSources) -> LogFacts:
    tree = sources.parse(LOGGER_MODULE)
    processes: set[str] = set()
    for module in PROCESS_MODULES:
        parsed = sources.parse(module)
        if parsed is not None:
            processes |= _process_names(parsed)
    calls = {}
    for module in LOG_MODULES:
        parsed = sources.parse(module)
        if parsed is not None:
            calls[module] = _log_calls(parsed)
    if tree is None:
        return LogFacts(calls=calls, process_names=frozenset(processes))
    return LogFacts(
        line_format=_literal_text(module_assignment(tree, "_FORMAT")),
        date_format=_literal_text(module_assignment(tree, "_DATE_FORMAT")),
        calls=calls,
        process_names=frozenset(processes),
    )
