"""Time behaviour: decode slows with the batch, counters, determinism, misuse errors."""

from __future__ import annotations

import random

import pytest

from forescale.sim.replica_model import ReplicaEngine, SimRequest, get_profile


def run(requests: list[SimRequest]) -> ReplicaEngine:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100"))
    for request in sorted(requests, key=lambda r: r.arrival):
        engine.advance(request.arrival)
        engine.submit(request, request.arrival)
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
    return engine


def inter_token(request: SimRequest) -> float:
    assert request.first_token_at is not None and request.finished_at is not None
    return (request.finished_at - request.first_token_at) / (request.output_tokens - 1)


def test_decode_step_grows_with_batch_size() -> None:
    alone = SimRequest(0, 0.0, 100, 200)
    run([alone])
    crowd = [SimRequest(i, 0.0, 100, 200) for i in range(128)]
    run(crowd)
    assert inter_token(crowd[0]) > 1.5 * inter_token(alone)


def test_single_request_matches_the_closed_form() -> None:
    profile = get_profile("llama-3.1-8b-h100", decode_per_kv_token_seconds=0.0)
    engine = ReplicaEngine(profile)
    request = SimRequest(0, 1.0, 300, 11)
    engine.advance(1.0)
    engine.submit(request, 1.0)
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
    prefill = profile.decode_base_seconds + 300 * profile.prefill_seconds_per_token
    step = profile.decode_base_seconds + profile.decode_per_seq_seconds
    assert request.first_token_at == pytest.approx(1.0 + prefill)
    assert request.finished_at == pytest.approx(1.0 + prefill + 10 * step)


def test_token_counters_match_the_requests() -> None:
    rng = random.Random(7)
    requests = [
        SimRequest(i, rng.uniform(0, 5), rng.randint(1, 500), rng.randint(1, 300))
        for i in range(300)
    ]
    engine = run(requests)
    assert engine.finished_count == 300
    assert engine.prompt_tokens_total == sum(r.prompt_tokens for r in requests)
    assert engine.generation_tokens_total == sum(r.output_tokens for r in requests)


def test_streamed_token_count_rises_to_the_output_length() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100"))
    request = SimRequest(0, 0.0, 10, 100)
    engine.submit(request, 0.0)
    seen = []
    for tick in range(1, 200):
        engine.advance(tick * 0.01)
        seen.append(engine.tokens_generated(request))
    assert seen == sorted(seen)
    assert seen[0] >= 1
    assert seen[-1] == 100


def test_same_input_gives_the_same_timeline() -> None:
    def timeline() -> list[tuple[float | None, float | None]]:
        rng = random.Random(3)
        requests = [
            SimRequest(i, rng.uniform(0, 2), rng.randint(1, 900), rng.randint(1, 400))
            for i in range(200)
        ]
        run(requests)
        return [(r.first_token_at, r.finished_at) for r in requests]

    assert timeline() == timeline()


def test_submitting_past_a_pending_event_is_an_error() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100"))
    engine.submit(SimRequest(0, 0.0, 10, 10), 0.0)
    with pytest.raises(ValueError, match="advance"):
        engine.submit(SimRequest(1, 5.0, 10, 10), 5.0)
