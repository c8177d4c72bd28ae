"""The fleet simulator's figures are pinned: a speed-up of the hot loop must not move them.

The figures were produced by the simulator before its hot loop was inlined (fleet routing,
dispatch and completion, the replica engine's step formula, histograms filled per scrape)
and must still come out the same, to 1e-9 relative: same seed, same events, same floats.
The sum of every request's TTFT is a fingerprint of the whole run (one request served a
step later moves it). The peers here are the benchmark's own (HPA, KEDA, KPA), not
forescale's policy, so that a change of the policy (issue 10) does not move the pins.
If a deliberate change of the simulator's behaviour moves them, re-pin with a note saying
why the new figures are the right ones.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from forescale.sim import bench, bench_variants
from forescale.sim.fleet import simulate
from forescale.sim.replica_model import get_profile

CONFIG = bench.BenchConfig(
    profile=get_profile("llama-3.1-8b-h100"),
    peak_replicas=4.0,
    max_replicas=8,
    scenario_seconds=600.0,
    warmup_seconds=120.0,
)

# (scenario, variant label): requests, attainment, GPU-hours, TTFT p95, sum of TTFTs, events
PINNED = {
    ("steady", "keda"): (
        81348, 1.0, 0.9041649881880822, 0.036892157418415644, 2133.910434076381, 1
    ),
    ("flash", "kpa"): (
        39898, 0.5150383477868565, 0.8156238885571562, 221.87079206807198, 2036608.6632196144, 7
    ),
    ("flash2", "hpa"): (
        43175, 0.5579154603358425, 0.9708217792304615, 67.4880344587376, 780843.4389040297, 2
    ),
}  # fmt: skip


@pytest.mark.parametrize(("spec", "label"), sorted(PINNED))
def test_a_run_reproduces_its_pinned_figures(spec: str, label: str) -> None:
    sized = bench.size(spec, CONFIG)
    prepared = bench.prepare(spec, CONFIG, 1, sized)
    variant = bench_variants.BY_LABEL[label]
    scaler = variant.build(variant.default, prepared, CONFIG)
    result = simulate(prepared.trace, scaler, bench.fleet_config(prepared, CONFIG))
    row = bench.score(prepared, result, CONFIG.slo_ttft_seconds, {})
    requests, attainment, hours, p95, ttft_sum, events = PINNED[(spec, label)]
    assert row["requests"] == requests
    assert result.scale_events == events
    measured = (row["slo_attainment"], row["gpu_hours"], row["ttft_p95"])
    for got, want in zip(
        (*measured, float(np.nansum(result.ttft))), (attainment, hours, p95, ttft_sum), strict=True
    ):
        assert isinstance(got, float)
        assert math.isclose(got, want, rel_tol=1e-9), (spec, label, got, want)
