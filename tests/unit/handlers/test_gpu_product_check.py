"""The GPU product check needs to list nodes; without that permission it is skipped.

docs/operations.md, namespaced RBAC: the node reader is optional, and without it the
check "is skipped with a log line". Any other failure to list nodes is a failed pass.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from forescale.handlers.api_client import ApiError
from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.reconciler import Reconciler
from tests.unit.handlers.fake_cluster import NS, FakeCluster, api_error, llmd

SPEC = {"scaling": {"policy": "fixed"}, "replicas": 1, "resources": {"gpuProduct": "NVIDIA-X"}}


class Nodes(FakeCluster):
    """A cluster whose node list answers ``found`` GPU nodes, or fails with ``status``."""

    def __init__(self, found: int = 0, status: int | None = None) -> None:
        super().__init__(llmd(**SPEC))
        self.found, self.status = found, status

    async def nodes_with_label(self, label: str, value: str) -> int:
        if self.status is not None:
            raise api_error(self.status, f"nodes is forbidden ({self.status})")
        return self.found


def _degraded(cluster: FakeCluster) -> dict[str, str]:
    conditions = cluster.body["status"]["conditions"]
    found: dict[str, str] = next(c for c in conditions if c["type"] == "Degraded")
    return found


def _pass(cluster: FakeCluster) -> None:
    reconciler = Reconciler(
        cluster.as_client(), Autoscaler(None), clock=lambda: "t", coalesce_seconds=0
    )
    asyncio.run(reconciler.reconcile(NS, "llm"))


def test_no_node_with_the_product_is_a_degraded_spec() -> None:
    cluster = Nodes(found=0)
    _pass(cluster)
    assert _degraded(cluster)["reason"] == "UnknownGPUProduct"


def test_without_the_node_reader_the_check_is_skipped_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = Nodes(status=403)
    with caplog.at_level(logging.INFO, logger="forescale.reconciler"):
        _pass(cluster)
    assert _degraded(cluster)["status"] == "False"
    assert ("apply", "Deployment", "forescale") in cluster.writes  # the pass went on
    assert "GPU product check skipped" in caplog.text


def test_any_other_refusal_fails_the_pass() -> None:
    """Before any child is applied (the pass's boundary turns it into ReconcileError)."""
    cluster = Nodes(status=500)
    with pytest.raises(ApiError, match="500"):
        _pass(cluster)
    assert cluster.writes == []
