"""The sim-server's metric families: vLLM names and observed values."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from forescale.sim.replica_model import SimRequest
from forescale.sim.server_metrics import ServerMetrics


def samples(metrics: ServerMetrics) -> dict[str, float]:
    text = metrics.exposition().decode()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_finished_request_feeds_counters_and_histograms() -> None:
    metrics = ServerMetrics("m")
    request = SimRequest(0, 1.0, 10, 5, admitted_at=1.5, first_token_at=2.0, finished_at=2.4)
    metrics.first_token(request)
    metrics.finished(request, "length")
    metrics.set_state(
        running=2, waiting=3, kv_cache_usage=0.25, prompt_tokens_total=10, generation_tokens_total=5
    )
    values = samples(metrics)
    labels = "[('engine', '0'), ('model_name', 'm')]"
    assert values["vllm:num_requests_waiting" + labels] == 3
    assert values["vllm:time_to_first_token_seconds_sum" + labels] == 1.0
    assert values["vllm:request_queue_time_seconds_sum" + labels] == 0.5
    assert values["vllm:inter_token_latency_seconds_count" + labels] == 4
    reason = "[('engine', '0'), ('finished_reason', 'length'), ('model_name', 'm')]"
    success = "vllm:request_success_total" + reason
    assert values[success] == 1
    assert not any("gpu_cache_usage_perc" in key for key in values)


def test_token_counters_only_move_forward() -> None:
    metrics = ServerMetrics("m", legacy_names=True)
    for prompt, generated in ((10, 4), (25, 9)):
        metrics.set_state(
            running=0,
            waiting=0,
            kv_cache_usage=0.5,
            prompt_tokens_total=prompt,
            generation_tokens_total=generated,
        )
    values = samples(metrics)
    labels = "[('engine', '0'), ('model_name', 'm')]"
    assert values["vllm:prompt_tokens_total" + labels] == 25
    assert values["vllm:generation_tokens_total" + labels] == 9
    assert values["vllm:gpu_cache_usage_perc" + labels] == 0.5
