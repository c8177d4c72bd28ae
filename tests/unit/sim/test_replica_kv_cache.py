"""KV-cache capacity: admission reserves prompt + output tokens; full cache means waiting."""

from __future__ import annotations

import pytest

from forescale.sim.replica_model import ReplicaEngine, SimRequest, get_profile


def test_request_waits_while_the_cache_is_full() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=1000))
    big = SimRequest(0, 0.0, 500, 400)
    small = SimRequest(1, 0.0, 100, 100)
    engine.submit(big, 0.0)
    engine.submit(small, 0.0)
    assert engine.num_waiting == 1
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
    assert small.admitted_at == big.finished_at


def test_cache_usage_grows_while_decoding_and_empties_after() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=10_000))
    engine.submit(SimRequest(0, 0.0, 1000, 1000), 0.0)
    engine.advance(engine.next_event_time() or 0.0)
    after_prefill = engine.kv_cache_usage
    engine.advance(engine.now + 1.0)
    assert 0.1 <= after_prefill < engine.kv_cache_usage <= 0.2
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
    assert engine.kv_cache_usage == 0.0


def test_request_larger_than_the_cache_is_refused() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", kv_cache_tokens=1000))
    with pytest.raises(ValueError, match="exceed the KV cache"):
        engine.submit(SimRequest(0, 0.0, 900, 200), 0.0)
