"""The replica model admits on the prompt's blocks and preempts when decoding runs out, as
vLLM V1 does. On the benchmark's mixes the sequence slots or prefill compute stop admission
first, so up to saturation nothing is held by the KV cache and nothing is preempted; past
it, with long prompts and long outputs, sequences are preempted (docs/replica-model.md)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from forescale.sim.replica_model import get_profile
from forescale.sim.sizing import SAMPLE_REQUESTS, draw_mix, saturated_rates, trial
from forescale.sim.traces import load_trace
from tests.conftest import SHARED

PROFILE = get_profile("llama-3.1-8b-h100")


@functools.cache
def _mix(trace: str, output_scale: float = 1.0) -> list[tuple[int, int]]:
    """The load test's draw from ``trace``, outputs scaled (read once per trace and scale)."""
    drawn = draw_mix(
        load_trace(SHARED / "traces" / trace), SAMPLE_REQUESTS, np.random.default_rng(0)
    )
    return [(prompt, max(1, round(output * output_scale))) for prompt, output in drawn]


@pytest.mark.parametrize("trace", ["azure-llm-2023-conv.csv", "azure-llm-2023-code.csv"])
@pytest.mark.parametrize("load", [0.9, 1.0])
def test_up_to_saturation_the_kv_cache_holds_nothing_back(trace: str, load: float) -> None:
    mix = _mix(trace)
    rate = load * saturated_rates(PROFILE, mix)[0]
    result = trial(PROFILE, mix, rate, seed=0)
    assert (result.kv_blocked, result.preemptions) == (0, 0)


def test_past_saturation_long_prompts_with_long_outputs_are_preempted() -> None:
    """Conv's prompts with four times its outputs at 1.1x the saturated rate: the running
    sequences outgrow the cache and the ones admitted last are preempted (seed 0: 607
    times), and 1,665 of 4,420 admission attempts find no room for the head's prompt."""
    mix = _mix("azure-llm-2023-conv.csv", output_scale=4.0)
    rate = 1.1 * saturated_rates(PROFILE, mix)[0]
    result = trial(PROFILE, mix, rate, seed=0)
    assert result.preemptions > 300
    assert result.kv_blocked > 1000
