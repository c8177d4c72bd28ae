"""Two operators, two shards: each acts only on the LLMDeployments labelled for it.

Both run as real ``forescale run --shard NAME`` processes as the operator's RBAC user,
watching the same namespace, as two shards of one cluster would. Which one acted is read
from the cluster (a Deployment exists, or does not) and from their logs, where the
reconciler logs every Event it posts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.sandbox.ports import free_port
from forescale.sandbox.prometheus_server import OperatorTarget
from forescale.sandbox.pytest_plugin import Kubectl
from tests.polling import eventually
from tests.unit.manifests.manifest_support import RULES_FILE

from .operator_support import OperatorProcess, OperatorProcesses, apply, get, sample
from .prometheus_support import SCRAPE_INTERVAL_SECONDS, alerts, running_prometheus
from .test_manifests_kustomize import kustomize

pytestmark = pytest.mark.integration

SHARD_LABEL = "forescale.io/shard"
SHIPPED_NAMESPACE = "forescale-system"
QUIET_SECONDS = 8.0
"""How long an operator is given to (wrongly) act on another shard's LLMDeployment."""


def _model(name: str, shard: str) -> dict[str, Any]:
    manifest = sample("llmdeployment-minimal.yaml", replicas=1)
    manifest["metadata"] = {"name": name, "labels": {SHARD_LABEL: shard}}
    manifest["spec"]["scaling"] = {"policy": "fixed", "maxReplicas": 3}
    return manifest


def _replicas(kubectl: Kubectl, namespace: str, name: str) -> int | None:
    deployment = get(kubectl, namespace, "deployment", name)
    return None if deployment is None else int(deployment["spec"]["replicas"])


def _shard(
    operators: OperatorProcesses, shard: str, *extra: str, metrics_port: int = 0
) -> OperatorProcess:
    """``forescale run --shard SHARD`` (logging to ``<shard>.log``)."""
    return operators.start(shard, "--shard", shard, *extra, metrics_port=metrics_port)


def test_each_shard_acts_only_on_its_own(
    kubectl: Kubectl, namespace: str, operators: OperatorProcesses
) -> None:
    apply(kubectl, namespace, _model("alpha", "a"))
    apply(kubectl, namespace, _model("beta", "b"))
    _shard(operators, "a")
    eventually(lambda: _replicas(kubectl, namespace, "alpha") == 1, 60, "shard a creates alpha")
    time.sleep(QUIET_SECONDS)
    assert get(kubectl, namespace, "deployment", "beta") is None, "shard a acted on beta"
    assert (get(kubectl, namespace, "llmd", "beta") or {}).get("status") is None

    _shard(operators, "b")
    eventually(lambda: _replicas(kubectl, namespace, "beta") == 1, 60, "shard b creates beta")

    # A change to each is applied by its own shard only: stop b, scale both.
    operators["b"].stop()
    kubectl.ok("scale", "llmd", "alpha", "--replicas=2", "-n", namespace)
    kubectl.ok("scale", "llmd", "beta", "--replicas=2", "-n", namespace)
    eventually(lambda: _replicas(kubectl, namespace, "alpha") == 2, 30, "shard a scales alpha")
    time.sleep(QUIET_SECONDS)
    assert _replicas(kubectl, namespace, "beta") == 1, "shard a scaled beta"
    assert f"{namespace}/beta " not in operators["a"].text()  # the reconciler's Event log


def _shipped_shards() -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``manifests/shards`` as kustomize renders it: the leader-election Role, and each
    shard's operator arguments by its ``--shard``."""
    objects = kustomize("shards")
    (role,) = [o for o in objects if o["kind"] == "Role" and "leader" in o["metadata"]["name"]]
    shards = {}
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        (shard,) = [a.removeprefix("--shard=") for a in args if a.startswith("--shard=")]
        shards[shard] = args
    return role, shards


def _grant_leases(kubectl: Kubectl, namespace: str) -> dict[str, tuple[str, ...]]:
    """The leader-election Role of the shipped shards overlay, in the test namespace, bound
    to the operator user: each shard's ``--shard`` and ``--leader-elect`` flags as the
    overlay's Deployments give them (their Lease moved to the test namespace)."""
    role, shards = _shipped_shards()
    role["metadata"]["namespace"] = namespace
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": role["metadata"]["name"], "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": role["metadata"]["name"]},
        "subjects": [{"kind": "User", "name": "forescale-operator",
                      "apiGroup": "rbac.authorization.k8s.io"}],
    }  # fmt: skip
    kubectl.ok("apply", "-f", "-", input=yaml.safe_dump_all([role, binding]))
    return {
        shard: tuple(
            a.replace(f"={SHIPPED_NAMESPACE}/", f"={namespace}/")
            for a in args
            if a.startswith(("--shard=", "--leader-elect="))
        )
        for shard, args in shards.items()
    }


def test_shards_with_leader_election_each_lead_on_their_own_lease(
    kubectl: Kubectl, namespace: str, operators: OperatorProcesses
) -> None:
    """The shipped sharded set-up (``manifests/shards``: its Role, its shards' flags) on
    the real API server: each shard leads on the Lease named after it, so both act at
    once (on one shared Lease only one would)."""
    flags = _grant_leases(kubectl, namespace)
    assert set(flags) == {"a", "b"}, flags
    apply(kubectl, namespace, _model("alpha", "a"))
    apply(kubectl, namespace, _model("beta", "b"))
    for shard, shard_flags in flags.items():
        operators.start(shard, *shard_flags)
    eventually(
        lambda: (
            _replicas(kubectl, namespace, "alpha") == 1
            and _replicas(kubectl, namespace, "beta") == 1
        ),
        60,
        "both shards to create their own",
    )
    holders = {
        shard: (
            (get(kubectl, namespace, "lease", f"forescale-{shard}") or {}).get("spec") or {}
        ).get("holderIdentity")
        for shard in ("a", "b")
    }
    assert all(holders.values()) and holders["a"] != holders["b"], holders


def test_an_unlabelled_one_is_nobodys_and_a_label_change_moves_it(
    kubectl: Kubectl, namespace: str, operators: OperatorProcesses
) -> None:
    """docs/operations.md, sharding: an LLMDeployment without the shard label is served by
    no shard; relabelled, the old shard forgets it and the new one adopts its children
    (found by name: the Deployment keeps its uid) and acts on it."""
    unlabelled = _model("gamma", "a")
    del unlabelled["metadata"]["labels"]
    apply(kubectl, namespace, unlabelled)
    apply(kubectl, namespace, _model("alpha", "a"))
    for shard in ("a", "b"):
        _shard(operators, shard)
    eventually(lambda: _replicas(kubectl, namespace, "alpha") == 1, 60, "shard a creates alpha")
    time.sleep(QUIET_SECONDS)
    assert get(kubectl, namespace, "deployment", "gamma") is None, "a shard served gamma"

    uid = (get(kubectl, namespace, "deployment", "alpha") or {})["metadata"]["uid"]
    said_by_a = operators["a"].text().count(f"{namespace}/alpha ")
    kubectl.ok("label", "llmd", "alpha", f"{SHARD_LABEL}=b", "--overwrite", "-n", namespace)
    kubectl.ok("scale", "llmd", "alpha", "--replicas=2", "-n", namespace)
    eventually(lambda: _replicas(kubectl, namespace, "alpha") == 2, 30, "shard b scales alpha")
    assert (get(kubectl, namespace, "deployment", "alpha") or {})["metadata"]["uid"] == uid
    assert f"{namespace}/alpha " in operators["b"].text()  # b's reconciler acted on it
    time.sleep(QUIET_SECONDS)
    assert operators["a"].text().count(f"{namespace}/alpha ") == said_by_a, "a still acts"


def test_a_shard_whose_replicas_all_stop_is_paged_by_its_lease(
    kubectl: Kubectl, namespace: str, operators: OperatorProcesses, tmp_path: Path
) -> None:
    """The shipped rules on a real Prometheus scraping two shards as the ServiceMonitor
    would: shard a stops while shard b runs, so some operator is up, and
    ForescaleOperatorDown goes pending for shard a's Lease, and for nothing else.
    (promtool's tests show the rule without its per-Lease branch stays silent here.)"""
    flags = _grant_leases(kubectl, namespace)
    targets = {
        shard: OperatorTarget(f"127.0.0.1:{free_port()}", pod=f"forescale-operator-{shard}")
        for shard in ("a", "b")
    }
    with running_prometheus(
        tmp_path / "prometheus", rule_files=[RULES_FILE], operators=list(targets.values())
    ) as prometheus:
        for shard, target in targets.items():
            operators.start(shard, *flags[shard], metrics_port=target.port)

        def leading() -> set[str]:
            found = prometheus.query('forescale_leader{job="forescale-operator"} == 1')
            return {series["metric"].get("lease", "") for series in found}

        leases = {f"{namespace}/forescale-{shard}" for shard in targets}
        eventually(lambda: leading() == leases, 60, f"both shards leading, {leases}")
        # Pending from Prometheus' first evaluation (nothing scraped yet) until both are up.
        eventually(
            lambda: not alerts(prometheus, "ForescaleOperatorDown"), 30, "no ForescaleOperatorDown"
        )
        assert operators["a"].stop() == 0, operators["a"].text()[-3000:]
        down = eventually(
            lambda: alerts(prometheus, "ForescaleOperatorDown"),
            20 * SCRAPE_INTERVAL_SECONDS + 30,
            "ForescaleOperatorDown for the stopped shard",
        )
        assert [(a.get("lease"), a["severity"], a["alertstate"]) for a in down] == [
            (f"{namespace}/forescale-a", "critical", "pending")
        ], down
