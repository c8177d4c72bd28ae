"""The sim-server's ``/metrics``: vLLM's own names, types, labels and buckets.

The series are what vLLM's V1 engine exposes, written with prometheus_client on a private
registry exactly as vLLM does, so the exposition matches a real scrape byte for byte in
structure (``_total``/``_created`` counters, ``_bucket``/``_sum``/``_count`` histograms,
labels ``model_name`` and ``engine``). The names and bounds are copied from vLLM here
rather than imported from ``forescale.metrics.contract`` on purpose: this module stands in
for vLLM, so a reader test against it checks the reader's contract against an independent
copy instead of against itself.

``legacy_names`` adds the pre-V1 names that vLLM ~0.10 still emitted next to the new ones
(``gpu_cache_usage_perc``, ``time_per_output_token_seconds``), to exercise a reader's
fallbacks, and makes ``vllm:cache_config_info`` the one of 0.10.1 (the oldest release the
docs describe) instead of the pinned release's: that family's labels are a release's
``CacheConfig`` fields, so the sim-server can only be one release at a time there.

``vllm:cache_config_info`` is the info gauge the KV-cache runbook reads a replica's cache
size from (``num_gpu_blocks`` x ``block_size``): value 1, labelled with
``CacheConfig.metrics_info()`` (every attribute of the config, ``str()``-ed) plus the
``engine`` the stat logger adds. ``CacheConfigInfo`` holds each release's attributes as
its ``vllm serve`` renders them for this replica (the sim's one place for the label names;
``python -m forescale.vllm_contract.check`` compares them, and the rendered defaults of
``block_size`` and ``gpu_memory_utilization``, with the wheel's), and fills in what the
engine sets once it has sized the cache from the simulated replica's capacity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from forescale.sim.replica_model import SimRequest
from forescale.sim.replica_profiles import ReplicaProfile
from forescale.vllm_contract.release import OLDEST_VLLM_VERSION, VLLM_VERSION

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
CACHE_CONFIG_INFO = "vllm:cache_config_info"
_ENGINE_SET = frozenset(
    {"num_gpu_blocks", "kv_cache_size_tokens", "effective_attention_block_size"}
)
"""CacheConfig fields the simulator can fill from its replica's cache (``labels``)."""


@dataclass(frozen=True)
class CacheConfigInfo:
    """One release's ``vllm:cache_config_info`` for a replica of this simulator.

    ``fields`` is ``CacheConfig.metrics_info()`` of that release before the engine sizes
    the cache, in the order the config declares them: every attribute of the config,
    rendered with ``str()`` as vLLM renders it (``None``, ``True``, ``[]``). The engine
    fields ``sized`` names are then replaced by the replica's figures, so they must be
    among ``fields``: the label names live in ``fields`` alone.
    """

    release: str
    fields: Mapping[str, str]
    sized: tuple[str, ...]
    """Fields the engine sets from the cache it allocated, on the front end's config (the
    stat logger's): ``num_gpu_blocks`` in both; in 0.34.0 also the capacity in tokens
    and the full-attention block size, from the engine's ready response."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sized) - set(self.fields))
        if unknown:
            raise ValueError(f"vLLM {self.release}'s CacheConfig has no field {unknown}")
        unsized = sorted(set(self.sized) - _ENGINE_SET)
        if unsized:
            raise ValueError(f"the simulator cannot size {unsized}")

    @property
    def block_size(self) -> int:
        """Tokens per KV-cache block (the field, so the label and the arithmetic agree)."""
        return int(self.fields["block_size"])

    def whole_blocks(self, profile: ReplicaProfile) -> ReplicaProfile:
        """``profile`` with the KV cache vLLM would allocate from its token budget: whole
        blocks, rounded down (430,000 tokens are 6,718 64-token blocks, 429,952 tokens).
        The sim-server runs its replica on this, so the capacity its ``num_gpu_blocks`` x
        ``block_size`` shows is the one it admits and preempts by."""
        blocks = profile.kv_cache_tokens // self.block_size
        if blocks < 1:
            raise ValueError(
                f"a KV cache of {profile.kv_cache_tokens} tokens holds no "
                f"{self.block_size}-token block (vLLM {self.release})"
            )
        return profile.with_overrides(kv_cache_tokens=blocks * self.block_size)

    def labels(self, kv_cache_tokens: int) -> dict[str, str]:
        """The info gauge's labels for a replica holding ``kv_cache_tokens`` (whole blocks:
        ``whole_blocks``), with the ``engine`` the stat logger adds to the config's."""
        blocks = kv_cache_tokens // self.block_size
        engine_set = {  # _ENGINE_SET
            "num_gpu_blocks": str(blocks),
            "kv_cache_size_tokens": str(blocks * self.block_size),
            "effective_attention_block_size": str(self.block_size),
        }
        rendered = {**self.fields, **{name: engine_set[name] for name in self.sized}}
        return {**rendered, "engine": ENGINE_INDEX}


CURRENT_CACHE_CONFIG = CacheConfigInfo(
    release=VLLM_VERSION,
    # vllm/config/cache.py of 0.34.0 for `vllm serve` as forescale renders it for a dense
    # model on CUDA (no --block-size, no --gpu-memory-utilization): the class defaults,
    # and what VllmConfig settles at construction in the front end's process (the block
    # size default applied, the extensible KV cache on because CUDA supports it). Fields
    # the engine core resolves in its own process (layout, hash block size) keep their
    # defaults here; kv_cache_max_concurrency needs the max model length, which the
    # replica model does not have.
    fields=MappingProxyType(
        {
            "block_size": "64",  # CacheConfig.DEFAULT_BLOCK_SIZE
            "user_specified_block_size": "False",
            "kv_cache_layout": "None",
            "prefix_match_unit": "None",
            "gpu_memory_utilization": "None",  # sized from measured memory
            "cache_dtype": "auto",
            "is_attention_free": "False",
            "num_gpu_blocks_override": "None",
            "sliding_window": "None",
            "enable_prefix_caching": "True",
            "prefix_caching_hash_algo": "sha256",
            "prefix_cache_retention_interval": "0",
            "kv_cache_dtype_skip_layers": "[]",
            "mamba_page_size_padded": "None",
            "skip_page_size_padded": "None",
            "mamba_block_size": "None",
            "mamba_cache_dtype": "auto",
            "mamba_ssm_cache_dtype": "auto",
            "mamba_cache_mode": "none",
            "enable_mamba_shared_prefix_checkpoint": "False",
            "replayssm_buffer_len": "16",
            "use_replayssm": "False",
            "use_kda_recoverssm": "False",
            "num_gpu_blocks": "None",
            "num_cpu_blocks": "None",
            "simple_cpu_offload_num_blocks": "None",
            "effective_attention_block_size": "None",
            "kv_cache_size_tokens": "None",
            "kv_cache_max_concurrency": "None",
            "hash_block_size": "None",
            "cache_hit_alignment_tokens": "None",
            "kv_sharing_fast_prefill": "False",
            "swa_bounded_replay": "True",
            "kv_cache_memory_bytes": "None",
            "enable_extensible_kv_cache": "True",
            "kv_offloading_size": "None",
            "kv_offloading_backend": "native",
            "_block_size_resolved": "True",
            "_extensible_kv_cache_resolved": "True",
        }
    ),
    sized=("num_gpu_blocks", "effective_attention_block_size", "kv_cache_size_tokens"),
)
"""The pinned release's ``vllm:cache_config_info`` (the sim-server's default)."""

LEGACY_CACHE_CONFIG = CacheConfigInfo(
    release=OLDEST_VLLM_VERSION,
    # What a real 0.10 `vllm serve` exposed (shared/fixtures/vllm-metrics-sample.txt): the
    # CUDA platform's 16-token blocks, 0.9 of GPU memory, and the swap space as the CLI
    # passes it (a float), which __post_init__ also stores in bytes.
    fields=MappingProxyType(
        {
            "block_size": "16",
            "gpu_memory_utilization": "0.9",
            "swap_space": "4.0",
            "cache_dtype": "auto",
            "is_attention_free": "False",
            "num_gpu_blocks_override": "None",
            "sliding_window": "None",
            "enable_prefix_caching": "True",
            "prefix_caching_hash_algo": "builtin",
            "cpu_offload_gb": "0.0",
            "calculate_kv_scales": "False",
            "cpu_kvcache_space_bytes": "None",
            "mamba_page_size_padded": "None",
            "mamba_cache_dtype": "auto",
            "mamba_ssm_cache_dtype": "auto",
            "num_gpu_blocks": "None",
            "num_cpu_blocks": "None",
            "kv_sharing_fast_prefill": "False",
            "swap_space_bytes": "4294967296.0",
        }
    ),
    sized=("num_gpu_blocks",),
)
"""0.10.1's ``vllm:cache_config_info`` (``legacy_names``)."""


def cache_config_info(*, legacy_names: bool) -> CacheConfigInfo:
    """The release whose ``vllm:cache_config_info`` the sim-server exposes in a mode."""
    return LEGACY_CACHE_CONFIG if legacy_names else CURRENT_CACHE_CONFIG


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

    def __init__(
        self, model_name: str, *, kv_cache_tokens: int, legacy_names: bool = False
    ) -> None:
        """``kv_cache_tokens``: the replica's KV capacity, whole blocks of the release's
        size (``CacheConfigInfo.whole_blocks``), which ``vllm:cache_config_info`` shows."""
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"model_name": model_name, "engine": ENGINE_INDEX}
        reg = self.registry
        self.cache_config = cache_config_info(legacy_names=legacy_names)
        if kv_cache_tokens % self.cache_config.block_size:
            raise ValueError(
                f"{kv_cache_tokens} KV-cache tokens are not whole "
                f"{self.cache_config.block_size}-token blocks: vLLM allocates whole blocks"
            )
        info = self.cache_config.labels(kv_cache_tokens)
        Gauge(
            CACHE_CONFIG_INFO,
            "Information of the LLMEngine CacheConfig",
            tuple(info),
            registry=reg,
        ).labels(**info).set(1)

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
