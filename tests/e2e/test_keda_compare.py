"""A shortened `forescale sandbox compare`: forescale and the real KEDA + HPA both scale.

Runs its own sandbox with KEDA (the session cluster has no aggregated API): about four
minutes of a compressed trace into two identical LLMDeployments, one scaled by forescale,
one by a KEDA ScaledObject through the HPA controller of kube-controller-manager. It fails
(never skips) when KEDA is not built: `hack/build-binaries.sh keda`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forescale.sandbox.compare import CompareSettings, run_compare

pytestmark = pytest.mark.e2e


def test_forescale_and_keda_both_scale_on_the_same_trace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    settings = CompareSettings(
        duration_seconds=180.0,
        peak_replicas=4.0,
        load_seconds=20.0,
        keda_window_seconds=20.0,
        scale_down_stabilization_seconds=30,
        max_replicas=6,
        nodes=2,
        out_dir=out,
    )
    lines: list[str] = []
    data = run_compare(settings, lines.append, workdir=tmp_path / "sandbox")
    transcript = "\n".join(lines)

    contenders = data["contenders"]
    assert set(contenders) == {"forescale", "keda"}, transcript
    for name, figures in contenders.items():
        assert figures["requests"] > 100, f"{name} got too little traffic\n{transcript}"
        assert figures["ok"] > 0.5 * figures["requests"], f"{name} mostly failed\n{transcript}"
        # Each scaled up from its single starting replica. For `keda` only the HPA can
        # have done it: its LLMDeployment has policy fixed, so forescale follows
        # spec.replicas, which the HPA controller writes through the scale subresource.
        assert figures["peak_desired"] > 1, f"{name} never scaled up\n{transcript}"
        assert figures["scale_events"] >= 1, transcript
        assert figures["gpu_minutes"] > 0
    timeline = [json.loads(line) for line in (out / "timeline.jsonl").read_text().splitlines()]
    assert {row["contender"] for row in timeline} == {"forescale", "keda"}
    for name in ("summary.json", "summary.txt", "compare.png", "trace.csv"):
        assert (out / name).stat().st_size > 0, name
    assert "replica difference median" in (out / "summary.txt").read_text()
    # KEDA served the trigger as an external metric and the HPA read it.
    hpa_log = (out / "logs" / "keda-operator.log").read_text()
    assert "keda-hpa-llama" in hpa_log, "KEDA's operator never created the HPA"
