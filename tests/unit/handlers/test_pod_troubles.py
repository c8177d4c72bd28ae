"""A pod that gets stuck, or unstuck, is news to its owner even when its Deployment is not."""

from __future__ import annotations

from typing import Any

from forescale.handlers.fleet_view import FleetView


def _pod(waiting: str | None = None, unschedulable: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [], "containerStatuses": []}
    if waiting:
        status["containerStatuses"].append(
            {"name": "vllm", "state": {"waiting": {"reason": waiting}}}
        )
    if unschedulable:
        status["conditions"].append(
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        )
    return {"metadata": {"name": "llm-0"}, "status": status}


def test_a_missing_secret_and_its_recovery_are_each_news_once() -> None:
    view = FleetView()
    assert not view.pod_seen("ml", "llm", _pod("ContainerCreating"), gone=False)
    assert view.pod_seen("ml", "llm", _pod("CreateContainerConfigError"), gone=False)
    assert not view.pod_seen("ml", "llm", _pod("CreateContainerConfigError"), gone=False)
    assert view.pod_seen("ml", "llm", _pod(), gone=False)
    assert not view.pod_seen("ml", "llm", _pod(), gone=False)


def test_unschedulable_is_news_and_a_stuck_pod_leaving_is_news() -> None:
    view = FleetView()
    assert view.pod_seen("ml", "llm", _pod(unschedulable=True), gone=False)
    assert view.pod_seen("ml", "llm", _pod(unschedulable=True), gone=True)
    assert not view.pod_seen("ml", "llm", _pod(), gone=True)


def test_a_pod_starting_to_run_is_news_once() -> None:
    """Running but not Ready: the model is loading, and no Deployment status says so."""
    view = FleetView()
    pending = _pod("ContainerCreating")
    assert not view.pod_seen("ml", "llm", pending, gone=False)
    running = _pod()
    running["status"]["phase"] = "Running"
    assert view.pod_seen("ml", "llm", running, gone=False)
    assert not view.pod_seen("ml", "llm", running, gone=False)
