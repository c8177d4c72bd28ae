"""KV-cache capacity as vLLM V1 manages it: a request is admitted on its prompt's blocks,
and when the running sequences' next tokens no longer fit, the one admitted last is
preempted and later recomputed (``vllm/v1/core/sched/scheduler.py``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forescale.sim.replica_model import ReplicaEngine, SimRequest, get_profile


def _held(engine: ReplicaEngine) -> float:
    """Tokens in the cache over its capacity, uncapped (``kv_cache_usage`` stops at 1)."""
    return engine.kv_cache_tokens_used / engine.profile.kv_cache_tokens


def _run(engine: ReplicaEngine) -> list[float]:
    """Advance event by event to the end; the cache held after each event."""
    usage = []
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
        usage.append(_held(engine))
    return usage


def test_a_request_is_admitted_on_its_prompt_while_another_decodes() -> None:
    """500 + 400 tokens and 100 + 100 in a 1,000-token cache: together they never need
    more than 1,000 - 100 (the small one is done 100 steps in), and the small one's prompt
    fits as soon as the big one's prefill ends: it does not wait for the big one."""
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=1000))
    big = SimRequest(0, 0.0, 500, 400)
    small = SimRequest(1, 0.0, 100, 100)
    engine.submit(big, 0.0)
    engine.submit(small, 0.0)
    assert engine.num_waiting == 1  # the big one's prefill step is under way
    _run(engine)
    assert small.admitted_at == big.first_token_at
    assert small.finished_at is not None and big.finished_at is not None
    assert small.finished_at < big.finished_at
    assert engine.preemptions == 0


def test_the_sequence_admitted_last_is_preempted_and_recomputed() -> None:
    """500 + 450 and 100 + 400 in a 1,000-token cache: both decoding, the cache fills about
    200 steps in; the small one (admitted last) is preempted with the tokens it had, waits
    for the big one to finish, prefills its prompt and those tokens again, and decodes the
    rest. Its first token stays the first one; no token is counted twice; the cache is
    never over full."""
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=1000))
    big = SimRequest(0, 0.0, 500, 450)
    small = SimRequest(1, 0.0, 100, 400)
    engine.submit(big, 0.0)
    engine.submit(small, 0.0)
    while small.first_token_at is None:
        engine.advance(engine.next_event_time() or 0.0)
    first_token = small.first_token_at
    usage = _run(engine)
    assert engine.preemptions == 1
    assert 190 <= small.recomputed <= 201, small
    assert small.first_token_at == first_token
    assert big.finished_at is not None and small.finished_at is not None
    assert small.finished_at > big.finished_at
    assert engine.generation_tokens_total == 450 + 400
    assert engine.prompt_tokens_total == 500 + 100
    assert max(usage) <= 1.0
    assert not small.preempted and engine.num_running == 0


def test_a_preempted_request_streams_no_token_twice() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=1000))
    big = SimRequest(0, 0.0, 500, 450)
    small = SimRequest(1, 0.0, 100, 400)
    engine.submit(big, 0.0)
    engine.submit(small, 0.0)
    seen = [0]
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
        seen.append(engine.tokens_generated(small))
        engine.advance(engine.now + 0.01)  # between events too
        seen.append(engine.tokens_generated(small))
    assert seen == sorted(seen) and seen[-1] == 400


def test_cache_usage_grows_while_decoding_and_empties_after() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=10_000))
    engine.submit(SimRequest(0, 0.0, 1000, 1000), 0.0)
    engine.advance(engine.next_event_time() or 0.0)
    after_prefill = engine.kv_cache_usage
    engine.advance(engine.now + 1.0)
    assert 0.1 <= after_prefill < engine.kv_cache_usage <= 0.2
    _run(engine)
    assert engine.kv_cache_usage == 0.0


def test_request_larger_than_the_cache_is_refused() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=1000))
    with pytest.raises(ValueError, match="exceed the KV cache"):
        engine.submit(SimRequest(0, 0.0, 900, 200), 0.0)


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(
        st.tuples(st.floats(0.0, 2.0), st.integers(1, 600), st.integers(1, 600)),
        min_size=1,
        max_size=40,
    ),
    kv_tokens=st.integers(1200, 6000),
)
def test_whatever_the_load_every_request_completes_once_within_the_cache(
    requests: list[tuple[float, int, int]], kv_tokens: int
) -> None:
    """Random arrivals into a small cache: every request finishes, each output token is
    counted once, prompts once, the cache is never over full, and a preempted request's
    TTFT is its first token's."""
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=kv_tokens))
    sims = [
        SimRequest(index, arrival, prompt, output)
        for index, (arrival, prompt, output) in enumerate(sorted(requests))
    ]
    firsts: dict[int, float] = {}
    usage = [0.0]

    def advance(until: float) -> None:
        engine.advance(until)
        usage.append(_held(engine))
        for r in sims:
            if r.first_token_at is not None:
                firsts.setdefault(r.id, r.first_token_at)

    for request in sims:
        while (event := engine.next_event_time()) is not None and event <= request.arrival:
            advance(event)
        advance(request.arrival)
        engine.submit(request, request.arrival)
    while (event := engine.next_event_time()) is not None:
        advance(event)
    assert all(r.finished_at is not None and not r.preempted for r in sims)
    assert engine.finished_count == len(sims)
    assert engine.generation_tokens_total == sum(r.output_tokens for r in sims)
    assert engine.prompt_tokens_total == sum(r.prompt_tokens for r in sims)
    assert max(usage) <= 1.0 + 1e-9
    assert all(firsts[r.id] == r.first_token_at for r in sims)
    assert engine.num_running == engine.num_waiting == 0
