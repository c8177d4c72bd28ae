"""The sim-server's ``/metrics``: vLLM's own names, types, labels and buckets.

The series are what vLLM (V1 engine, ~0.10) exposes, written with prometheus_client on a
private registry exactly as vLLM does, so the exposition matches a real scrape byte for
byte in structure (``_total``/``_created`` counters, ``_bucket``/``_sum``/``_count``
histograms, labels ``model_name`` and ``engine``). The names and bounds are copied from
vLLM here rather than imported from ``forescale.metrics.contract`` on purpose: this module
stands in for vLLM, so a reader test against it checks the reader's contract against an
independent copy instead of against itself.

``legacy_names`` adds the pre-V1 names that vLLM ~0.10 still emitted next to the new ones
(``gpu_cache_usage_perc``, ``time_per_output_token_seconds``), to exercise a reader's
fallbacks.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from forescale.sim.replica_model import SimRequest

TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
    240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
INTER_TOKEN_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0,
)  # fmt: skip
FINISHED_REASONS: tuple[str, ...] = ("stop", "length", "abort")
ENGINE_INDEX = "0"
_LABELS = ("model_name", "engine")


class _Total:
    """A Prometheus counter fed the engine's running total. It only moves forward: the
    engine's generated-token total counts unfinished requests' progress, which can dip by a
    token when a preempted request's progress is rounded down."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._seen = 0

    def reach(self, total: int) -> None:
        if total > self._seen:
            self._counter.inc(total - self._seen)
            self._seen = total


class ServerMetrics:
    """vLLM's metric families for one served model, fed from the replica model."""

    def __init__(self, model_name: str, *, legacy_names: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"model_name": model_name, "engine": ENGINE_INDEX}
        reg = self.registry

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, _LABELS, registry=reg).labels(**labels)

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, _LABELS, registry=reg).labels(**labels)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            family = Histogram(name, doc, _LABELS, buckets=buckets, registry=reg)
            return family.labels(**labels)

        self._running = gauge(
            "vllm:num_requests_running", "Number of requests in model execution batches."
        )
        self._waiting = gauge(
            "vllm:num_requests_waiting", "Number of requests waiting to be processed."
        )
        self._kv_usage = [
            gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")
        ]
        self._preemptions = _Total(
            counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.")
        )
        self._prompt_tokens = _Total(
            counter("vllm:prompt_tokens", "Number of prefill tokens processed.")
        )
        self._generation_tokens = _Total(
            counter("vllm:generation_tokens", "Number of generation tokens processed.")
        )
        success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            (*_LABELS, "finished_reason"),
            registry=reg,
        )
        self._success = {
            reason: success.labels(finished_reason=reason, **labels) for reason in FINISHED_REASONS
        }
        self._ttft = histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            TTFT_BUCKETS,
        )
        self._itl = [
            histogram(
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                INTER_TOKEN_BUCKETS,
            )
        ]
        self._e2e = histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            REQUEST_LATENCY_BUCKETS,
        )
        self._queue = histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            REQUEST_LATENCY_BUCKETS,
        )
        if legacy_names:
            self._kv_usage.append(
                gauge(
                    "vllm:gpu_cache_usage_perc",
                    "GPU KV-cache usage. 1 means 100 percent usage."
                    "DEPRECATED: Use vllm:kv_cache_usage_perc instead.",
                )
            )
            self._itl.append(
                histogram(
                    "vllm:time_per_output_token_seconds",
                    "Histogram of time per output token in seconds.",
                    INTER_TOKEN_BUCKETS,
                )
            )

    def set_state(
        self,
        *,
        running: int,
        waiting: int,
        kv_cache_usage: float,
        prompt_tokens_total: int,
        generation_tokens_total: int,
        preemptions_total: int,
    ) -> None:
        """Gauges and counters from the engine's current state."""
        self._running.set(running)
        self._waiting.set(waiting)
        for gauge in self._kv_usage:
            gauge.set(kv_cache_usage)
        self._prompt_tokens.reach(prompt_tokens_total)
        self._generation_tokens.reach(generation_tokens_total)
        self._preemptions.reach(preemptions_total)

    def first_token(self, request: SimRequest) -> None:
        """Observe TTFT and queue time when the first token is out (vLLM does it then too)."""
        if request.ttft is not None:
            self._ttft.observe(request.ttft)
        if request.queue_time is not None:
            self._queue.observe(request.queue_time)

    def finished(self, request: SimRequest, reason: str) -> None:
        """Observe a finished request: success counter, e2e and its inter-token gaps."""
        self._success[reason].inc()
        if request.latency is not None:
            self._e2e.observe(request.latency)
        gaps = request.output_tokens - 1
        if gaps > 0 and request.finished_at is not None and request.first_token_at is not None:
            # The model gives a request's mean gap; vLLM observes every gap.
            mean_gap = (request.finished_at - request.first_token_at) / gaps
            for histogram in self._itl:
                for _ in range(gaps):
                    histogram.observe(mean_gap)

    def exposition(self) -> bytes:
        """The Prometheus text format of every family."""
        return generate_latest(self.registry)
