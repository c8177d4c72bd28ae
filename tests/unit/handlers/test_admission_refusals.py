"""A child refused by admission control is the cluster's to allow, not the spec's to fix.

The messages are the API server's own wording (k8s.io/apiserver v0.37: the admission-policy
dispatcher, a webhook's ``ToStatusErr``, the ResourceQuota plugin, RBAC's authorizer and
field validation); ``tests/integration/test_operator_refused_writes.py`` gets the policy's
and RBAC's from a real API server.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from forescale.handlers.api_client import ApiError
from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.reconciler import Reconciler
from tests.unit.handlers.fake_cluster import NS, FakeCluster, llmd

FIXED = {"scaling": {"policy": "fixed"}, "replicas": 1}
POLICY = (
    "deployments.apps \"llm\" is forbidden: ValidatingAdmissionPolicy 'freeze' with binding "
    "'freeze-prod' denied request: change freeze until Monday"
)
WEBHOOK = 'admission webhook "validation.gatekeeper.sh" denied the request: [no-gpu] denied'
QUOTA = (
    'services "llm" is forbidden: exceeded quota: services, requested: services=1, '
    "used: services=10, limited: services=10"
)
RBAC = (
    'deployments.apps "llm" is forbidden: User "forescale-operator" cannot patch resource '
    '"deployments" in API group "apps" in the namespace "prod"'
)
INVALID = 'Service "llm" is invalid: metadata.name: Invalid value: "llm": a DNS-1035 label'


def _error(status: int, message: str) -> ApiError:
    return ApiError(status, "refused", json.dumps({"kind": "Status", "message": message}))


def test_a_refusal_reads_as_the_api_servers_message_not_its_json() -> None:
    """The text lands in a condition and an Event of 800 characters, read by a person."""
    assert str(_error(403, RBAC)) == f"403 refused: {RBAC}"
    assert str(ApiError(503, "Service Unavailable", "")) == "503 Service Unavailable"
    assert (
        str(ApiError(502, "Bad Gateway", "<html>proxy</html>"))
        == "502 Bad Gateway: <html>proxy</html>"
    )


@pytest.mark.parametrize(
    ("status", "message"),
    [(422, POLICY), (403, POLICY), (400, WEBHOOK), (403, WEBHOOK), (403, QUOTA)],
)
def test_admission_refusals_are_told_by_their_wording_at_any_status(
    status: int, message: str
) -> None:
    assert _error(status, message).refused_by_admission


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, RBAC),
        (422, INVALID),
        (409, "Operation cannot be fulfilled: the object has been modified"),
        (403, "unable to create new content in namespace prod because it is being terminated"),
        (500, "etcdserver: request timed out"),
    ],
)
def test_other_refusals_are_not_admission(status: int, message: str) -> None:
    assert not _error(status, message).refused_by_admission


def _condition(cluster: FakeCluster, kind: str) -> dict[str, str]:
    found = [c for c in cluster.body["status"]["conditions"] if c["type"] == kind]
    return found[0]


def test_a_policy_refusal_is_child_rejected_at_once_and_retried() -> None:
    """Said at the first refusal (no grace for blips: a policy stays until lifted), quoted,
    counted as a failure with its backoff, never InvalidSpec; lifted, the next retry
    applies."""
    cluster = FakeCluster(llmd(**FIXED))
    cluster.fail["apply"] = _error(422, POLICY)
    now = [100.0]
    reconciler = Reconciler(
        cluster.as_client(),
        Autoscaler(None),
        clock=lambda: "2026-01-01T00:00:00Z",
        monotonic=lambda: now[0],
    )

    async def fail_then_retry() -> None:
        reconciler.trigger(NS, "llm")
        await reconciler.wait_idle()
        degraded = _condition(cluster, "Degraded")
        assert (degraded["status"], degraded["reason"]) == ("True", "ChildRejected")
        assert "change freeze until Monday" in degraded["message"]
        assert "retrying in 1 s" in degraded["message"]
        assert [e[:2] for e in cluster.events] == [("Warning", "ChildRejected")]
        assert cluster.writes == [], "no merge-patch 'repair' of a refusal by policy"
        del cluster.fail["apply"]
        now[0] += 1
        reconciler.trigger_all()
        await reconciler.wait_idle()

    asyncio.run(fail_then_retry())
    assert _condition(cluster, "Degraded")["status"] == "False"
    assert ("Deployment", NS, "llm") in cluster.objects
