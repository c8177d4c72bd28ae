"""The reconciler's safety rules with a fake client: what it refuses to touch, what it
hands over, how it fails. Each test names the issue-12 finding it pins down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from forescale.api.spec import LLMDeploymentSpec
from forescale.handlers import autoscaling, telemetry
from forescale.handlers.autoscaling import Autoscaler, as_advice
from forescale.handlers.reconciler import Reconciler
from forescale.policy import PolicyState
from forescale.resources.owner import Owner
from tests.unit.handlers.fake_cluster import NS, UID, FakeCluster, api_error, llmd, managed
from tests.unit.handlers.fake_reader import Clock, FakeReader

FIXED = {"scaling": {"policy": "fixed"}, "replicas": 1}


def _reconciler(cluster: FakeCluster, **kwargs: Any) -> Reconciler:
    return Reconciler(
        cluster.as_client(),
        Autoscaler(None),
        clock=lambda: "2026-01-01T00:00:00Z",
        coalesce_seconds=0,
        **kwargs,
    )


def _condition(cluster: FakeCluster, kind: str) -> dict[str, Any]:
    for cond in cluster.body.get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            return dict(cond)
    return {}


@pytest.mark.parametrize("kind", ["Service", "Deployment", "PodDisruptionBudget"])
def test_a_foreign_object_with_the_childs_name_is_never_touched(kind: str) -> None:
    """Finding: an LLMDeployment named like a Service took it over (selector rewritten, GC'd).
    Any child kind: the pass stops before the first apply, with a Warning."""
    cluster = FakeCluster(llmd("victim", **FIXED))
    victim = {"kind": kind, "metadata": {"name": "victim", "namespace": NS}, "spec": {}}
    cluster.objects[(kind, NS, "victim")] = victim
    asyncio.run(_reconciler(cluster).reconcile(NS, "victim"))
    asyncio.run(_reconciler(cluster).reconcile(NS, "victim"))
    assert cluster.writes == [], "nothing may be applied while a child's name is taken"
    assert cluster.objects[(kind, NS, "victim")] == victim
    degraded = _condition(cluster, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "NameConflict")
    assert f"{kind} victim already exists" in degraded["message"]
    conflicts = [e for e in cluster.events if e[1] == "NameConflict"]
    assert [e[0] for e in conflicts] == ["Warning", "Warning"]  # once per process


def test_own_children_are_applied() -> None:
    cluster = FakeCluster(llmd(**FIXED))
    service = {
        "kind": "Service",
        "metadata": {"name": "llm", "namespace": NS, "ownerReferences": [{"uid": UID}]},
        "spec": {},
    }
    cluster.objects[("Service", NS, "llm")] = service
    asyncio.run(_reconciler(cluster).reconcile(NS, "llm"))
    assert ("apply", "Service", "forescale") in cluster.writes
    assert ("apply", "Deployment", "forescale") in cluster.writes
    assert _condition(cluster, "Degraded").get("reason") != "NameConflict"


def test_fields_others_injected_into_the_pod_template_are_removed() -> None:
    """Finding: a privileged sidecar and hostNetwork added by someone else stayed."""
    cluster = FakeCluster(llmd(**FIXED))
    injected = {
        "f:spec": {
            "f:template": {
                "f:spec": {
                    "f:hostNetwork": {},
                    "f:containers": {
                        'k:{"name":"sidecar"}': {".": {}, "f:name": {}, "f:image": {}}
                    },
                }
            }
        }
    }
    cluster.extra_managed[("Deployment", "llm")] = [managed("kubectl-edit", injected)]
    asyncio.run(_reconciler(cluster).reconcile(NS, "llm"))
    assert ("replace_pod_template", "Deployment", "forescale") in cluster.writes
    (restored,) = [e for e in cluster.events if e[1] == "PodTemplateRestored"]
    assert "template.spec.hostNetwork" in restored[2]
    assert 'template.spec.containers.{"name":"sidecar"}.image' in restored[2]
    cluster.writes.clear()
    asyncio.run(_reconciler(cluster).reconcile(NS, "llm"))
    assert ("replace_pod_template", "Deployment", "forescale") not in cluster.writes


def test_an_external_scaler_is_handed_the_count_once_without_a_fight() -> None:
    """Finding: an HPA on the child Deployment caused 8 replica flips in 25 s."""
    cluster = FakeCluster(llmd(**FIXED))
    reconciler = _reconciler(cluster)
    asyncio.run(reconciler.reconcile(NS, "llm"))
    for replicas in (3, 5, 2):
        cluster.external_scale("llm", replicas, "kube-controller-manager")
        cluster.writes.clear()
        asyncio.run(reconciler.reconcile(NS, "llm"))
        replica_writes = [w for w in cluster.writes if w[2] == "forescale-scaler"]
        assert replica_writes == [], f"forescale fought the external count {replicas}"
        assert cluster.objects[("Deployment", NS, "llm")]["spec"]["replicas"] == replicas
    scaling = _condition(cluster, "ScalingActive")
    assert (scaling["status"], scaling["reason"]) == ("False", "ExternalScaler")
    assert [e[1] for e in cluster.events].count("ExternalScaler") == 1
    # A spec change hands the count back.
    cluster.body["metadata"]["generation"] = 2
    asyncio.run(reconciler.reconcile(NS, "llm"))
    assert ("apply", "Deployment", "forescale-scaler") in cluster.writes
    assert cluster.objects[("Deployment", NS, "llm")]["spec"]["replicas"] == 1


def test_a_child_the_api_server_refuses_is_invalid_spec_with_its_message() -> None:
    """Finding: a 422 on the Service became a misleading DriftRepaired and a 404 log."""
    cluster = FakeCluster(llmd(**FIXED))
    cluster.fail["apply"] = api_error(422, 'Service "x" is invalid: metadata.name: Invalid value')
    cluster.fail["merge_patch"] = api_error(404, "not found")
    asyncio.run(_reconciler(cluster).reconcile(NS, "llm"))
    degraded = _condition(cluster, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "InvalidSpec")
    assert "metadata.name: Invalid value" in degraded["message"]
    assert _condition(cluster, "Ready")["status"] == "False"
    assert [e[:2] for e in cluster.events] == [("Warning", "InvalidSpec")]
    assert "DriftRepaired" not in [e[1] for e in cluster.events]


def test_a_stored_name_that_cannot_name_children_is_invalid_spec() -> None:
    cluster = FakeCluster(llmd("llama.v1.prod", **FIXED))
    asyncio.run(_reconciler(cluster).reconcile(NS, "llama.v1.prod"))
    assert _condition(cluster, "Degraded")["reason"] == "InvalidSpec"
    assert cluster.writes == []


def test_any_exception_ends_at_the_boundary_with_condition_event_and_backoff() -> None:
    """Finding: a ValueError escaped the pass ("Task exception was never retrieved")."""
    cluster = FakeCluster(llmd(**FIXED))
    cluster.fail["list"] = ValueError("boom")
    now = [100.0]
    reconciler = _reconciler(cluster, monotonic=lambda: now[0])

    async def two_failures() -> None:
        reconciler.trigger(NS, "llm")
        await reconciler.wait_idle()
        reconciler.trigger_all()  # within the backoff: nothing runs
        await reconciler.wait_idle()
        now[0] += 10
        reconciler.trigger_all()
        await reconciler.wait_idle()

    asyncio.run(two_failures())
    reasons = [e[1] for e in cluster.events]
    assert reasons.count("ReconcileError") == 2
    messages = [e[2] for e in cluster.events if e[1] == "ReconcileError"]
    assert "retrying in 1 s" in messages[0] and "retrying in 2 s" in messages[1]
    assert _condition(cluster, "Degraded")["reason"] == "ReconcileError"


def test_the_backoff_doubles_to_five_minutes_and_each_failure_is_counted() -> None:
    """docs/operations.md, "Failures": 1 s doubling to 5 min, the error's own message in
    the condition, and ``forescale_reconcile_errors_total`` counting every failure."""
    cluster = FakeCluster(llmd(**FIXED))
    cluster.fail["list"] = ValueError("boom: the list failed")
    now = [100.0]
    reconciler = _reconciler(cluster, monotonic=lambda: now[0])
    counted = telemetry.RECONCILE_ERRORS._value.get()

    async def failures(count: int) -> None:
        reconciler.trigger(NS, "llm")
        await reconciler.wait_idle()
        for _ in range(count - 1):
            now[0] += 1000  # past any backoff
            reconciler.trigger_all()
            await reconciler.wait_idle()

    asyncio.run(failures(12))
    messages = [e[2] for e in cluster.events if e[1] == "ReconcileError"]
    delays = [int(m.split("retrying in ")[1].split(" s")[0]) for m in messages]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert telemetry.RECONCILE_ERRORS._value.get() - counted == 12
    degraded = _condition(cluster, "Degraded")
    assert degraded["reason"] == "ReconcileError"
    assert "ValueError: boom: the list failed" in degraded["message"]


def test_status_is_written_only_when_it_changed() -> None:
    """The clock moves between passes: a status that stamped "now" on every pass (a
    condition's lastTransitionTime, a decision time) would be written again."""
    cluster = FakeCluster(llmd(**FIXED))
    ticks = iter(f"2026-01-01T00:{minute:02d}:00Z" for minute in range(60))
    reconciler = Reconciler(
        cluster.as_client(), Autoscaler(None), clock=lambda: next(ticks), coalesce_seconds=0
    )
    asyncio.run(reconciler.reconcile(NS, "llm"))
    writes = len(cluster.status_patches)
    assert writes >= 1
    asyncio.run(reconciler.reconcile(NS, "llm"))
    asyncio.run(reconciler.reconcile(NS, "llm"))
    assert len(cluster.status_patches) == writes


def test_a_replica_that_is_not_the_leader_does_nothing() -> None:
    cluster = FakeCluster(llmd(**FIXED))
    reconciler = _reconciler(cluster, is_leader=lambda: False)

    async def triggered() -> None:
        reconciler.trigger(NS, "llm")
        reconciler.trigger_all()
        await reconciler.wait_idle()

    asyncio.run(triggered())
    assert cluster.writes == [] and cluster.status_patches == [] and cluster.events == []


def test_missing_secrets_are_not_probed() -> None:
    """Least privilege: no Secret read; the pods' CreateContainerConfigError tells instead."""
    spec = {
        **FIXED,
        "model": {"name": "m", "source": {"huggingFace": {"tokenSecret": {"name": "s"}}}},
    }
    cluster = FakeCluster(llmd(**spec))
    probed: list[str] = []

    async def exists(kind: str, namespace: str, name: str) -> bool:
        probed.append(kind)
        return False

    cluster.exists = exists  # type: ignore[method-assign]
    asyncio.run(_reconciler(cluster).reconcile(NS, "llm"))
    assert "Secret" not in probed


READY_POD = {
    "metadata": {"name": "llm-0", "creationTimestamp": "2023-11-14T22:12:00Z"},
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2023-11-14T22:15:00Z"}
        ],
    },
}


def _autoscaled(
    scaling: dict[str, Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
    reader: FakeReader | None = None,
) -> tuple[FakeCluster, Callable[[], None]]:
    """An autoscaled LLMDeployment and one step of it: 15 s on, one autoscaler tick (read,
    decide on ``pods``, ask for a pass) and the reconcile pass that applies it."""
    body = llmd(scaling=scaling or {"minReplicas": 1, "maxReplicas": 4})
    cluster = FakeCluster(body)
    clock = reader.clock if reader is not None else Clock()
    scaler = Autoscaler(reader or FakeReader(clock), clock=clock)  # type: ignore[arg-type]
    reconciler = Reconciler(
        cluster.as_client(), scaler, clock=lambda: "2026-01-01T00:00:00Z", coalesce_seconds=0
    )
    owner = Owner("llm", NS, UID, LLMDeploymentSpec.model_validate(body["spec"]))

    def tick_and_pass() -> None:
        clock.now += 15
        asyncio.run(scaler.refresh([f"{NS}/llm"]))
        deployment = cluster.objects.get(("Deployment", NS, "llm"))
        scaler.decide_now(owner, cluster.body, deployment, pods or [])
        scaler.mark_pending(owner)
        asyncio.run(reconciler.reconcile(NS, "llm"))

    return cluster, tick_and_pass


def test_a_policy_failure_is_a_warning_and_its_end_a_normal_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hold the autoscaler did not choose tells `kubectl describe` when it starts and ends."""
    cluster, tick_and_pass = _autoscaled()

    def broken(*args: Any) -> Any:
        raise ValueError("max() arg is an empty sequence")

    real = autoscaling.decide
    monkeypatch.setattr(autoscaling, "decide", broken)
    tick_and_pass()
    active = _condition(cluster, "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "PolicyFailed")
    warnings = [e for e in cluster.events if e[1] == "PolicyFailed"]
    assert warnings and warnings[0][0] == "Warning"
    assert "ValueError" in warnings[0][2]

    monkeypatch.setattr(autoscaling, "decide", real)
    tick_and_pass()
    assert _condition(cluster, "ScalingActive")["reason"] != "PolicyFailed"
    assert [e[0] for e in cluster.events if e[1] == "PolicyRecovered"] == ["Normal"]


def test_a_discarded_policy_state_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy that raised on its learned state for a rate window starts fresh, and
    `kubectl describe` says what was lost and why."""
    cluster, tick_and_pass = _autoscaled()
    real = autoscaling.decide

    for _ in range(3):
        tick_and_pass()

    def raises_on_what_it_learned(*args: Any) -> Any:
        if args[1] != PolicyState():
            raise OverflowError("(34, 'Numerical result out of range')")
        return real(*args)

    monkeypatch.setattr(autoscaling, "decide", raises_on_what_it_learned)
    for _ in range(5):
        tick_and_pass()
    resets = [e for e in cluster.events if e[1] == "PolicyStateReset"]
    assert [e[0] for e in resets] == ["Warning"]
    assert "Discarded the learned policy state" in resets[0][2] and "OverflowError" in resets[0][2]
    assert [e[0] for e in cluster.events if e[1] == "PolicyRecovered"] == ["Normal"]
    assert _condition(cluster, "ScalingActive")["reason"] != "PolicyFailed"


def test_recommend_mode_records_a_scale_up_and_never_applies_it() -> None:
    """README and spec.scaling.mode: ``recommend`` only records what it would do. A trial on
    a production fleet relies on it: the Deployment's count stays the user's while the
    autoscaler's decision goes to status, an Event and ScalingActive=True RecommendOnly."""
    scaling = {
        "minReplicas": 1,
        "maxReplicas": 8,
        "mode": "recommend",
        "capacity": {"requestsPerSecond": "1"},
    }
    overloaded = FakeReader()  # one Ready replica, a queue of 40 and TTFT p95 5 s (SLO 2 s)
    overloaded.rate, overloaded.waiting, overloaded.ttft_p95 = 6.0, 40.0, 5.0
    cluster, tick_and_pass = _autoscaled(scaling, pods=[READY_POD], reader=overloaded)
    for _ in range(4):
        tick_and_pass()
    deployment = cluster.objects[("Deployment", NS, "llm")]
    assert deployment["spec"]["replicas"] == 1
    assert ("apply", "Deployment", "forescale-scaler") not in cluster.writes
    recommended = [e for e in cluster.events if e[1] == "Recommendation"]
    assert recommended, cluster.events
    assert recommended[0][0] == "Normal"
    assert recommended[0][2].startswith("Would scale up from 1 to ")
    assert "Scaled" not in recommended[0][2], "nothing was scaled"
    assert int(recommended[0][2].split(" to ")[1].split(":")[0]) > 1
    assert not [e for e in cluster.events if e[1] in {"ScaledUp", "ScaledDown", "Scaled"}]
    autoscaling = cluster.body["status"]["autoscaling"]
    assert autoscaling["lastDecision"] == "ScaleUp"
    assert autoscaling["lastDecisionReason"].startswith("Would scale up from 1 to ")
    advised = int(autoscaling["lastDecisionReason"].split(" to ")[1].split(":")[0])
    assert (autoscaling["recommendedReplicas"], autoscaling["desiredReplicas"]) == (advised, 1)
    active = _condition(cluster, "ScalingActive")
    assert (active["status"], active["reason"]) == ("True", "RecommendOnly")


DECISION_EVENTS = {"ScaledUp", "ScaledDown", "Scaled", "Recommendation"}


@pytest.mark.parametrize("mode", ["auto", "recommend"])
def test_a_hold_posts_no_event_and_status_says_why(mode: str) -> None:
    """The runbooks' word ("a hold posts no Event: status.autoscaling.lastDecisionReason
    and ScalingActive say why"). The autoscaler decides every 15 s; an Event per hold
    would bury the decisions that changed something in `kubectl describe` and write to
    etcd four times a minute per deployment. The same setup then scales, so the Events
    are there to be seen when a decision changes the count."""
    scaling = {
        "minReplicas": 1,
        "maxReplicas": 8,
        "mode": mode,
        "capacity": {"requestsPerSecond": "20"},
    }
    light = FakeReader()  # one Ready replica at 5 req/s, no queue, TTFT p95 0.2 s (SLO 2 s)
    cluster, tick_and_pass = _autoscaled(scaling, pods=[READY_POD], reader=light)
    for _ in range(40):  # 10 minutes: the warm-up, then a learned steady load
        tick_and_pass()
    assert not [e for e in cluster.events if e[1] in DECISION_EVENTS], cluster.events
    autoscaling = cluster.body["status"]["autoscaling"]
    assert autoscaling["lastDecision"] == "Hold"
    assert autoscaling["lastDecisionReason"].strip(), autoscaling
    assert _condition(cluster, "ScalingActive")["status"] == "True"

    light.rate, light.waiting, light.ttft_p95 = 60.0, 40.0, 5.0
    for _ in range(4):
        tick_and_pass()
    decided = [e for e in cluster.events if e[1] in DECISION_EVENTS]
    expected = "Recommendation" if mode == "recommend" else "ScaledUp"
    assert [e[1] for e in decided][:1] == [expected], cluster.events


def test_advice_reads_what_recommend_mode_did_not_do() -> None:
    """The policy writes what it did; in recommend mode nothing was done."""
    assert as_advice("Scaled up from 1 to 5: forecast 9 req/s") == (
        "Would scale up from 1 to 5: forecast 9 req/s"
    )
    assert as_advice("Scaled down from 5 to 4: x") == "Would scale down from 5 to 4: x"
    assert as_advice("Holding at 3: y") == "Holding at 3: y"
