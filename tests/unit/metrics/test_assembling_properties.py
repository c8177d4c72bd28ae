"""Whatever a Prometheus-compatible API answers, the read gives Observations or says why.

The example tests pin each judgement; this one asks what must hold for any answer: the
values of real stores (``NaN`` from ``histogram_quantile`` over no requests, ``+Inf``,
negatives from a broken exporter, huge numbers) and census rows of either kind, for the
deployments asked for and for every one seen. Either the answer is refused as malformed
(``QueryFailedError``, which the autoscaler turns into a hold for every deployment) or each
Observation holds only finite, non-negative signals. Any other exception would end the
tick's read for every deployment without a word in their status.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from forescale.metrics.assembling import assemble, parse_vector
from forescale.metrics.errors import QueryFailedError
from forescale.metrics.observation import SIGNALS
from forescale.metrics.promql import CENSUS_LABEL, CENSUS_NEWEST, CENSUS_PODS

#: Sample values as Prometheus encodes them (strings), the odd ones included.
values = st.one_of(
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e999", "-0", "0", "2.5", "1e308", "-1", "x", ""]),
    st.floats().map(repr),
    st.integers(-(10**20), 10**20).map(str),
)
elements = st.fixed_dictionaries(
    {
        "metric": st.fixed_dictionaries(
            {"namespace": st.just("ns"), "llmdeployment": st.sampled_from(["a", "b"])},
            optional={CENSUS_LABEL: st.sampled_from([CENSUS_PODS, CENSUS_NEWEST, "other"])},
        ),
        "value": st.tuples(st.floats(0, 2e9), values).map(list),
    }
)


_POD = {"metric": {"namespace": "ns", "llmdeployment": "a"}, "value": [1.7e9, "2"]}
_NAN = {"metric": {"namespace": "ns", "llmdeployment": "a"}, "value": [1.7e9, "NaN"]}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(elements, max_size=6),
    st.dictionaries(st.sampled_from(SIGNALS), st.lists(elements, max_size=3)),
    st.booleans(),
)
@example([_POD], {name: [_NAN] for name in SIGNALS}, True)  # always reaches the read
def test_any_answer_is_refused_or_read_into_believable_observations(
    census: list[object], signals: dict[str, list[object]], asked: bool
) -> None:
    try:
        census_rows = parse_vector("census", census)
        signal_rows = {name: parse_vector(name, answer) for name, answer in signals.items()}
    except QueryFailedError as refused:
        # Refused, and says which answer: the hold it becomes names it.
        assert refused.query in {"census", *signals}, refused
        return
    deployments = ["ns/a", "ns/b"] if asked else None
    observations = assemble(1.7e9, census_rows, signal_rows, deployments, 60.0)
    for observation in observations.values():
        assert observation.replicas_reporting >= 0
        for name in SIGNALS:
            value = getattr(observation, name)
            assert value is None or (math.isfinite(value) and value >= 0), (name, value)
