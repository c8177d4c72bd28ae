"""The generated LLMDeployment CRD against a real apiserver: install, validate, columns, scale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.sandbox.pytest_plugin import Kubectl

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("llmd_crd")]

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "manifests" / "samples" / "llmdeployment.yaml"


def _sample() -> dict[str, Any]:
    sample: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    return sample


def _apply(kubectl: Kubectl, namespace: str, obj: dict[str, Any]) -> Any:
    return kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))


def test_crd_is_established_and_served(kubectl: Kubectl) -> None:
    crd = json.loads(kubectl.ok("get", "crd", "llmdeployments.forescale.io", "-o", "json"))
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert "llmd" in kubectl.ok("api-resources", "--api-group=forescale.io")


def test_explain_shows_schema_descriptions(kubectl: Kubectl) -> None:
    out = kubectl.ok("explain", "llmdeployment.spec.scaling")
    assert "minReplicas" in out
    assert "maxReplicas" in out


def test_sample_applies_and_printer_columns_show(kubectl: Kubectl, namespace: str) -> None:
    result = kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    assert "llmdeployment.forescale.io/llama-8b created" in result.stdout
    table = kubectl.ok("get", "llmd", "-n", namespace)
    header = table.splitlines()[0].split()
    for column in ("NAME", "MODEL", "READY", "DESIRED", "POLICY"):
        assert column in header, table
    assert "meta-llama/Llama-3.1-8B-Instruct" in table
    wide = kubectl.ok("get", "llmd", "-n", namespace, "-o", "wide").splitlines()[0]
    assert "REPLICAS" in wide.split()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s["scaling"].update(minReplicas=5, maxReplicas=2), "spec.scaling.minReplicas"),
        (lambda s: s["scaling"].update(policy="yolo"), "spec.scaling.policy"),
        (lambda s: s["resources"].update(gpuCount=-1), "spec.resources.gpuCount"),
        (
            lambda s: s["scaling"].update(capacity={"promptTokensPerSecond": 2000}),
            "spec.scaling.capacity.promptTokensPerSecond",
        ),
        (
            lambda s: s["scaling"].update(seasonPeriodSeconds=60),
            "spec.scaling.seasonPeriodSeconds",
        ),
    ],
    ids=[
        "min-above-max",
        "bad-policy-enum",
        "negative-gpu-count",
        "prompts-without-load-test",
        "season-shorter-than-ten-minutes",
    ],
)
def test_invalid_specs_are_rejected_naming_the_field(
    kubectl: Kubectl, namespace: str, mutate: Any, field: str
) -> None:
    obj = _sample()
    obj["metadata"]["name"] = "invalid"
    mutate(obj["spec"])
    result = _apply(kubectl, namespace, obj)
    assert result.returncode != 0, result.stdout
    assert "is invalid" in result.stderr
    assert field in result.stderr
    assert kubectl("get", "llmd", "invalid", "-n", namespace).returncode != 0


def test_kubectl_scale_uses_the_scale_subresource(kubectl: Kubectl, namespace: str) -> None:
    kubectl.ok("apply", "-n", namespace, "-f", str(SAMPLE))
    result = kubectl("scale", "llmd", "llama-8b", "-n", namespace, "--replicas=3")
    assert result.returncode == 0, result.stderr
    replicas = kubectl.ok(
        "get", "llmd", "llama-8b", "-n", namespace, "-o", "jsonpath={.spec.replicas}"
    )
    assert replicas == "3"
    scale = json.loads(
        kubectl.ok(
            "get",
            "--raw",
            f"/apis/forescale.io/v1alpha1/namespaces/{namespace}/llmdeployments/llama-8b/scale",
        )
    )
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 3
