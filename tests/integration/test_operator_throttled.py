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

The leader's Lease is another matter: a renewal that waits past the renew deadline is a
lost lead, so Lease requests are not resent, and the shipped FlowSchema
(``manifests/flowcontrol``) puts them in the API server's ``leader-election`` priority
level, as kube-controller-manager's are. Under a 20 s throttle of everything else the
leader then keeps leading; without that FlowSchema it stops acting for the throttle's
length (the second case is the same test with the FlowSchema left out).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.ports import free_port
from forescale.sandbox.pytest_plugin import Kubectl
from tests.unit.manifests.manifest_support import MANIFESTS

from .operator_support import (
    OperatorProcesses,
    apply,
    events,
    eventually,
    get,
    minimal,
    operator_username,
    wait_condition,
)
from .test_operator_apiserver_restart import SHIPPED_TIMINGS
from .test_operator_leader_election import LEASE, _grant_lease, _holder
from .throttling_support import flow_schema_of, flow_schema_uid, priority_level_of_one

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


def test_a_throttled_operator_waits_and_counts_no_failure(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    sandbox_cluster: Cluster,
) -> None:
    operator = operators.start("operator", metrics_port=free_port())
    apply(kubectl, namespace, minimal(NAME, scaling={"minReplicas": 1, "maxReplicas": 3}))
    wait_condition(kubectl, namespace, NAME, "Ready")
    errors_before = _reconcile_errors(operator.scrape())

    def context() -> str:
        return f"\noperator log:\n{operator.text()[-4000:]}"

    try:
        with priority_level_of_one(kubectl, namespace, sandbox_cluster) as throttle:
            with throttle.held(HOLD_SECONDS):
                kubectl.ok(
                    "patch", "llmd", NAME, "-n", namespace, "--type=merge",
                    "-p", '{"spec": {"scaling": {"minReplicas": 2}}}',
                )  # fmt: skip
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


LEADER_HOLD_SECONDS = 20.0
"""Twice the shipped renew deadline (10 s)."""
FLOW_SCHEMA = MANIFESTS / "flowcontrol" / "leader_election_flow_schema.yaml"


@contextlib.contextmanager
def _shipped_flow_schema(kubectl: Kubectl, namespace: str, user: str) -> Iterator[str]:
    """The shipped FlowSchema, for the sandbox's operator ``user`` and the test's Lease
    namespace instead of the ServiceAccount and forescale-system; yields its UID."""
    flow_schema = yaml.safe_load(FLOW_SCHEMA.read_text())
    (rule,) = flow_schema["spec"]["rules"]
    rule["subjects"] = [{"kind": "User", "user": {"name": user}}]
    (resources,) = rule["resourceRules"]
    resources["namespaces"] = [namespace]
    manifest = yaml.safe_dump(flow_schema)
    kubectl.ok("apply", "-f", "-", input=manifest)
    try:
        yield flow_schema_uid(kubectl, flow_schema["metadata"]["name"])
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true", input=manifest)


@pytest.mark.parametrize("shipped", [True, False], ids=["shipped-flow-schema", "without-it"])
def test_the_leader_keeps_its_lease_through_a_throttle_with_the_shipped_flow_schema(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    sandbox_cluster: Cluster,
    shipped: bool,
) -> None:
    _grant_lease(kubectl, namespace)
    operator = operators.start("operator", f"--leader-elect={namespace}/{LEASE}", *SHIPPED_TIMINGS)
    eventually(lambda: _holder(kubectl, namespace), 60, "the operator to lead")
    user = operator_username(kubectl)
    lease = ("get", "lease", LEASE, "-n", namespace, f"--as={user}")
    with contextlib.ExitStack() as stack:
        throttle = stack.enter_context(priority_level_of_one(kubectl, namespace, sandbox_cluster))
        expected = throttle.flow_schema_uid
        if shipped:
            expected = stack.enter_context(_shipped_flow_schema(kubectl, namespace, user))
        eventually(
            lambda: flow_schema_of(kubectl, *lease) == expected,
            10,
            f"the Lease classified in FlowSchema {expected}",
        )
        with throttle.held(LEADER_HOLD_SECONDS):
            pass  # the operator lives through it on its own
    log = operator.text()
    lost = "is no longer the leader" in log
    assert lost is not shipped, log[-3000:]
    if lost:
        assert "429" in log
        eventually(lambda: "became the leader" in operator.text().split("is no longer")[-1],
                   30, "the lead taken back once the level serves")  # fmt: skip
