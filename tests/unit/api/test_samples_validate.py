"""The samples users apply are valid against the generated schema and the typed model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forescale.api.spec import LLMDeploymentSpec
from tests.conftest import SAMPLES
from tests.unit.api.schema_check import apply_defaults, crd_schema, validate

SAMPLE_FILES = sorted(SAMPLES.glob("*.yaml"))


def test_there_are_samples() -> None:
    names = {p.name for p in SAMPLE_FILES}
    assert {"llmdeployment.yaml", "llmdeployment-minimal.yaml", "llmdeployment-full.yaml"} <= names


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_is_valid(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    assert validate(manifest) == []
    LLMDeploymentSpec.model_validate(manifest["spec"])


def test_full_sample_sets_every_spec_field() -> None:
    manifest = yaml.safe_load((SAMPLES / "llmdeployment-full.yaml").read_text())
    spec_schema = crd_schema()["properties"]["spec"]

    def unset(schema: dict[str, object], obj: object, path: str) -> list[str]:
        props = schema.get("properties")
        if not isinstance(props, dict) or not isinstance(obj, dict):
            return []
        missing = []
        for name, sub in props.items():
            if name not in obj:
                missing.append(f"{path}.{name}")
            else:
                missing.extend(unset(sub, obj[name], f"{path}.{name}"))
        return missing

    # A source sets exactly one of its alternatives, so the other two stay unset.
    # Likewise the model cache is a PVC or a host path.
    allowed = {
        "spec.model.source.huggingFace",
        "spec.model.source.uri",
        "spec.engine.env[].value",
        "spec.model.cache.pvc",
        # Affinity has three kinds; the sample shows one.
        "spec.placement.affinity.nodeAffinity",
        "spec.placement.affinity.podAffinity",
    }
    missing = set(unset(spec_schema, manifest["spec"], "spec")) - allowed
    assert missing == set()


def test_minimal_sample_gets_complete_defaults() -> None:
    manifest = yaml.safe_load((SAMPLES / "llmdeployment-minimal.yaml").read_text())
    defaulted = apply_defaults(crd_schema(), manifest)["spec"]
    assert defaulted["scaling"]["minReplicas"] == 1
    assert defaulted["scaling"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert defaulted["scaling"]["slo"]["ttftP95Milliseconds"] == 2000
    assert "tensorParallelSize" not in defaulted["engine"]  # derived from gpuCount
    assert defaulted["engine"]["drain"] == "ShutdownTimeout"
    assert "source" not in defaulted["model"]
    # Schema defaults and model defaults are the same numbers (empty containers aside).
    model = LLMDeploymentSpec.model_validate(manifest["spec"])
    assert _prune(model.model_dump(by_alias=True, exclude_none=True)) == _prune(defaulted)


def _prune(node: object) -> object:
    if isinstance(node, dict):
        pruned = {k: _prune(v) for k, v in node.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [])}
    return node
