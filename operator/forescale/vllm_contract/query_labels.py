"""Which labels a PromQL expression takes from which ``vllm:`` series.

Why. An alert, a dashboard panel or a runbook query that names a label vLLM does not put
on a series still parses and still runs: it selects nothing, or groups everything into one
series, and the page stays quiet when it should not. Series names alone do not catch that
(``vllm:cache_config_info`` exists in every release; its ``num_gpu_blocks`` label is a
field of vLLM's ``CacheConfig`` and moves when the field does), so the contract check
compares the labels too.

This is not a PromQL parser: it reads the two places a label is tied to a series without
ambiguity.

* A selector's matchers: ``vllm:x{a="1", b=~"2"}`` uses ``a`` and ``b`` of ``vllm:x``.
* An aggregation's grouping, ``by (...)``/``without (...)``, in front of its argument or
  behind it, when every metric in that argument is a ``vllm:`` series: ``max by (pod,
  block_size) (vllm:cache_config_info{...})``. A grouping over an argument that also reads
  another metric (``forescale_...``, ``kube_...``) is skipped: the label may be that
  metric's.

Expressions come from where users meet them: rule ``expr`` fields (YAML), dashboard
targets' ``expr`` (JSON), and in runbooks (Markdown) each line of a ```promql block (a
line indented deeper than its block continues the one above) and each inline code span
that names a ``vllm:`` series.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"(vllm:[A-Za-z0-9_:]+)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^()]*)\)")
_CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:$])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
    | {"unless", "offset", "atan2", "inf", "nan", "Inf", "NaN"}
)
_FENCE = re.compile(r"```[^\n]*\n.*?```", re.DOTALL)
_PROMQL_FENCE = re.compile(r"```promql\n(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class LabelUse:
    """A label a query takes from ``series`` (every ``vllm:`` series it could be on)."""

    label: str
    series: tuple[str, ...]
    expression: str


def _balanced(text: str, start: int, step: int) -> tuple[int, int] | None:
    """The span of the parenthesised group whose paren is at ``start`` (``step`` -1: the
    group ends there)."""
    opening, closing = ("(", ")") if step == 1 else (")", "(")
    depth = 0
    index = start
    while 0 <= index < len(text):
        if text[index] == opening:
            depth += 1
        elif text[index] == closing:
            depth -= 1
            if depth == 0:
                return (start, index + 1) if step == 1 else (index, start + 1)
        index += step
    return None


def _argument(text: str, start: int, end: int) -> str | None:
    """The aggregation argument a grouping clause at ``text[start:end]`` applies to."""
    after = text[end:].lstrip()
    if after.startswith("("):
        span = _balanced(text, len(text) - len(after), 1)
    else:
        before = text[:start].rstrip()
        span = _balanced(text, len(before) - 1, -1) if before.endswith(")") else None
    return None if span is None else text[span[0] : span[1]]


def _metrics(argument: str) -> list[str]:
    """Metric names an expression reads (selectors' matchers, ranges and clauses removed)."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", argument)
    bare = _CLAUSE.sub(" ", bare)
    return [m for m in _IDENTIFIER.findall(bare) if m not in _KEYWORDS]


def label_uses(expression: str) -> Iterator[LabelUse]:
    """Every label ``expression`` ties to ``vllm:`` series (see the module docstring)."""
    text = _QUOTED.sub('""', expression)
    for match in _SELECTOR.finditer(text):
        for label in _MATCHER.findall(match.group(2)):
            yield LabelUse(label, (match.group(1),), expression)
    for match in _GROUPING.finditer(text):
        argument = _argument(text, match.start(), match.end())
        if argument is None:
            continue
        metrics = _metrics(argument)
        if not metrics or not all(m.startswith("vllm:") for m in metrics):
            continue
        for label in (part.strip() for part in match.group(1).split(",")):
            if label:
                yield LabelUse(label, tuple(dict.fromkeys(metrics)), expression)


def _expr_fields(document: object) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _expr_fields(value)
    elif isinstance(document, list):
        for item in document:
            yield from _expr_fields(item)


def _block_queries(block: str) -> Iterator[str]:
    """One query per line of a fenced block; a block inside a list item is indented with
    it, so it is dedented first."""
    queries: list[str] = []
    for line in textwrap.dedent(block).splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and queries:
            queries[-1] += "\n" + line
        else:
            queries.append(line)
    yield from queries


def expressions_in(text: str, suffix: str) -> list[str]:
    """The PromQL expressions of a file's text, by its kind (``suffix``): JSON and YAML are
    parsed, so a file that is not what it should be fails here."""
    if suffix == ".json":
        return list(_expr_fields(json.loads(text)))
    if suffix in {".yaml", ".yml"}:
        return [e for doc in yaml.safe_load_all(text) for e in _expr_fields(doc)]
    fenced = [q for block in _PROMQL_FENCE.findall(text) for q in _block_queries(block)]
    inline = _INLINE.findall(_FENCE.sub("", text))
    return [*fenced, *(span for span in inline if "vllm:" in span)]


def expressions(path: Path) -> list[str]:
    """The PromQL expressions a rules file, a dashboard or a Markdown page holds."""
    return expressions_in(path.read_text(), path.suffix)
