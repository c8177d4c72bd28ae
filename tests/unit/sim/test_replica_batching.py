"""Continuous batching: the max_num_seqs cap, FIFO admission, prefill grouping."""

from __future__ import annotations

from forescale.sim.replica_model import ReplicaEngine, SimRequest, get_profile


def drain(engine: ReplicaEngine) -> list[SimRequest]:
    done: list[SimRequest] = []
    while (event := engine.next_event_time()) is not None:
        done.extend(engine.advance(event))
    return done


def test_running_never_exceeds_max_num_seqs() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", max_num_seqs=4))
    for i in range(10):
        engine.submit(SimRequest(i, 0.0, 10, 50), 0.0)
    engine.advance(engine.next_event_time() or 0.0)  # the first request's prefill ends
    assert (engine.num_running, engine.num_waiting) == (4, 6)
    peak = 0
    while (event := engine.next_event_time()) is not None:
        engine.advance(event)
        peak = max(peak, engine.num_running)
    assert peak == 4
    assert engine.finished_count == 10


def test_admission_is_first_in_first_out() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100", max_num_seqs=1))
    requests = [SimRequest(i, 0.0, 10, 5) for i in range(5)]
    for request in requests:
        engine.submit(request, 0.0)
    done = drain(engine)
    assert [r.id for r in done] == [0, 1, 2, 3, 4]
    admitted = [r.admitted_at or 0.0 for r in requests]
    assert admitted == sorted(admitted)


def test_requests_waiting_together_share_one_prefill_step() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100"))
    first = SimRequest(0, 0.0, 100, 10)
    engine.submit(first, 0.0)  # starts a prefill step alone
    late = [SimRequest(i, 0.001, 100, 10) for i in range(1, 4)]
    engine.advance(0.001)
    for request in late:
        engine.submit(request, 0.001)
    assert engine.num_waiting == 3
    drain(engine)
    assert len({r.first_token_at for r in late}) == 1
    assert (late[0].first_token_at or 0.0) > (first.first_token_at or 0.0)


def test_prompt_tokens_beyond_the_step_budget_wait_for_the_next_step() -> None:
    profile = get_profile("llama-3.1-8b-h100", max_num_batched_tokens=1000)
    engine = ReplicaEngine(profile)
    engine.submit(SimRequest(0, 0.0, 600, 10), 0.0)
    engine.advance(0.0001)
    engine.submit(SimRequest(1, 0.0001, 600, 10), 0.0001)
    engine.submit(SimRequest(2, 0.0001, 500, 10), 0.0001)
    engine.advance(engine.next_event_time() or 0.0)  # first prefill ends, request 1 starts
    assert engine.num_running == 2
    assert engine.num_waiting == 1


def test_single_token_requests_finish_at_their_first_token() -> None:
    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100"))
    request = SimRequest(0, 0.0, 50, 1)
    engine.submit(request, 0.0)
    drain(engine)
    assert request.finished_at == request.first_token_at
    assert engine.generation_tokens_total == 1
