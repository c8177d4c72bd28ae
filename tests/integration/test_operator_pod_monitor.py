"""Where prometheus-operator's PodMonitor API is served, the operator creates one.

prometheus-operator's own PodMonitor CRD, as the pinned release ships it
(:mod:`tests.integration.upstream_crds`), serves the API here, so the PodMonitor the
operator builds must pass its schema. It is removed after the test so other tests see a
cluster without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forescale.sandbox import upstream
from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import apply, create_token_secret, eventually, get, running_operator, sample
from .upstream_crds import serving

pytestmark = pytest.mark.integration


@pytest.fixture
def pod_monitor_api(kubectl: Kubectl) -> Iterator[None]:
    with serving(kubectl, [upstream.monitoring_crd("PodMonitor")]):
        yield


def test_pod_monitor_is_created_and_owned(
    kubectl: Kubectl,
    namespace: str,
    operator_kubeconfig: Path,
    llmd_crd: list[Path],
    pod_monitor_api: None,
) -> None:
    create_token_secret(kubectl, namespace)
    load = {"annotations": {"forescale.io/simulated-load-seconds": "2"}}
    with running_operator(operator_kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, sample(podMetadata=load))
        monitor = eventually(
            lambda: get(kubectl, namespace, "podmonitor", "llama-8b"), 60, "the PodMonitor"
        )
        (ref,) = monitor["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("LLMDeployment", "llama-8b", True)
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector["forescale.io/llmdeployment"] == "llama-8b"
        endpoint = monitor["spec"]["podMetricsEndpoints"][0]
        assert endpoint["path"] == "/metrics"
        # The PodMonitor selects exactly the Deployment's pods.
        deployment = eventually(
            lambda: get(kubectl, namespace, "deployment", "llama-8b"), 30, "the Deployment"
        )
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert all(pod_labels.get(k) == v for k, v in selector.items())
        # The operator watches PodMonitors: a hand edit is news to the owner and is undone
        # (an unchanged one is not applied again every pass: see applied_children).
        edited = [{**endpoint, "path": "/edited"}]
        kubectl.ok(
            "patch", "podmonitor", "llama-8b", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"podMetricsEndpoints": edited}}),
        )  # fmt: skip
        eventually(
            lambda: (
                (get(kubectl, namespace, "podmonitor", "llama-8b") or {})["spec"][
                    "podMetricsEndpoints"
                ][0]["path"]
                == "/metrics"
            ),
            60,
            "the hand-edited PodMonitor restored",
        )
