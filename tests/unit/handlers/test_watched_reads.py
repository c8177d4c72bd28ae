"""A pass reads what the watches hold, and a stale watch event never undoes our writes
(issue 14: the reads were 10,000 of the 22,600 requests a fleet of 1,000 cost)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from forescale.assessment.ownership import replicas_writer
from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.fleet_view import FleetView
from forescale.handlers.reconciler import Reconciler
from tests.unit.handlers.fake_cluster import NS, UID, FakeCluster, llmd

FIXED = {"scaling": {"policy": "fixed"}, "replicas": 2}


def _watched(cluster: FakeCluster) -> tuple[Reconciler, FleetView]:
    """A reconciler whose view the watches feed, as ``handlers/triggers.py`` does."""
    view = FleetView()
    reconciler = Reconciler(
        cluster.as_client(), Autoscaler(None), clock=lambda: "2026-01-01T00:00:00Z", view=view
    )
    view.llmdeployment_seen(copy.deepcopy(cluster.body))
    return reconciler, view


def _watch_children(cluster: FakeCluster, reconciler: Reconciler, view: FleetView) -> None:
    for (kind, namespace, name), obj in cluster.objects.items():
        reconciler.children.seen(kind, namespace, name, copy.deepcopy(obj))
        if kind == "Deployment":
            view.deployment_seen(namespace, name, copy.deepcopy(obj))


def _deployment(rv: int, replicas: int, ready: int = 0, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": NS, "uid": "d", "resourceVersion": str(rv)},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": ready, **status},
    }


def test_a_watched_pass_reads_nothing_from_the_api_server() -> None:
    cluster = FakeCluster(llmd(**FIXED))
    reconciler, view = _watched(cluster)
    asyncio.run(reconciler.reconcile(NS, "llm"))
    # The first pass checks that no foreign object holds a child's name (the watches
    # only see objects labelled as ours), and reads nothing else.
    assert {kind for _, kind in cluster.reads} == {"Deployment", "Service", "PodDisruptionBudget"}
    assert ("get", "LLMDeployment") not in cluster.reads
    assert ("list", "Pod") not in cluster.reads
    _watch_children(cluster, reconciler, view)
    cluster.reads.clear()
    asyncio.run(reconciler.reconcile(NS, "llm"))
    assert cluster.reads == []


def test_an_unwatched_pass_reads_what_it_converges() -> None:
    """No view (the watches not started, or a test without them): read the objects."""
    cluster = FakeCluster(llmd(**FIXED))
    reconciler = Reconciler(cluster.as_client(), Autoscaler(None), clock=lambda: "t")
    asyncio.run(reconciler.reconcile(NS, "llm"))
    assert ("get", "LLMDeployment") in cluster.reads
    assert ("list", "Pod") in cluster.reads


def test_the_status_written_is_what_the_next_pass_compares_with() -> None:
    """Our status write goes through the view: the next pass does not write it again
    though no watch event has brought it back yet."""
    cluster = FakeCluster(llmd(**FIXED))
    reconciler, view = _watched(cluster)
    asyncio.run(reconciler.reconcile(NS, "llm"))
    assert len(cluster.status_patches) == 1
    _watch_children(cluster, reconciler, view)
    asyncio.run(reconciler.reconcile(NS, "llm"))
    assert len(cluster.status_patches) == 1


def test_a_stale_watch_event_never_replaces_a_newer_object() -> None:
    """Written through at revision 7, then the watch delivers revision 6 (sent before our
    write): the view keeps 7. Without the guard a status flipped back would look already
    written, and a scale already applied would be applied and announced again."""
    view = FleetView()
    old = llmd(**FIXED)
    old["metadata"]["resourceVersion"] = "6"
    new = copy.deepcopy(old)
    new["metadata"]["resourceVersion"] = "7"
    new["status"] = {"observedGeneration": 1}
    view.llmdeployment_seen(old)
    view.llmdeployment_written(new)
    view.llmdeployment_seen(copy.deepcopy(old))
    assert (view.body((NS, "llm")) or {}).get("status") == {"observedGeneration": 1}

    view.deployment_written((NS, "llm"), _deployment(11, replicas=5))
    assert not view.deployment_seen(NS, "llm", _deployment(10, replicas=3))
    assert (view.deployment((NS, "llm")) or {})["spec"]["replicas"] == 5


def test_a_recreated_object_is_taken_whatever_its_revision() -> None:
    view = FleetView()
    body = llmd(**FIXED)
    body["metadata"]["resourceVersion"] = "9"
    view.llmdeployment_seen(body)
    again = copy.deepcopy(body)
    again["metadata"].update(uid="another", resourceVersion="3", generation=1)
    view.llmdeployment_seen(again)
    assert (view.body((NS, "llm")) or {})["metadata"]["uid"] == "another"
    assert UID != "another"


def test_only_what_the_owner_reads_of_a_deployment_is_news() -> None:
    view = FleetView()
    assert view.deployment_seen(NS, "llm", _deployment(1, replicas=1))
    # The controller manager's availableReplicas and condition timestamps: no pass.
    moved = _deployment(2, replicas=1, availableReplicas=0)
    moved["status"]["conditions"] = [{"type": "Progressing", "lastUpdateTime": "t1"}]
    assert not view.deployment_seen(NS, "llm", moved)
    # A replica turned Ready, a scale, a hand edit, a refused pod, a deletion: a pass.
    assert view.deployment_seen(NS, "llm", _deployment(3, replicas=1, ready=1))
    assert view.deployment_seen(NS, "llm", _deployment(4, replicas=2, ready=1))
    edited = _deployment(5, replicas=2, ready=1)
    edited["metadata"]["managedFields"] = [{"manager": "kubectl-edit", "operation": "Update"}]
    assert view.deployment_seen(NS, "llm", edited)
    refused = copy.deepcopy(edited)
    refused["metadata"]["resourceVersion"] = "6"
    refused["status"]["conditions"] = [
        {"type": "ReplicaFailure", "status": "True", "message": "forbidden"}
    ]
    assert view.deployment_seen(NS, "llm", refused)
    assert view.deployment_seen(NS, "llm", None)


def test_the_view_keeps_who_writes_the_count_and_not_the_whole_write_history() -> None:
    """An external scaler's hand-over reads who writes spec.replicas; the rest of the
    write history (every pod-template field) is kept only as a digest."""
    body = _deployment(3, replicas=4)
    body["metadata"]["managedFields"] = [
        {
            "manager": "forescale",
            "operation": "Apply",
            "time": "t1",
            "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}},
        },
        {
            "manager": "horizontal-pod-autoscaler",
            "operation": "Update",
            "subresource": "scale",
            "time": "t2",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        },
    ]
    view = FleetView()
    view.deployment_seen(NS, "llm", body)
    kept = view.deployment((NS, "llm")) or {}
    assert replicas_writer(kept) == ("horizontal-pod-autoscaler", "t2")
    assert [e["manager"] for e in kept["metadata"]["managedFields"]] == [
        "horizontal-pod-autoscaler"
    ]
    # A change to the rest of the history is still news (a hand edit of the template).
    edited = copy.deepcopy(body)
    edited["metadata"]["resourceVersion"] = "4"
    edited["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:paused"] = {}
    assert view.deployment_seen(NS, "llm", edited)
