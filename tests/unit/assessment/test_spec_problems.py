"""References a spec makes, and the message for each when missing."""

from __future__ import annotations

import yaml

from forescale.api.spec import LLMDeploymentSpec
from forescale.assessment.spec_problems import references_of
from tests.conftest import SAMPLES


def _spec(sample: str) -> LLMDeploymentSpec:
    return LLMDeploymentSpec.model_validate(yaml.safe_load((SAMPLES / sample).read_text())["spec"])


def test_sample_refers_to_token_secret_and_gpu_product() -> None:
    refs = references_of(_spec("llmdeployment.yaml"))
    assert [(r.kind, r.name, r.reason) for r in refs] == [
        ("Secret", "hf-token", "MissingSecret"),
        ("Node", "NVIDIA-H100-80GB-HBM3", "UnknownGPUProduct"),
    ]
    assert "kubectl create secret generic hf-token" in refs[0].message
    assert refs[1].label == "nvidia.com/gpu.product"


def test_full_sample_refers_to_pvc_and_env_secret() -> None:
    kinds = {(r.kind, r.name) for r in references_of(_spec("llmdeployment-full.yaml"))}
    assert ("PersistentVolumeClaim", "model-weights") in kinds
    assert ("Secret", "observability") in kinds


def test_minimal_refers_to_nothing() -> None:
    assert references_of(_spec("llmdeployment-minimal.yaml")) == []
