"""The real vLLM scrape the metrics tests check against, and small exposition builders."""

from __future__ import annotations

from tests.conftest import SHARED

VLLM_SCRAPE = SHARED / "fixtures" / "vllm-metrics-sample.txt"
MODEL = "Qwen/Qwen3-4B-Instruct-2507-FP8"


def fixture_text() -> str:
    """The fixture scrape (vLLM ~0.10, both KV-cache names, V0 inter-token name)."""
    return VLLM_SCRAPE.read_text("utf-8")


def histogram_lines(name: str, buckets: dict[str, float], **labels: str) -> str:
    """Exposition lines of one histogram series: ``_bucket`` per bound plus ``_count``."""
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    lines = [f'{name}_bucket{{{label_text},le="{le}"}} {count}' for le, count in buckets.items()]
    lines.append(f"{name}_count{{{label_text}}} {buckets['+Inf']}")
    return "\n".join(lines) + "\n"
