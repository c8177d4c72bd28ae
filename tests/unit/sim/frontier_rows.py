"""Hand-made results rows for the tests of the frontier and of what is built on it."""

from __future__ import annotations

from typing import Any


def row(
    policy: str, value: float, seed: int, slo: float, gpu: float, **extra: Any
) -> dict[str, Any]:
    """One results.json row (``trace`` and ``variant`` from ``extra``, else "t" and "")."""
    return {
        "trace": extra.get("trace", "t"),
        "policy": policy,
        "variant": extra.get("variant", ""),
        "knob": "k",
        "knob_value": value,
        "seed": seed,
        "slo_attainment": slo,
        "gpu_hours": gpu,
    }
