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
level, as kube-controller-manager's are. Under a 20 s throttle of everything else, while
a fleet of LLMDeployments all change, the leader then keeps leading; without that
FlowSchema it stops acting for the throttle's length (the second case is the same test
with the FlowSchema left out). The fleet is what found that seats are not enough: every
worker thread of the operator's client sat out a ``Retry-After`` for one of the fleet's
passes, and the renewal, queued behind them in the same client, missed the deadline; the
Lease now has a client of its own (``leader_election.lease_client``).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from forescale.handlers.api_client import API_THREADS
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
                _raise_min_replicas(kubectl, namespace)
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


STOP_HOLD_SECONDS = 25.0
"""Long enough that a pass's waits (1, 2, 4, 8 s as the level's Retry-After doubles)
outlast a stop by far; within the hog's 28 s bound."""
STOP_SECONDS = 5.0
"""The stop may take kopf's own shutdown (0.16 s measured here), not a throttle's waits
(about 9 s measured with the client left open at the stop)."""


def test_a_stopping_operator_does_not_sit_out_a_throttle(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorProcesses,
    sandbox_cluster: Cluster,
) -> None:
    """SIGTERM while a pass waits on a ``Retry-After``: the process ends within
    ``STOP_SECONDS``, not after the pass's waits, and counts no failure for the pass it
    cut short (the next start reconciles everything)."""
    operator = operators.start("operator")
    apply(kubectl, namespace, minimal(NAME, scaling={"minReplicas": 1, "maxReplicas": 3}))
    wait_condition(kubectl, namespace, NAME, "Ready")
    with contextlib.ExitStack() as stack:
        throttle = stack.enter_context(priority_level_of_one(kubectl, namespace, sandbox_cluster))
        stack.enter_context(throttle.held(STOP_HOLD_SECONDS))
        _raise_min_replicas(kubectl, namespace)
        eventually(lambda: "waiting as client-go does" in operator.text(), 10, "a pass waiting")
        started = time.monotonic()
        code = operator.stop()
        took = time.monotonic() - started
    log = operator.text()
    assert code == 0, log[-3000:]
    assert took < STOP_SECONDS, f"the stop took {took:.1f} s\n{log[-3000:]}"
    assert "failed (retry in" not in log, log[-3000:]
    assert "dropped while waiting on a throttle" in log, log[-3000:]


LEADER_HOLD_SECONDS = 20.0
"""Twice the shipped renew deadline (10 s)."""
FLEET = API_THREADS + 8
"""LLMDeployments that all change during the throttle: more passes than the operator's
client has worker threads, each of them waiting on the throttle."""
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
    _apply_fleet(kubectl, namespace, min_replicas=1)
    eventually(lambda: _fleet_replicas(kubectl, namespace) == [1] * FLEET, 90, "the fleet up")
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
            _apply_fleet(kubectl, namespace, min_replicas=2)  # every pass waits on 429s
    eventually(lambda: _fleet_replicas(kubectl, namespace) == [2] * FLEET, 90,
               "every change made during the throttle applied")  # fmt: skip
    log = operator.text()
    lost = "is no longer the leader" in log
    leading = [line for line in log.splitlines() if "forescale.leader" in line]
    assert lost is not shipped, "\n".join(leading)
    if lost:
        assert "429" in log
        eventually(lambda: "became the leader" in operator.text().split("is no longer")[-1],
                   30, "the lead taken back once the level serves")  # fmt: skip


def _apply_fleet(kubectl: Kubectl, namespace: str, *, min_replicas: int) -> None:
    """``FLEET`` LLMDeployments at ``minReplicas``, in one request per object (as admin,
    whom the throttle does not touch)."""
    fleet = [
        minimal(f"fleet-{i:02d}", scaling={"minReplicas": min_replicas, "maxReplicas": 3})
        for i in range(FLEET)
    ]
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(fleet))


def _fleet_replicas(kubectl: Kubectl, namespace: str) -> list[int]:
    """The fleet's Deployments' ``spec.replicas``, by name."""
    found = json.loads(kubectl.ok("get", "deployments", "-n", namespace, "-o", "json"))
    return [
        d["spec"]["replicas"]
        for d in sorted(found["items"], key=lambda d: d["metadata"]["name"])
        if d["metadata"]["name"].startswith("fleet-")
    ]


def _raise_min_replicas(kubectl: Kubectl, namespace: str) -> None:
    """A user's spec change, as admin (whom the throttle does not touch): minReplicas 2."""
    kubectl.ok(
        "patch", "llmd", NAME, "-n", namespace, "--type=merge",
        "-p", '{"spec": {"scaling": {"minReplicas": 2}}}',
    )  # fmt: skip
