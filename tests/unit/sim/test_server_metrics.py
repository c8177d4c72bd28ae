"""The sim-server's metric families: vLLM names and observed values."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client.parser import text_string_to_metric_families

from forescale.sim.replica_model import ReplicaEngine, SimRequest, get_profile
from forescale.sim.server import RealtimeReplica
from forescale.sim.server_metrics import ServerMetrics


def samples(metrics: ServerMetrics) -> dict[str, float]:
    text = metrics.exposition().decode()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_finished_request_feeds_counters_and_histograms() -> None:
    metrics = ServerMetrics("m", kv_cache_tokens=1024)
    request = SimRequest(0, 1.0, 10, 5, admitted_at=1.5, first_token_at=2.0, finished_at=2.4)
    metrics.first_token(request)
    metrics.finished(request, "length")
    metrics.set_state(
        running=2,
        waiting=3,
        kv_cache_usage=0.25,
        prompt_tokens_total=10,
        generation_tokens_total=5,
        preemptions_total=2,
    )
    values = samples(metrics)
    labels = "[('engine', '0'), ('model_name', 'm')]"
    assert values["vllm:num_requests_waiting" + labels] == 3
    assert values["vllm:num_preemptions_total" + labels] == 2
    assert values["vllm:time_to_first_token_seconds_sum" + labels] == 1.0
    assert values["vllm:request_queue_time_seconds_sum" + labels] == 0.5
    assert values["vllm:inter_token_latency_seconds_count" + labels] == 4
    reason = "[('engine', '0'), ('finished_reason', 'length'), ('model_name', 'm')]"
    success = "vllm:request_success_total" + reason
    assert values[success] == 1
    assert not any("gpu_cache_usage_perc" in key for key in values)


def test_token_counters_only_move_forward() -> None:
    metrics = ServerMetrics("m", kv_cache_tokens=1024, legacy_names=True)
    for prompt, generated, preempted in ((10, 4, 1), (25, 9, 3), (25, 9, 2)):
        metrics.set_state(
            running=0,
            waiting=0,
            kv_cache_usage=0.5,
            prompt_tokens_total=prompt,
            generation_tokens_total=generated,
            preemptions_total=preempted,
        )
    values = samples(metrics)
    labels = "[('engine', '0'), ('model_name', 'm')]"
    assert values["vllm:prompt_tokens_total" + labels] == 25
    assert values["vllm:generation_tokens_total" + labels] == 9
    assert values["vllm:num_preemptions_total" + labels] == 3
    assert values["vllm:gpu_cache_usage_perc" + labels] == 0.5


def test_the_sim_server_counts_the_preemptions_of_its_replica() -> None:
    """Two requests that outgrow a 1,024-token cache (16 blocks) together (500 + 450 and
    100 + 400 tokens, the engine test's pair) on the real-time driver: the counter vLLM's KV
    alert and dashboard read shows the one preemption, and both complete."""
    profile = get_profile("llama-3.1-8b-h100", kv_cache_tokens=1024, decode_base_seconds=5e-4)
    metrics = ServerMetrics("m", kv_cache_tokens=profile.kv_cache_tokens)

    async def serve() -> list[int]:
        replica = RealtimeReplica(ReplicaEngine(profile), metrics)
        driver = asyncio.create_task(replica.run())

        async def last_count(prompt: int, output: int) -> int:
            count = 0
            async for count in replica.generate(prompt, output, "length"):  # noqa: B007
                pass
            return count

        try:
            big = asyncio.create_task(last_count(500, 450))
            await asyncio.sleep(0)  # the big one is admitted first
            counts = await asyncio.wait_for(asyncio.gather(big, last_count(100, 400)), timeout=30)
        finally:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        replica.sync()
        return list(counts)

    assert asyncio.run(serve()) == [450, 400]
    values = samples(metrics)
    labels = "[('engine', '0'), ('model_name', 'm')]"
    assert values["vllm:num_preemptions_total" + labels] == 1
    assert values["vllm:generation_tokens_total" + labels] == 850
