"""A pass leaves alone the children nobody changed, and only those; passes in flight are
bounded and finish in the order they were asked for (issue 14, convergence at 1,000)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.reconciler import Reconciler
from tests.unit.handlers.fake_cluster import NS, FakeCluster, llmd, managed

FIXED = {"scaling": {"policy": "fixed"}, "replicas": 1}


def _reconciler(cluster: FakeCluster, **kwargs: Any) -> Reconciler:
    return Reconciler(
        cluster.as_client(), Autoscaler(None), clock=lambda: "2026-01-01T00:00:00Z", **kwargs
    )


def _watch(cluster: FakeCluster, reconciler: Reconciler) -> None:
    """What the child watches would report now (handlers/triggers.py feeds the same)."""
    for (kind, namespace, name), obj in cluster.objects.items():
        reconciler.children.seen(kind, namespace, name, copy.deepcopy(obj))


def _applies_of(cluster: FakeCluster, reconciler: Reconciler) -> list[str]:
    """The kinds one more pass applies (as the forescale field manager)."""
    before = len(cluster.writes)
    asyncio.run(reconciler.reconcile(NS, "llm"))
    return [
        kind for op, kind, who in cluster.writes[before:] if op == "apply" and who == "forescale"
    ]


def _converged() -> tuple[FakeCluster, Reconciler]:
    cluster = FakeCluster(llmd(**FIXED))
    reconciler = _reconciler(cluster)
    assert sorted(_applies_of(cluster, reconciler)) == [
        "Deployment",
        "PodDisruptionBudget",
        "Service",
    ]
    _watch(cluster, reconciler)
    return cluster, reconciler


def test_an_unchanged_child_is_not_applied_again() -> None:
    cluster, reconciler = _converged()
    assert _applies_of(cluster, reconciler) == []
    assert _applies_of(cluster, reconciler) == []


def test_a_child_never_watched_is_applied_every_pass() -> None:
    """A restart, or a kind no watch reports: nothing says it is unchanged."""
    cluster = FakeCluster(llmd(**FIXED))
    reconciler = _reconciler(cluster)
    _applies_of(cluster, reconciler)
    assert len(_applies_of(cluster, reconciler)) == 3


def test_a_changed_spec_applies_what_it_changes() -> None:
    cluster, reconciler = _converged()
    cluster.body["spec"]["model"]["name"] = "another-model"
    cluster.body["metadata"]["generation"] = 2
    assert "Deployment" in _applies_of(cluster, reconciler)


def test_a_foreign_edit_of_an_owned_field_is_applied_over() -> None:
    """kubectl edit of a field we own: ownership moves to the editor, the history changes."""
    cluster, reconciler = _converged()
    service = cluster.objects[("Service", NS, "llm")]
    for entry in service["metadata"]["managedFields"]:
        entry["fieldsV1"]["f:spec"].pop("f:selector", None)
    service["metadata"]["managedFields"].append(
        managed("kubectl-edit", {"f:spec": {"f:selector": {}}})
    )
    service["spec"]["selector"] = {"app": "someone-else"}
    _watch(cluster, reconciler)
    assert _applies_of(cluster, reconciler) == ["Service"]
    assert service["spec"]["selector"] != {"app": "someone-else"}


def test_a_deleted_child_is_applied_again() -> None:
    cluster, reconciler = _converged()
    del cluster.objects[("PodDisruptionBudget", NS, "llm")]
    reconciler.children.seen("PodDisruptionBudget", NS, "llm", None)
    assert _applies_of(cluster, reconciler) == ["PodDisruptionBudget"]
    assert ("PodDisruptionBudget", NS, "llm") in cluster.objects


def test_a_child_replaced_by_a_foreign_object_is_never_touched() -> None:
    """Deleted and re-created by someone else under the same name: the ownership check runs
    (it is not skipped because we applied that name before) and stops the pass untouched."""
    cluster, reconciler = _converged()
    foreign = {"kind": "Service", "metadata": {"name": "llm", "namespace": NS}, "spec": {}}
    cluster.objects[("Service", NS, "llm")] = foreign
    _watch(cluster, reconciler)
    assert _applies_of(cluster, reconciler) == []
    assert cluster.objects[("Service", NS, "llm")] == foreign
    degraded = [c for c in cluster.body["status"]["conditions"] if c["type"] == "Degraded"]
    assert degraded[0]["reason"] == "NameConflict"


def test_an_injected_sidecar_is_still_removed() -> None:
    """The pod-template restore runs when someone writes to the template after our apply."""
    cluster, reconciler = _converged()
    cluster.extra_managed[("Deployment", "llm")] = [
        managed("injector", {"f:spec": {"f:template": {"f:spec": {"f:hostNetwork": {}}}}})
    ]
    deployment = cluster.objects[("Deployment", NS, "llm")]
    deployment["metadata"]["managedFields"] += cluster.extra_managed[("Deployment", "llm")]
    _watch(cluster, reconciler)
    _applies_of(cluster, reconciler)
    assert ("replace_pod_template", "Deployment", "forescale") in cluster.writes


class _SlowCluster(FakeCluster):
    """Every read of an LLMDeployment takes a moment; records when passes start and end."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.order: list[tuple[str, str]] = []

    async def get_llmdeployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.order.append(("start", name))
        await asyncio.sleep(0.01)
        body = copy.deepcopy(self.body)
        body["metadata"]["name"] = name
        return body

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.order.append(("end", name))


def test_passes_in_flight_are_bounded_and_finish_in_order() -> None:
    cluster = _SlowCluster(llmd(**FIXED))
    reconciler = _reconciler(cluster, passes_in_flight=2, coalesce_seconds=0)
    names = [f"llm-{i}" for i in range(10)]

    async def burst() -> None:
        for name in names:
            reconciler.trigger(NS, name)
        await reconciler.wait_idle()

    asyncio.run(burst())
    assert reconciler.most_in_flight == 2
    ends = [name for what, name in cluster.order if what == "end"]
    assert ends == names
    first_end = cluster.order.index(("end", names[0]))
    assert cluster.order.index(("start", names[-1])) > first_end, "the first pass ended late"


def test_a_trigger_while_queued_costs_no_extra_pass() -> None:
    """A queued pass has read nothing yet; one that has started must run again."""
    cluster = _SlowCluster(llmd(**FIXED))
    reconciler = _reconciler(cluster, passes_in_flight=1, coalesce_seconds=0)

    async def scenario() -> None:
        reconciler.trigger(NS, "a")
        reconciler.trigger(NS, "b")
        await asyncio.sleep(0)  # "a" takes the only turn and starts reading
        reconciler.trigger(NS, "a")  # started: must run again
        reconciler.trigger(NS, "b")  # queued: the pass to come reads fresh anyway
        await reconciler.wait_idle()

    asyncio.run(scenario())
    starts = [name for what, name in cluster.order if what == "start"]
    assert starts.count("a") == 2
    assert starts.count("b") == 1


def test_a_burst_of_triggers_coalesces_into_one_pass() -> None:
    """The controller manager writes a new Deployment's status several times a second."""
    cluster = _SlowCluster(llmd(**FIXED))
    reconciler = _reconciler(cluster, coalesce_seconds=0.05)

    async def burst() -> None:
        for _ in range(5):
            reconciler.trigger(NS, "a")
            await asyncio.sleep(0.005)
        await reconciler.wait_idle()

    asyncio.run(burst())
    assert [name for what, name in cluster.order if what == "start"] == ["a"]
