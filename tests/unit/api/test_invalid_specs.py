"""Invalid specs are rejected, and every message names the offending field.

Each case is checked twice: by the generated schema and CEL rules (what the API server
enforces) and by the typed model (what the operator enforces on what it reads).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from forescale.api.spec import LLMDeploymentSpec
from tests.conftest import SAMPLES
from tests.unit.api.schema_check import validate


def _sample() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SAMPLES / "llmdeployment.yaml").read_text())
    return loaded


def _with(path: str, value: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(_sample())
    node = manifest["spec"]
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return manifest


CASES = [
    # (path, value, text the API server's message must contain)
    ("scaling.minReplicas", 9, "spec.scaling.minReplicas"),
    ("replicas", 20, "spec.replicas"),
    ("engine.tensorParallelSize", 2, "spec.engine.tensorParallelSize"),
    ("engine.pipelineParallelSize", 3, "spec.engine.pipelineParallelSize"),
    ("model.quantization", "bitsandbytes", "model.quantization"),
    ("model.cache", {"pvc": "c", "hostPath": "/mnt/c"}, "spec.model.cache"),
    ("engine.drain", "Sometimes", "engine.drain"),
    ("scaling.policy", "aggressive", "scaling.policy"),
    ("scaling.mode", "maybe", "scaling.mode"),
    ("resources.gpuCount", -1, "resources.gpuCount"),
    ("engine.gpuMemoryUtilizationPercent", 150, "engine.gpuMemoryUtilizationPercent"),
    ("model.source", {"pvc": {"claimName": "w"}, "uri": "s3://b/m"}, "spec.model.source"),
    ("model.source", {}, "spec.model.source"),
    ("engine.extraArgs", ["--port=9000"], "spec.engine.extraArgs"),
    ("resources.memory", "lots", "resources.memory"),
    ("model.dtype", "int3", "model.dtype"),
]


@pytest.mark.parametrize(("path", "value", "names"), CASES, ids=[c[0] for c in CASES])
def test_schema_rejects_and_names_field(path: str, value: Any, names: str) -> None:
    errors = validate(_with(path, value))
    assert errors, f"{path}={value!r} was accepted"
    assert any(names in e for e in errors), errors


@pytest.mark.parametrize(("path", "value", "names"), CASES, ids=[c[0] for c in CASES])
def test_model_rejects(path: str, value: Any, names: str) -> None:
    with pytest.raises(ValidationError) as info:
        LLMDeploymentSpec.model_validate(_with(path, value)["spec"])
    text = str(info.value)
    leaf = names.rsplit(".", 1)[-1]
    assert leaf in text or leaf in _snake(text), text


def _snake(text: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in text)


def test_unknown_field_is_rejected_by_model() -> None:
    with pytest.raises(ValidationError, match="replicaz"):
        LLMDeploymentSpec.model_validate(_with("replicaz", 3)["spec"])


def test_missing_model_is_rejected() -> None:
    manifest = _sample()
    del manifest["spec"]["model"]
    assert any("model" in e for e in validate(manifest))
