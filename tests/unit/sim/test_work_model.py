"""The policy's token model against the replica model: how far a replica's capacity within
the SLO moves when the mix does.

The policy (``learning.work_per_request``) holds a replica's request capacity at two mixes
in the inverse ratio of their work per request, output tokens x context (prompt + half the
output): decoding reads the whole context at every step. The replica model measures the
within-SLO rate by load test (``sizing.measure``). On a decode-heavy mix (the calibration's
chat mix) the two agree within 7 % on heavier mixes (prompts and outputs up to 2x) and
the model is 8 % optimistic on a lighter one (0.8x); on a
prefill-heavy one (code's 2,000-token prompts, 26-token outputs) they agree on longer
prompts and not on longer outputs, where prefill, which the token model leaves out, is
most of the work (docs/policy.md).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from forescale.policy.learning import work_per_request
from forescale.sim import scenarios, sizing
from forescale.sim.replica_model import get_profile
from forescale.sim.traces import Trace

SLO_SECONDS = 2.0
PROFILE = get_profile("llama-3.1-8b-h100")


def _code_like() -> Trace:
    """Code-like requests: about 2,000-token prompts, 26-token outputs."""
    rng = np.random.default_rng(0)
    return Trace(
        "code-like",
        np.zeros(2000),
        rng.integers(1500, 2500, 2000).astype(np.int64),
        rng.integers(10, 42, 2000).astype(np.int64),
    )


MIXES = {"chat": lambda: scenarios.default_mix(0), "code-like": _code_like}


@functools.cache
def _capacity(mix: str, prompts: float = 1.0, outputs: float = 1.0) -> sizing.ReplicaCapacity:
    """The load test at ``mix`` scaled in prompts and outputs (each measured once)."""
    base = MIXES[mix]()
    scaled = Trace(
        base.name,
        base.arrivals,
        np.maximum(1, np.round(base.prompt_tokens * prompts)).astype(base.prompt_tokens.dtype),
        np.maximum(1, np.round(base.output_tokens * outputs)).astype(base.output_tokens.dtype),
    )
    return sizing.measure(PROFILE, scaled, SLO_SECONDS, seed=0)


def _ratios(mix: str, prompts: float, outputs: float) -> tuple[float, float]:
    """(measured, token model's) capacity at the scaled mix over the capacity at ``mix``."""
    base, shifted = _capacity(mix), _capacity(mix, prompts, outputs)
    before = work_per_request(base.mean_prompt_tokens, base.mean_output_tokens)
    after = work_per_request(shifted.mean_prompt_tokens, shifted.mean_output_tokens)
    assert before is not None and after is not None
    measured = shifted.slo_requests_per_second / base.slo_requests_per_second
    return measured, before / after


@pytest.mark.parametrize(("prompts", "outputs"), [(1.0, 1.5), (1.5, 1.0), (1.0, 2.0), (1.2, 1.2)])
def test_on_a_decode_heavy_mix_the_token_model_follows_a_heavier_mix(
    prompts: float, outputs: float
) -> None:
    measured, modelled = _ratios("chat", prompts, outputs)
    assert modelled == pytest.approx(measured, rel=0.07)
    # It is the context that carries longer prompts: outputs alone would not move.
    if outputs == 1.0:
        assert measured < 0.9


def test_on_a_lighter_mix_the_token_model_is_a_little_optimistic() -> None:
    """Prompts and outputs x0.8: 1.56x the capacity by the model, 1.44x measured (the step's
    fixed costs do not shrink with the mix). The policy raises a lowered capacity in this
    ratio only up to the load test's (``learning._relaxed``), so the optimism never takes
    a replica above what was measured."""
    measured, modelled = _ratios("chat", 0.8, 0.8)
    assert measured < modelled < 1.1 * measured


def test_on_a_prefill_heavy_mix_longer_prompts_follow_and_longer_outputs_do_not() -> None:
    """Code-like requests (2,000-token prompts, 26-token outputs): prompts x1.5 cost what
    the model says within 7 %; outputs x2 cost far less than it says (0.79 measured
    against 0.50), the prefill the model leaves out being most of the work."""
    measured, modelled = _ratios("code-like", 1.5, 1.0)
    assert modelled == pytest.approx(measured, rel=0.07)
    measured, modelled = _ratios("code-like", 1.0, 2.0)
    assert measured > 1.3 * modelled
