"""The vLLM metric contract: which series forescale reads, with their types and buckets.

Everything that knows a vLLM metric *name* lives here, so a vLLM rename is a one-file
change. Where vLLM renamed a metric (V0 -> V1), a signal lists its names newest first and
readers try them in that order. A signal none of whose names is present is *missing*
(``None``), never zero: a renamed gauge that silently reads as 0 would look like an idle
fleet and scale it down.

Names are the sample names as scraped: counters carry ``_total`` (their ``_created``
companions are ignored), histograms are read through ``_bucket``/``_sum``/``_count``.
Every vLLM series has the labels ``model_name`` and ``engine`` (one per data-parallel
engine); forescale aggregates over ``engine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """Prometheus metric type, as far as forescale needs to know it."""

    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class Signal:
    """One measured quantity and the metric names that carry it, newest name first."""

    key: str
    kind: Kind
    names: tuple[str, ...]
    description: str
    buckets: tuple[float, ...] = ()
    labels: tuple[str, ...] = ("model_name", "engine")

    @property
    def name(self) -> str:
        """The current (newest) metric name."""
        return self.names[0]

    @property
    def fallbacks(self) -> tuple[str, ...]:
        """Older names, tried in order when the current name is absent."""
        return self.names[1:]


MODEL_LABEL = "model_name"
ENGINE_LABEL = "engine"
FINISHED_REASON_LABEL = "finished_reason"
BUCKET_LABEL = "le"

TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
INTER_TOKEN_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0,
)  # fmt: skip

RUNNING = Signal(
    "running", Kind.GAUGE, ("vllm:num_requests_running",), "requests in the running batch"
)
WAITING = Signal(
    "waiting", Kind.GAUGE, ("vllm:num_requests_waiting",), "requests queued, not yet scheduled"
)
KV_CACHE_USAGE = Signal(
    "kv_cache_usage",
    Kind.GAUGE,
    ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "KV-cache blocks in use, 0..1",
)
REQUEST_SUCCESS = Signal(
    "request_success",
    Kind.COUNTER,
    ("vllm:request_success_total",),
    "finished requests, by finished_reason (stop, length, abort, ...)",
    labels=("model_name", "engine", "finished_reason"),
)
PROMPT_TOKENS = Signal(
    "prompt_tokens", Kind.COUNTER, ("vllm:prompt_tokens_total",), "prefill tokens processed"
)
GENERATION_TOKENS = Signal(
    "generation_tokens",
    Kind.COUNTER,
    ("vllm:generation_tokens_total",),
    "generated (output) tokens",
)
PREEMPTIONS = Signal(
    "preemptions", Kind.COUNTER, ("vllm:num_preemptions_total",), "requests preempted"
)
TTFT = Signal(
    "ttft",
    Kind.HISTOGRAM,
    ("vllm:time_to_first_token_seconds",),
    "time to first token, seconds",
    TTFT_BUCKETS,
)
E2E_LATENCY = Signal(
    "e2e_latency",
    Kind.HISTOGRAM,
    ("vllm:e2e_request_latency_seconds",),
    "end-to-end request latency, seconds",
    REQUEST_LATENCY_BUCKETS,
)
INTER_TOKEN_LATENCY = Signal(
    "inter_token_latency",
    Kind.HISTOGRAM,
    ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    "time between output tokens, seconds",
    INTER_TOKEN_BUCKETS,
)
QUEUE_TIME = Signal(
    "queue_time",
    Kind.HISTOGRAM,
    ("vllm:request_queue_time_seconds",),
    "time spent waiting before scheduling, seconds",
    REQUEST_LATENCY_BUCKETS,
)

GAUGES: tuple[Signal, ...] = (RUNNING, WAITING, KV_CACHE_USAGE)
COUNTERS: tuple[Signal, ...] = (REQUEST_SUCCESS, PROMPT_TOKENS, GENERATION_TOKENS, PREEMPTIONS)
HISTOGRAMS: tuple[Signal, ...] = (TTFT, E2E_LATENCY, INTER_TOKEN_LATENCY, QUEUE_TIME)
ALL_SIGNALS: tuple[Signal, ...] = GAUGES + COUNTERS + HISTOGRAMS
