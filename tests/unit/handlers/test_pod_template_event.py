"""A rollout the reconciler starts says what changed and whether the spec did.

An operator restarted with another ``FORESCALE_DEFAULT_IMAGE`` rolls every LLMDeployment
that names no image without a new generation of any spec; the Event must say so, or an
SRE sees every model server restart with "the new spec" and no spec changed. The fake
client stores what was applied; the real rollout is tests/integration/
test_operator_default_image.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.reconciler import Reconciler
from forescale.resources.deployment import CONTAINER_NAME
from forescale.resources.settings import operator_settings
from tests.unit.handlers.fake_cluster import NS, FakeCluster, llmd

OLD_IMAGE = "old.test/vllm:v0.33.0"
FIXED = {"scaling": {"policy": "fixed"}, "replicas": 1}


def _pass(cluster: FakeCluster) -> list[str]:
    """One pass by a freshly started operator (no memory of what it applied); the
    PodTemplateChanged messages it posted."""
    posted = len(cluster.events)
    reconciler = Reconciler(
        cluster.as_client(), Autoscaler(None), clock=lambda: "2026-01-01T00:00:00Z",
        coalesce_seconds=0,
    )  # fmt: skip
    asyncio.run(reconciler.reconcile(NS, "llm"))
    return [m for _, reason, m in cluster.events[posted:] if reason == "PodTemplateChanged"]


def _vllm(cluster: FakeCluster) -> dict[str, Any]:
    template = cluster.objects[("Deployment", NS, "llm")]["spec"]["template"]
    found: dict[str, Any] = next(
        c for c in template["spec"]["containers"] if c["name"] == CONTAINER_NAME
    )
    return found


def test_a_new_operator_image_is_announced_as_not_from_the_spec() -> None:
    cluster = FakeCluster(llmd(**FIXED))
    assert _pass(cluster) == [], "creating the Deployment is not a change of template"
    assert cluster.body["status"]["observedGeneration"] == 1
    _vllm(cluster)["image"] = OLD_IMAGE  # what the operator rendered before its restart

    (message,) = _pass(cluster)
    image = operator_settings().default_image
    assert f"{CONTAINER_NAME} image {OLD_IMAGE} -> {image}" in message
    assert "though the spec did not change (generation 1 already observed" in message
    assert _vllm(cluster)["image"] == image
    assert _pass(cluster) == [], "nothing changed: nothing to announce"


def test_a_new_generation_names_the_generation_and_the_flag() -> None:
    cluster = FakeCluster(llmd(**FIXED))
    _pass(cluster)
    cluster.body["metadata"]["generation"] = 2
    cluster.body["spec"]["engine"] = {"maxNumSeqs": 64}
    (message,) = _pass(cluster)
    assert "+--max-num-seqs=64" in message and "---max-num-seqs=256" in message
    assert "to Deployment llm for generation 2 of the spec: " in message
