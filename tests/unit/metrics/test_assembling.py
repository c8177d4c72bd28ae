"""Turning query answers into Observations: the census, freshness, unbelievable values."""

from __future__ import annotations

import math

import pytest

from forescale.metrics.assembling import Row, assemble, parse_vector
from forescale.metrics.errors import QueryFailedError

AT = 1_000.0


def census(pods: int, newest: float, deployment: str = "llm") -> list[Row]:
    return [Row("ns", deployment, "pods", pods), Row("ns", deployment, "newest", newest)]


def value(v: float, deployment: str = "llm") -> Row:
    return Row("ns", deployment, None, v)


def test_parse_vector_reads_labels_and_string_values() -> None:
    result = [
        {"metric": {"namespace": "ns", "llmdeployment": "llm"}, "value": [AT, "2.5"]},
        {
            "metric": {"namespace": "ns", "llmdeployment": "x", "forescale_census": "pods"},
            "value": [AT, "NaN"],
        },
    ]
    rows = parse_vector("q", result)
    assert rows[0] == Row("ns", "llm", None, 2.5)
    assert rows[1].census == "pods"
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


def test_the_census_gives_pods_reporting_and_freshness() -> None:
    observations = assemble(AT, census(2, AT - 1), {"waiting": [value(3)]}, ["ns/llm"], 10)
    assert observations["ns/llm"].replicas_reporting == 2
    assert observations["ns/llm"].fresh
    assert observations["ns/llm"].waiting == 3.0


def test_every_requested_deployment_is_reported_even_without_data() -> None:
    observations = assemble(AT, census(1, AT - 1), {}, ["ns/llm", "ns/idle"], 10)
    idle = observations["ns/idle"]
    assert idle.replicas_reporting == 0
    assert not idle.fresh
    assert idle.arrival_rate is None
    assert "no live replica reports vLLM metrics" in idle.notes
    assert not idle.usable


def test_deployments_not_asked_for_are_left_out() -> None:
    """Another shard's deployments in the same Prometheus are not this operator's."""
    rows = census(1, AT - 1) + census(3, AT - 1, "theirs")
    observations = assemble(AT, rows, {"running": [value(2), value(5, "theirs")]}, ["ns/llm"], 10)
    assert set(observations) == {"ns/llm"}


def test_without_a_deployment_list_every_deployment_seen_is_reported() -> None:
    observations = assemble(
        AT, census(1, AT - 1), {"running": [value(2), value(1, "other")]}, None, 10
    )
    assert set(observations) == {"ns/llm", "ns/other"}
    assert observations["ns/other"].replicas_reporting == 0
    assert observations["ns/llm"].running == 2.0


def test_freshness_is_the_newest_sample_age_against_the_limit() -> None:
    fresh = assemble(AT, census(2, AT - 4), {}, None, 5)["ns/llm"]
    assert fresh.fresh
    stale = assemble(AT, census(1, AT - 20), {}, None, 5)["ns/llm"]
    assert not stale.fresh
    assert any("20.0s old" in note for note in stale.notes)


def test_a_census_without_its_newest_row_is_nobody_reporting() -> None:
    rows = [Row("ns", "llm", "pods", 2)]
    observation = assemble(AT, rows, {}, None, 5)["ns/llm"]
    assert observation.replicas_reporting == 0
    assert not observation.usable


def test_nan_inf_and_negative_values_become_missing_with_a_note() -> None:
    signals = {
        "ttft_p95": [value(math.nan)],
        "waiting": [value(-1)],
        "running": [value(math.inf)],
        "arrival_rate": [value(4.0)],
    }
    observation = assemble(AT, census(1, AT), signals, None, 5)["ns/llm"]
    assert (observation.ttft_p95, observation.waiting, observation.running) == (None, None, None)
    assert observation.arrival_rate == 4.0
    assert {"ttft_p95", "waiting", "running"} <= set(observation.missing)
    assert len(observation.notes) == 3
    assert observation.timestamp == AT


@pytest.mark.parametrize(
    ("pods", "newest"),
    [(math.nan, AT), (math.inf, AT), (2.0, math.nan), (2.0, -math.inf), (-3.0, AT)],
)
def test_a_census_figure_that_is_not_a_finite_count_is_nobody_reporting(
    pods: float, newest: float
) -> None:
    """Finding: a pod census of NaN (a Prometheus-compatible store answering for a count)
    raised ValueError out of the read, which is not a PrometheusError: the tick lost the
    reading of every deployment, not just this one's."""
    rows = [Row("ns", "llm", "pods", pods), Row("ns", "llm", "newest", newest)]
    rows += census(2, AT, deployment="other")
    signals = {
        "arrival_rate": [value(4.0), value(4.0, "other")],
        "waiting": [value(0.0), value(0.0, "other")],
    }
    observations = assemble(AT, rows, signals, None, 5)
    assert observations["ns/llm"].replicas_reporting == 0
    assert not observations["ns/llm"].usable
    assert observations["ns/other"].usable  # the others are read as ever
    if not (math.isfinite(pods) and math.isfinite(newest)):
        assert any("rejected (not a finite number)" in n for n in observations["ns/llm"].notes)
