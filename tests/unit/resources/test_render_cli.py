"""``forescale render`` of every sample: the explicit vLLM command, TP = GPU count, the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from forescale.resources.cli import render
from tests.conftest import SAMPLES

SAMPLE_FILES = sorted(SAMPLES.glob("llmdeployment*.yaml"))


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=[p.stem for p in SAMPLE_FILES])
def test_render_shows_command_parallelism_and_cache(sample: Path) -> None:
    result = CliRunner().invoke(render, ["-f", str(sample)], env={"FORESCALE_MONITOR_LABELS": ""})
    assert result.exit_code == 0, result.output
    objects = list(yaml.safe_load_all(result.output))
    spec = yaml.safe_load(sample.read_text())["spec"]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["vllm", "serve"]
    gpus = spec.get("resources", {}).get("gpuCount", 1)
    stages = spec.get("engine", {}).get("pipelineParallelSize", 1)
    assert f"--tensor-parallel-size={gpus // stages}" in container["args"]
    assert any(a.startswith("--shutdown-timeout=") for a in container["args"])
    assert {"name": "cache", "mountPath": "/cache"} in container["volumeMounts"]
    assert any(v["name"] == "cache" for v in pod["volumes"])
