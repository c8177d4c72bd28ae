"""Turning query answers into Observations: live pods, freshness, unbelievable values."""

from __future__ import annotations

import math

import pytest

from forescale.metrics.assembling import Row, assemble, parse_vector
from forescale.metrics.errors import QueryFailedError

AT = 1_000.0


def pod(name: str, newest: float, deployment: str = "llm") -> Row:
    return Row("ns", deployment, name, newest)


def value(v: float, deployment: str = "llm") -> Row:
    return Row("ns", deployment, None, v)


def test_parse_vector_reads_labels_and_string_values() -> None:
    result = [
        {"metric": {"namespace": "ns", "llmdeployment": "llm"}, "value": [AT, "2.5"]},
        {"metric": {"namespace": "ns", "llmdeployment": "x", "pod": "p"}, "value": [AT, "NaN"]},
    ]
    rows = parse_vector("q", result)
    assert rows[0] == Row("ns", "llm", None, 2.5)
    assert rows[1].pod == "p"
    assert math.isnan(rows[1].value)


@pytest.mark.parametrize(
    "result",
    [
        {"resultType": "matrix"},
        [{"metric": {"namespace": "ns"}, "value": [AT, "1"]}],
        [{"metric": {"namespace": "ns", "llmdeployment": "l"}, "value": [AT, "many"]}],
        [{"metric": {"namespace": "ns", "llmdeployment": "l"}}],
    ],
)
def test_parse_vector_rejects_answers_that_are_not_instant_vectors(result: object) -> None:
    with pytest.raises(QueryFailedError):
        parse_vector("q", result)


def test_only_live_pods_count_as_reporting() -> None:
    pods = [pod("a", AT - 1), pod("b", AT - 1), pod("gone", AT - 1)]
    observations = assemble(AT, pods, {"waiting": [value(3)]}, {"ns/llm": {"a", "b"}}, 10)
    assert observations["ns/llm"].replicas_reporting == 2
    assert observations["ns/llm"].waiting == 3.0


def test_every_requested_deployment_is_reported_even_without_data() -> None:
    observations = assemble(AT, [pod("a", AT - 1)], {}, {"ns/llm": {"a"}, "ns/idle": set()}, 10)
    idle = observations["ns/idle"]
    assert idle.replicas_reporting == 0
    assert not idle.fresh
    assert idle.arrival_rate is None
    assert "no live replica reports vLLM metrics" in idle.notes
    assert not idle.usable


def test_without_live_pods_every_deployment_seen_is_reported() -> None:
    observations = assemble(
        AT, [pod("a", AT - 1)], {"running": [value(2), value(1, "other")]}, None, 10
    )
    assert set(observations) == {"ns/llm", "ns/other"}
    assert observations["ns/other"].replicas_reporting == 0
    assert observations["ns/llm"].running == 2.0


def test_freshness_is_the_newest_sample_age_against_the_limit() -> None:
    fresh = assemble(AT, [pod("a", AT - 20), pod("b", AT - 4)], {}, None, 5)["ns/llm"]
    assert fresh.fresh
    stale = assemble(AT, [pod("a", AT - 20)], {}, None, 5)["ns/llm"]
    assert not stale.fresh
    assert any("20.0s old" in note for note in stale.notes)


def test_nan_inf_and_negative_values_become_missing_with_a_note() -> None:
    signals = {
        "ttft_p95": [value(math.nan)],
        "waiting": [value(-1)],
        "running": [value(math.inf)],
        "arrival_rate": [value(4.0)],
    }
    observation = assemble(AT, [pod("a", AT)], signals, None, 5)["ns/llm"]
    assert (observation.ttft_p95, observation.waiting, observation.running) == (None, None, None)
    assert observation.arrival_rate == 4.0
    assert {"ttft_p95", "waiting", "running"} <= set(observation.missing)
    assert len(observation.notes) == 3
    assert observation.timestamp == AT
