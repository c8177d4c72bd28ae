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
from tests.unit.api.schema_check import crd_schema, validate


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
    # Issue 12: values that cannot become valid children are refused up front.
    (
        "model.source",
        {"huggingFace": {"tokenSecret": {"name": "../../kube-system/secrets/oracle-yes"}}},
        "tokenSecret.name",
    ),
    ("model.source", {"pvc": {"claimName": "a/b"}}, "claimName"),
    # Each of a path's parts alone is refused too: a slash, a dot-dot, a bare "..".
    ("model.source", {"huggingFace": {"tokenSecret": {"name": "team/hf"}}}, "tokenSecret.name"),
    ("model.source", {"huggingFace": {"tokenSecret": {"name": "hf..x"}}}, "tokenSecret.name"),
    ("model.source", {"huggingFace": {"tokenSecret": {"name": ".."}}}, "tokenSecret.name"),
    ("engine.env", [{"name": "T", "secretKeyRef": {"name": "a/b", "key": "k"}}], "env"),
    ("scaling.capacity", {"requestsPerSecond": "0"}, "requestsPerSecond"),
    ("scaling.capacity", {"promptTokensPerSecond": 2000}, "promptTokensPerSecond"),
    ("placement.nodeSelector", {"bad key!": "x"}, "nodeSelector"),
    ("placement.nodeSelector", {"ok": "bad value!"}, "nodeSelector"),
    ("podMetadata.labels", {"team": "a" * 64}, "labels"),
    ("podMetadata.annotations", {f"a{i}": "x" * 60_000 for i in range(5)}, "annotations"),
    ("podMetadata.annotations", {"no spaces": "x"}, "annotations"),
    ("placement.priorityClassName", "High Priority", "priorityClassName"),
    # Found by tests/integration/test_crd_model_agreement.py against the real API server.
    # The pattern admits a zero attainment, which the model refuses (was: server 201).
    ("scaling.slo", {"attainment": "0%"}, "spec.scaling.slo.attainment"),
    ("scaling.slo", {"attainment": "0.0000"}, "spec.scaling.slo.attainment"),
    # The server refuses what is beyond int64 (was: the model accepted it).
    ("placement.tolerations", [{"tolerationSeconds": 2**63}], "tolerationSeconds"),
    # The server refuses another JSON type (was: the model coerced it).
    ("replicas", "2", "spec.replicas"),
    ("engine.allowIdleGpus", "true", "allowIdleGpus"),
    ("resources.gpuCount", True, "gpuCount"),
    # The server refuses (kubectl) or drops (other clients) a Python name (was: the model
    # read it as the field).
    ("engine.max_num_seqs", 8, "spec.engine.max_num_seqs"),
    ("pod_metadata", {"labels": {"team": "a"}}, "spec.pod_metadata"),
    # Both admitted these (round 22): more GPUs for vLLM than the pod has, and a shared
    # cache claim that is no claim name.
    (
        "engine",
        {"tensorParallelSize": 1, "pipelineParallelSize": 2, "allowIdleGpus": True},
        "tensorParallelSize",
    ),
    ("model.cache", {"pvc": "../a/B"}, "pvc"),
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


@pytest.mark.parametrize(
    "name", ["x" * 64, "llama.v1.prod", "9lives", "Upper", "trailing-"], ids=str
)
def test_schema_rejects_names_that_cannot_name_the_children(name: str) -> None:
    """The name is the Service's (DNS-1035 label, <= 63) and a label value."""
    manifest = _sample()
    manifest["metadata"]["name"] = name
    errors = validate(manifest)
    assert any("metadata.name" in e for e in errors), errors


def test_longest_valid_name_is_accepted() -> None:
    manifest = _sample()
    manifest["metadata"]["name"] = "a" + "-b" * 31
    assert len(manifest["metadata"]["name"]) == 63
    assert validate(manifest) == []


def test_affinity_accepts_only_its_three_kinds() -> None:
    """``affinity: {foo: bar}`` is refused (the API server prunes or, with kubectl's
    strict field validation, rejects unknown fields; the model forbids them)."""
    placement = crd_schema()["properties"]["spec"]["properties"]["placement"]
    assert set(placement["properties"]["affinity"]["properties"]) == {
        "nodeAffinity",
        "podAffinity",
        "podAntiAffinity",
    }
    with pytest.raises(ValidationError, match="foo"):
        LLMDeploymentSpec.model_validate(_with("placement.affinity", {"foo": "bar"})["spec"])
    spec = LLMDeploymentSpec.model_validate(
        _with("placement.affinity", {"nodeAffinity": {"x": 1}})["spec"]
    )
    assert spec.placement.affinity is not None
