"""Performance profiles of one vLLM replica: the numbers the replica model runs on.

A profile is frozen plain data so that the real-time sim-server, the virtual-time fleet
simulator and the calibration check all read the same figures, and so that a user can
derive a variant (``with_overrides`` / ``--set key=value``) without mutating a shared one.

Only ``llama-3.1-8b-h100`` is calibrated against published measurements (see
``replica_calibration`` and docs/replica-model.md). The other profiles are engineering
estimates scaled from it by weight size, memory bandwidth and KV bytes per token; their
``calibrated`` flag is False and their description says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


class UnknownProfileError(KeyError):
    """A profile name that is not in ``PROFILES``."""

    def __str__(self) -> str:  # KeyError quotes its argument; show a readable message
        return str(self.args[0])


@dataclass(frozen=True)
class ReplicaProfile:
    """How fast one vLLM replica prefills, decodes, and how much it holds."""

    name: str
    description: str
    calibrated: bool
    """True only when the figures were fitted to published measurements."""
    max_num_seqs: int
    """vLLM ``--max-num-seqs``: the most requests running (prefilling or decoding) at once."""
    max_num_batched_tokens: int
    """vLLM ``--max-num-batched-tokens``: prompt tokens per engine step (chunked prefill)."""
    kv_cache_tokens: int
    """KV-cache capacity in tokens: prompts and the tokens generated so far (preemption when
    the running sequences outgrow it)."""
    prefill_seconds_per_token: float
    """GPU time per prompt token, added to the engine step that carries the prefill."""
    decode_base_seconds: float
    """Time of one engine step with an empty batch (weights read once per step)."""
    decode_per_seq_seconds: float
    """Extra step time per running sequence."""
    decode_per_kv_token_seconds: float
    """Extra step time per token held in the KV cache by the running batch (attention)."""
    load_seconds: float
    """Typical time from process start to accepting connections (weights cached locally)."""

    def __post_init__(self) -> None:
        if self.max_num_seqs < 1 or self.max_num_batched_tokens < 1 or self.kv_cache_tokens < 1:
            raise ValueError(f"profile {self.name}: capacities must be at least 1")
        timings = (
            self.prefill_seconds_per_token,
            self.decode_base_seconds,
            self.decode_per_seq_seconds,
            self.decode_per_kv_token_seconds,
            self.load_seconds,
        )
        if any(value < 0 for value in timings):
            raise ValueError(f"profile {self.name}: timings must not be negative")
        if self.decode_base_seconds == 0 and self.decode_per_seq_seconds == 0:
            raise ValueError(f"profile {self.name}: a decode step must take time")

    def with_overrides(self, **overrides: Any) -> ReplicaProfile:
        """A copy with some fields replaced; values are converted to the field's type."""
        known = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(
                f"unknown profile field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        converted: dict[str, Any] = {}
        for key, value in overrides.items():
            current = getattr(self, key)
            converted[key] = _convert(key, value, type(current))
        return dataclasses.replace(self, **converted)


def _convert(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if kind is bool:
        text = str(value).strip().lower()
        if text in {"1", "true", "yes"}:
            return True
        if text in {"0", "false", "no"}:
            return False
        raise ValueError(f"{key}: expected a boolean, got {value!r}")
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{key}: expected {kind.__name__}, got {value!r}") from error


LLAMA_3_1_8B_H100 = ReplicaProfile(
    name="llama-3.1-8b-h100",
    description=(
        "Llama-3.1-8B-Instruct, bf16, one H100 80GB, vLLM V1 with forescale's engine "
        "defaults (--max-num-seqs 256, a 0.9 memory share); step times fitted "
        "to published vLLM figures (docs/replica-model.md)"
    ),
    calibrated=True,
    max_num_seqs=256,
    max_num_batched_tokens=8192,
    # (80 GB * 0.9 utilization - 16 GB weights - activations) / 128 KiB per token
    kv_cache_tokens=430_000,
    prefill_seconds_per_token=1.55e-5,
    decode_base_seconds=7.6e-3,
    decode_per_seq_seconds=1.0e-6,
    decode_per_kv_token_seconds=2.25e-7,
    load_seconds=30.0,
)

LLAMA_3_1_70B_4XH100 = ReplicaProfile(
    name="llama-3.1-70b-4xh100",
    description=(
        "ESTIMATE, not calibrated: Llama-3.1-70B-Instruct, bf16, tensor-parallel 4 on H100 "
        "80GB; scaled from the 8B profile by weight bytes per GPU, KV bytes per token and "
        "FLOPs per prompt token"
    ),
    calibrated=False,
    max_num_seqs=256,
    max_num_batched_tokens=8192,
    # (4 * 72 GB - 141 GB weights - activations) / 320 KiB per token
    kv_cache_tokens=420_000,
    # 8.75x the FLOPs per token over 4 GPUs at ~90% tensor-parallel efficiency
    prefill_seconds_per_token=3.8e-5,
    # ~35 GB of weights per GPU per step plus all-reduce latency
    decode_base_seconds=1.5e-2,
    # 140 GFLOP per token per step over 4 GPUs once the batch is compute-bound
    decode_per_seq_seconds=4.0e-5,
    # 2.5x the KV bytes per token, spread over 4 GPUs
    decode_per_kv_token_seconds=1.5e-7,
    load_seconds=180.0,
)

PROFILES: dict[str, ReplicaProfile] = {
    profile.name: profile for profile in (LLAMA_3_1_8B_H100, LLAMA_3_1_70B_4XH100)
}


def get_profile(name: str, **overrides: Any) -> ReplicaProfile:
    """The named profile, with optional field overrides; a clear error for unknown names."""
    try:
        profile = PROFILES[name]
    except KeyError:
        raise UnknownProfileError(
            f"unknown replica profile {name!r}; known profiles: {', '.join(sorted(PROFILES))}"
        ) from None
    return profile.with_overrides(**overrides) if overrides else profile
