"""Assembling ``Observation``s from the answers to the reader's batched queries.

Kept apart from ``reader`` so every judgement about the numbers (which deployments are
reported, how many pods report, is the data fresh, is a value believable) is pure and
unit-tested without a Prometheus; the reader only moves bytes. Values Prometheus returns
as NaN, +-Inf or below zero are not load levels (NaN is what ``histogram_quantile`` gives
when no request finished in the window, a negative gauge is a broken exporter): the signal
becomes missing and a note says why, because the policy must never act on them and an
operator reading ``kubectl describe`` must see why.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from forescale.metrics.errors import QueryFailedError
from forescale.metrics.observation import SIGNALS, Observation
from forescale.metrics.promql import CENSUS_LABEL, CENSUS_NEWEST, CENSUS_PODS, GROUP_LABELS


@dataclass(frozen=True)
class Row:
    """One element of an instant-vector answer: its grouping labels and value."""

    namespace: str
    llmdeployment: str
    census: str | None
    """Which census figure the row holds (``pods`` or ``newest``); None for a signal."""
    value: float

    @property
    def deployment(self) -> str:
        """``namespace/name`` key of the LLMDeployment."""
        return f"{self.namespace}/{self.llmdeployment}"


def parse_vector(query: str, result: object) -> list[Row]:
    """Rows of a ``/api/v1/query`` ``data.result`` list; QueryFailedError if malformed."""
    if not isinstance(result, list):
        raise QueryFailedError(query, f"expected an instant vector, got {type(result).__name__}")
    rows: list[Row] = []
    for element in result:
        try:
            labels = element["metric"]
            value = float(element["value"][1])
            namespace, llmdeployment = (labels[label] for label in GROUP_LABELS)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise QueryFailedError(query, f"malformed vector element {element!r}") from error
        rows.append(Row(namespace, llmdeployment, labels.get(CENSUS_LABEL), value))
    return rows


def assemble(
    at: float,
    census: list[Row],
    signals: Mapping[str, list[Row]],
    deployments: Collection[str] | None,
    staleness_seconds: float,
) -> dict[str, Observation]:
    """One Observation per deployment, evaluated at ``at`` (Unix seconds).

    ``census`` holds, per deployment, a ``pods`` row (pods reporting) and a ``newest`` row
    (newest sample time); ``signals`` maps Observation field names to their rows. With
    ``deployments`` (``namespace/name`` keys) exactly those are reported, so a deployment
    with no series at all still gets an Observation saying so, and deployments of other
    shards in the same Prometheus are left out; without it every deployment seen is.
    """
    if deployments is not None:
        keys: Collection[str] = set(deployments)
    else:
        keys = {row.deployment for row in census} | {
            row.deployment for rows in signals.values() for row in rows
        }
    pods = {row.deployment: row.value for row in census if row.census == CENSUS_PODS}
    newest = {row.deployment: row.value for row in census if row.census == CENSUS_NEWEST}
    by_signal = {
        name: {row.deployment: row.value for row in rows} for name, rows in signals.items()
    }
    return {
        key: _observation(
            key,
            at,
            pods.get(key),
            newest.get(key),
            {name: values.get(key) for name, values in by_signal.items()},
            staleness_seconds,
        )
        for key in sorted(keys)
    }


def _observation(  # noqa: PLR0917 - one figure per census column
    key: str,
    at: float,
    pods: float | None,
    newest: float | None,
    values: Mapping[str, float | None],
    staleness_seconds: float,
) -> Observation:
    notes: list[str] = []
    fresh = False
    pods = _finite_census("pods reporting", pods, notes)
    newest = _finite_census("newest sample time", newest, notes)
    reporting = int(pods) if pods is not None and pods > 0 else 0
    if reporting <= 0 or newest is None:
        reporting = 0
        notes.append("no live replica reports vLLM metrics")
    else:
        age = at - newest
        fresh = age <= staleness_seconds
        if not fresh:
            notes.append(f"newest sample is {age:.1f}s old (limit {staleness_seconds:g}s)")
    v: dict[str, float | None] = {}
    for name in SIGNALS:
        value = values.get(name)
        if value is not None and math.isnan(value):
            notes.append(f"{name} is NaN (no requests in the window, or a broken exporter)")
            value = None
        elif value is not None and (math.isinf(value) or value < 0):
            notes.append(f"{name}={value} rejected (not a finite, non-negative number)")
            value = None
        v[name] = value
    return Observation(
        deployment=key,
        timestamp=at,
        replicas_reporting=reporting,
        fresh=fresh,
        arrival_rate=v["arrival_rate"],
        completion_rate=v["completion_rate"],
        prompt_token_rate=v["prompt_token_rate"],
        generation_token_rate=v["generation_token_rate"],
        waiting=v["waiting"],
        running=v["running"],
        kv_cache_usage=v["kv_cache_usage"],
        ttft_p50=v["ttft_p50"],
        ttft_p95=v["ttft_p95"],
        e2e_p95=v["e2e_p95"],
        queue_time_p95=v["queue_time_p95"],
        notes=tuple(notes),
    )


def _finite_census(figure: str, value: float | None, notes: list[str]) -> float | None:
    """A census figure, or None with a note when it is not finite. A count and a timestamp
    are finite in Prometheus itself; a store behind the same API that answers NaN or Inf
    must not stop the read for every deployment (``int(nan)`` raised)."""
    if value is not None and not math.isfinite(value):
        notes.append(f"{figure}={value} rejected (not a finite number)")
        return None
    return value
