"""Operator-wide settings: default image, fetch image and the monitors' labels."""

from __future__ import annotations

import pytest

from forescale.resources.children import build_children
from forescale.resources.settings import parse_labels, settings_from_environ
from forescale.vllm_contract.release import DEFAULT_IMAGE, VLLM_VERSION
from tests.unit.resources.builders_support import owner_from


def test_defaults_derive_from_the_vllm_pin() -> None:
    settings = settings_from_environ({})
    assert settings.default_image == DEFAULT_IMAGE
    assert DEFAULT_IMAGE.endswith(f"-vllm{VLLM_VERSION}")
    assert settings.monitor_labels == {}


def test_kube_prometheus_stack_release_label_reaches_the_pod_monitor() -> None:
    """kube-prometheus-stack selects PodMonitors by ``release``: without it, no scrape."""
    settings = settings_from_environ(
        {
            "FORESCALE_MONITOR_LABELS": "release=kube-prometheus-stack, team=ml",
            "FORESCALE_DEFAULT_IMAGE": "mirror.local/vllm/vllm-openai:v0.34.0",
        }
    )
    children = {c["kind"]: c for c in build_children(owner_from(), settings=settings)}
    labels = children["PodMonitor"]["metadata"]["labels"]
    assert labels["release"] == "kube-prometheus-stack"
    assert labels["team"] == "ml"
    assert labels["forescale.io/llmdeployment"] == "llama-8b"  # forescale's own stay
    container = children["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "mirror.local/vllm/vllm-openai:v0.34.0"
    # Only the monitor gets them: the Deployment's labels are the label contract's.
    assert "release" not in children["Deployment"]["metadata"]["labels"]


@pytest.mark.parametrize("text", ["release", "=x", "a=b c", "bad key=x", "k=" + "v" * 64])
def test_malformed_labels_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"FORESCALE_MONITOR_LABELS|label"):
        parse_labels(text)
