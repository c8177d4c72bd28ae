"""Changing the operator's default image rolls every LLMDeployment that names none.

docs/operations.md ("Any vLLM image"): the CRD has no image default, so changing
``FORESCALE_DEFAULT_IMAGE`` changes every LLMDeployment without ``spec.engine.image``, on
its next reconciliation, as a rolling update; one that names an image keeps it. A user
changes the setting by editing the operator Deployment's env, which restarts the operator
pod; the settings are read once per process (``resources/settings.py``), so the test does
the same: a real ``forescale run`` as the operator's RBAC user, stopped with SIGTERM and
started again with the new environment. The Deployments and ReplicaSets are the real
controller-manager's; kwok runs the pods.

The model-fetch init container has its own setting, ``FORESCALE_MODEL_FETCH_IMAGE``
(default: the bundled inference image, which carries the fetch script that upstream vLLM
images lack), so the default image moving, to an upstream image say, must not move it.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from forescale.resources.deployment import CONTAINER_NAME, FETCH_CONTAINER_NAME
from forescale.sandbox.ports import free_port
from forescale.sandbox.pytest_plugin import Kubectl
from forescale.vllm_contract.release import DEFAULT_IMAGE
from tests.polling import eventually

from .operator_support import OperatorProcesses, apply, condition, events, get, sample

pytestmark = pytest.mark.integration

IMAGE_A = "mirror.test/vllm/vllm-openai:v0.34.0"
IMAGE_B = "mirror.test/vllm/vllm-openai:v0.34.1"
IMAGE_C = "pinned.test/vllm:custom"
FOLLOWS, PINNED = "follows", "pinned"
"""``follows`` names no image (and fetches its weights from s3://: it has a model-fetch
init container); ``pinned`` names ``IMAGE_C``."""


def _images(default_image: str) -> dict[str, str]:
    """The operator's env: ``FORESCALE_DEFAULT_IMAGE=default_image`` and the fetch image
    unset (empty: its default), whatever this process's environment says."""
    return {"FORESCALE_DEFAULT_IMAGE": default_image, "FORESCALE_MODEL_FETCH_IMAGE": ""}


def _model(name: str, **engine: str) -> dict[str, Any]:
    manifest = sample("llmdeployment-minimal.yaml", replicas=1)
    manifest["metadata"] = {"name": name}
    manifest["spec"]["scaling"] = {"policy": "fixed", "maxReplicas": 2}
    if engine:
        manifest["spec"]["engine"] = engine
    return manifest


def _containers(deployment: dict[str, Any], key: str = "containers") -> dict[str, str]:
    """Container name -> image of a Deployment's (or ReplicaSet's) pod template."""
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {c["name"]: c["image"] for c in pod.get(key) or []}


def _replica_sets(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    """The ReplicaSets of LLMDeployment ``name``'s Deployment (by ownerReference)."""
    deployment = get(kubectl, namespace, "deployment", name)
    if deployment is None:
        return []
    found = json.loads(kubectl.ok("get", "replicasets", "-n", namespace, "-o", "json"))
    uid = deployment["metadata"]["uid"]
    return [
        rs
        for rs in found["items"]
        if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
    ]


def _settled(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    """The Deployment, once the controller has rolled out its current template and the
    operator reports the LLMDeployment Ready and Stable; else None."""
    deployment = get(kubectl, namespace, "deployment", name)
    llmd = get(kubectl, namespace, "llmd", name)
    if deployment is None or llmd is None:
        return None
    status = deployment.get("status") or {}
    rolled = (
        status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("replicas") == status.get("updatedReplicas") == 1
        and status.get("readyReplicas") == 1
    )
    stable = (
        condition(llmd, "Ready").get("status") == "True"
        and condition(llmd, "Progressing").get("reason") == "Stable"
    )
    return deployment if rolled and stable else None


def _reconciled_by(port: int, namespace: str, name: str) -> bool:
    """True once the operator listening on ``port`` finished a pass on ``name``: the
    pass's last step records ``forescale_desired_replicas`` for it (after applying every
    child, which a freshly started operator always does)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return False
    return any(
        sample.labels == {"namespace": namespace, "llmdeployment": name}
        for family in text_string_to_metric_families(text)
        if family.name == "forescale_desired_replicas"
        for sample in family.samples
    )


def test_a_new_default_image_rolls_those_naming_none_and_only_them(
    kubectl: Kubectl, namespace: str, operators: OperatorProcesses
) -> None:
    follows = _model(FOLLOWS)
    follows["spec"]["model"]["source"] = {"uri": "s3://weights/qwen3-4b.tar.gz"}
    apply(kubectl, namespace, follows)
    apply(kubectl, namespace, _model(PINNED, image=IMAGE_C))
    first = operators.start("first", env=_images(IMAGE_A))
    before = {
        FOLLOWS: eventually(lambda: _settled(kubectl, namespace, FOLLOWS), 60, "follows, Ready"),
        PINNED: eventually(lambda: _settled(kubectl, namespace, PINNED), 60, "pinned, Ready"),
    }
    assert _containers(before[FOLLOWS])[CONTAINER_NAME] == IMAGE_A
    assert _containers(before[FOLLOWS], "initContainers") == {FETCH_CONTAINER_NAME: DEFAULT_IMAGE}
    assert _containers(before[PINNED]) == {CONTAINER_NAME: IMAGE_C}
    old_sets = {name: _replica_sets(kubectl, namespace, name) for name in (FOLLOWS, PINNED)}
    assert [len(sets) for sets in old_sets.values()] == [1, 1], old_sets
    said_before = {e["metadata"]["uid"] for e in events(kubectl, namespace, FOLLOWS)}

    # The user edits the operator Deployment's env: the pod is stopped and started again.
    assert first.stop() == 0, first.text()
    port = free_port()
    second = operators.start("second", env=_images(IMAGE_B), metrics_port=port)

    eventually(
        lambda: (
            _containers(get(kubectl, namespace, "deployment", FOLLOWS) or {}).get(CONTAINER_NAME)
            == IMAGE_B
        ),
        30,
        f"the vLLM image of {FOLLOWS}'s Deployment to become {IMAGE_B} (was {IMAGE_A})",
    )
    rolled = eventually(lambda: _settled(kubectl, namespace, FOLLOWS), 60, "the rollout")
    assert _containers(rolled)[CONTAINER_NAME] == IMAGE_B
    assert rolled["metadata"]["generation"] > before[FOLLOWS]["metadata"]["generation"]
    assert rolled["spec"]["strategy"]["type"] == "RollingUpdate"
    # The fetch image is its own setting: the default image moving leaves it where it was.
    assert _containers(rolled, "initContainers") == {FETCH_CONTAINER_NAME: DEFAULT_IMAGE}
    sets = {rs["metadata"]["name"]: rs for rs in _replica_sets(kubectl, namespace, FOLLOWS)}
    (old,) = old_sets[FOLLOWS]
    assert set(sets) > {old["metadata"]["name"]}, "no new ReplicaSet: nothing rolled"
    new = [rs for name, rs in sets.items() if name != old["metadata"]["name"]]
    assert [_containers(rs)[CONTAINER_NAME] for rs in new] == [IMAGE_B]
    assert (
        new[0]["metadata"]["labels"]["pod-template-hash"]
        != old["metadata"]["labels"]["pod-template-hash"]
    )
    assert sets[old["metadata"]["name"]]["spec"]["replicas"] == 0
    # The rollout explains itself: what changed, and that no spec did.
    said = [
        e["message"]
        for e in events(kubectl, namespace, FOLLOWS)
        if e["metadata"]["uid"] not in said_before and e["reason"] == "PodTemplateChanged"
    ]
    assert len(said) == 1, said
    assert f"{CONTAINER_NAME} image {IMAGE_A} -> {IMAGE_B}" in said[0], said
    assert "though the spec did not change (generation 1 already observed" in said[0], said

    # The named image stays, and its Deployment is not touched: the restarted operator's
    # pass on it ended (its /metrics has it) with nothing to change.
    eventually(lambda: _reconciled_by(port, namespace, PINNED), 30, f"a pass on {PINNED}")
    pinned = get(kubectl, namespace, "deployment", PINNED) or {}
    assert _containers(pinned) == {CONTAINER_NAME: IMAGE_C}
    assert pinned["metadata"]["generation"] == before[PINNED]["metadata"]["generation"]
    assert [rs["metadata"]["name"] for rs in _replica_sets(kubectl, namespace, PINNED)] == [
        rs["metadata"]["name"] for rs in old_sets[PINNED]
    ]
    assert "PodTemplateChanged" not in {e["reason"] for e in events(kubectl, namespace, PINNED)}
    assert "Traceback" not in second.text(), second.text()
