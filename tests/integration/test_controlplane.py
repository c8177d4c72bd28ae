"""The sandbox control plane itself: real versions, fake GPU nodes, loopback only."""

from __future__ import annotations

import json

import pytest

from forescale.sandbox import binaries
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.gpu_nodes import GPU_PRODUCT_LABEL, GPU_RESOURCE, GpuNodePool
from forescale.sandbox.pytest_plugin import Kubectl

pytestmark = pytest.mark.integration


def test_apiserver_reports_the_pinned_release(kubectl: Kubectl) -> None:
    """/version must say the real release (ldflags), not v0.0.0-master."""
    version = json.loads(kubectl.ok("get", "--raw", "/version"))
    assert version["gitVersion"] == f"v{binaries.versions().kubernetes}"
    assert version["major"] == binaries.versions().kubernetes.split(".")[0]


def test_every_process_listens_on_loopback_only(sandbox_cluster: Cluster) -> None:
    state = sandbox_cluster.state()
    assert state["server"].startswith("https://127.0.0.1:")
    assert state["etcd"].startswith("http://127.0.0.1:")
    names = {process["name"] for process in state["processes"]}
    assert names == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    sandbox_cluster.check()


def test_fake_gpu_nodes_are_ready_with_gpu_capacity(
    kubectl: Kubectl, gpu_pool: GpuNodePool
) -> None:
    nodes = json.loads(kubectl.ok("get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == gpu_pool.node_names()
    for node in nodes:
        assert node["status"]["allocatable"][GPU_RESOURCE] == str(gpu_pool.gpus_per_node)
        assert node["metadata"]["labels"][GPU_PRODUCT_LABEL] == gpu_pool.product
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"
        # kwok's addresses are loopback, so nothing can connect to another machine.
        assert {a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"} == {
            "127.0.0.1"
        }


def test_operator_kubeconfig_authenticates_as_the_operator(kubectl: Kubectl) -> None:
    result = kubectl.as_operator("auth", "whoami", "-o", "json")
    assert result.returncode == 0, result.stderr
    user = json.loads(result.stdout)["status"]["userInfo"]
    assert user["username"] == "forescale-operator"
    assert set(user.get("groups", [])) == {"system:authenticated"}
