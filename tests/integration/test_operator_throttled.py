"""Throttled by the API server, the operator waits as it is asked and counts no failure.

A busy cluster's API Priority and Fairness rejects a client's requests with 429 and a
``Retry-After`` when the client's priority level has no seat free: the request was never
run, and the server says when to come back. client-go (so kubectl, every controller) and
kopf wait that long and send it again, up to ten times; forescale's own client used to
send only its GETs and PUTs again (urllib3's hidden default, three times) and to fail its
applies and creates at once, so a pass failed, ``forescale_reconcile_errors_total``
counted it and, after three, ``Degraded=True ReconcileError`` went up, for a cluster that
was only busy.

Here the real API server throttles the operator's user (``throttling_support``: a
priority level that serves one request at a time, held by another user's slow request)
for 8 s while a user raises ``minReplicas``. The change must land once the throttle
ends, with no failure counted, no ``ReconcileError`` and the throttle named in the log.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest
from prometheus_client.parser import text_string_to_metric_families

from forescale.handlers.api_client import ApiError, ClusterClient
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.ports import free_port
from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import (
    OperatorProcesses,
    apply,
    events,
    eventually,
    get,
    minimal,
    wait_condition,
)
from .throttling_support import priority_level_of_one

pytestmark = pytest.mark.integration

NAME = "patient"
HOLD_SECONDS = 8.0
"""Long enough for three failed passes (backoff 1, 2 and 4 s), the most the reconciler
keeps quiet about; short enough for client-go's ten resends at the priority level's
``Retry-After`` of 1 s (a throttle that outlasts them fails the pass, in client-go too)."""


def _reconcile_errors(text: str) -> float:
    families = text_string_to_metric_families(text)
    (family,) = [f for f in families if f.name == "forescale_reconcile_errors"]
    return sum(s.value for s in family.samples if s.name.endswith("_total"))


def _throttled_now(kubeconfig: Path) -> bool:
    """Whether a GET by the operator's user is answered 429 at once (sent once, no retry)."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    client = ClusterClient(configuration)
    try:
        client._call("GET", "/api/v1/namespaces/default", patience=0.0)
    except ApiError as err:
        return err.status == 429
    finally:
        client.close()
    return False


def test_a_throttled_operator_waits_and_counts_no_failure(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    sandbox_cluster: Cluster,
    tmp_path: Path,
) -> None:
    operator = operators.start("operator", metrics_port=free_port())
    apply(kubectl, namespace, minimal(NAME, scaling={"minReplicas": 1, "maxReplicas": 3}))
    wait_condition(kubectl, namespace, NAME, "Ready")
    errors_before = _reconcile_errors(operator.scrape())

    def context() -> str:
        return f"\noperator log:\n{operator.text()[-4000:]}"

    try:
        with priority_level_of_one(kubectl, namespace, sandbox_cluster, tmp_path) as throttle:
            hog = throttle.hold(HOLD_SECONDS)
            eventually(
                lambda: _throttled_now(kubectl.operator_kubeconfig),
                5,
                "the operator's user throttled",
            )
            kubectl.ok(
                "patch", "llmd", NAME, "-n", namespace, "--type=merge",
                "-p", '{"spec": {"scaling": {"minReplicas": 2}}}',
            )  # fmt: skip
            hog.join(HOLD_SECONDS + 10)
            assert not hog.is_alive(), "the hog's request outlived its hold"
            eventually(
                lambda: (
                    (get(kubectl, namespace, "deployment", NAME) or {})["spec"]["replicas"] == 2
                ),
                30,
                "the change made during the throttle applied",
            )
        wait_condition(kubectl, namespace, NAME, "Degraded", status="False")
        assert _reconcile_errors(operator.scrape()) == errors_before
        warnings = {e["reason"] for e in events(kubectl, namespace, NAME) if e["type"] == "Warning"}
        assert warnings == {"MetricsUnavailable"}, warnings  # no Prometheus in this test
        assert f"FlowSchema {throttle.flow_schema_uid}" in operator.text()
    except AssertionError as error:
        raise AssertionError(f"{error}{context()}") from None
