"""The Argo CD health check, run in a real Lua 5.1 (Argo CD's gopher-lua speaks 5.1).

Objects are built with forescale's own condition helpers, so the check is exercised on the
status shapes the operator writes.
"""

from __future__ import annotations

from typing import Any

import pytest

from forescale.assessment.conditions import ConditionUpdate, initial_conditions, merge_conditions
from tests.unit.manifests.manifest_support import MANIFESTS, load

HEALTH_LUA = MANIFESTS / "argocd" / "health.lua"
HEALTH_KEY = "resource.customizations.health.forescale.io_LLMDeployment"
NOW = "2026-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def lua() -> Any:
    try:
        from lupa import lua51  # noqa: PLC0415 - only this module needs Lua
    except ImportError as error:
        pytest.fail(
            f"the `lupa` package (Lua runtime) is missing: {error}; "
            "install the dev dependencies (`make install`)"
        )
    return lua51.LuaRuntime(unpack_returned_tuples=True)


def health(lua: Any, obj: dict[str, Any]) -> tuple[str, str]:
    """Run health.lua with ``obj`` bound as Argo CD binds it; return (status, message)."""
    script = HEALTH_LUA.read_text()
    check = lua.eval(f"function(obj)\n{script}\nend")
    result = check(lua.table_from(obj, recursive=True))
    return str(result["status"]), str(result["message"])


def llmd(generation: int = 1, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "forescale.io/v1alpha1",
        "kind": "LLMDeployment",
        "metadata": {"name": "llama", "namespace": "ml", "generation": generation},
        "spec": {"model": {"name": "m"}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def conditions(*updates: ConditionUpdate, generation: int = 1) -> list[dict[str, Any]]:
    return merge_conditions(initial_conditions(NOW, generation), list(updates), NOW, generation)


READY = ConditionUpdate("Ready", "True", "Available", "2/2 replicas Ready")
STABLE = ConditionUpdate("Progressing", "False", "Stable", "All 2 replicas updated and Ready")
FINE = ConditionUpdate("Degraded", "False", "AsExpected", "No problem detected")


def test_argocd_cm_carries_the_script_under_argo_cds_key() -> None:
    kustomization = load(MANIFESTS / "argocd" / "kustomization.yaml")
    (generator,) = kustomization["configMapGenerator"]
    assert generator["name"] == "argocd-cm"
    assert generator["files"] == [f"{HEALTH_KEY}={HEALTH_LUA.name}"]
    assert generator["options"]["disableNameSuffixHash"] is True


def test_no_status_yet_is_progressing(lua: Any) -> None:
    status, message = health(lua, llmd())
    assert status == "Progressing"
    assert "status" in message


def test_ready_is_healthy(lua: Any) -> None:
    obj = llmd(status={"observedGeneration": 1, "conditions": conditions(READY, STABLE, FINE)})
    assert health(lua, obj) == ("Healthy", "Available: 2/2 replicas Ready")


def test_degraded_wins_over_ready(lua: Any) -> None:
    degraded = ConditionUpdate("Degraded", "True", "InsufficientGPU", "1 pod Pending: 0/2 GPUs")
    obj = llmd(status={"observedGeneration": 1, "conditions": conditions(READY, degraded)})
    assert health(lua, obj) == ("Degraded", "InsufficientGPU: 1 pod Pending: 0/2 GPUs")


def test_rolling_out_is_progressing(lua: Any) -> None:
    rolling = ConditionUpdate("Progressing", "True", "RollingUpdate", "1/2 replicas updated")
    not_ready = ConditionUpdate("Ready", "False", "RollingUpdate", "1/2 replicas updated")
    obj = llmd(status={"observedGeneration": 1, "conditions": conditions(not_ready, rolling)})
    assert health(lua, obj) == ("Progressing", "RollingUpdate: 1/2 replicas updated")


def test_unobserved_generation_is_progressing_even_when_ready(lua: Any) -> None:
    obj = llmd(
        generation=3,
        status={"observedGeneration": 2, "conditions": conditions(READY, STABLE, FINE)},
    )
    status, message = health(lua, obj)
    assert status == "Progressing"
    assert "generation 3" in message
    assert "describes 2" in message


def test_status_without_observed_generation_is_progressing(lua: Any) -> None:
    obj = llmd(status={"conditions": conditions(READY)})
    status, message = health(lua, obj)
    assert status == "Progressing"
    assert "describes none" in message


def test_first_assessment_with_unknown_conditions_is_progressing(lua: Any) -> None:
    obj = llmd(status={"observedGeneration": 1, "conditions": initial_conditions(NOW, 1)})
    status, message = health(lua, obj)
    assert status == "Progressing"
    assert "Reconciling" in message


def test_empty_conditions_are_progressing(lua: Any) -> None:
    obj = llmd(status={"observedGeneration": 1, "conditions": []})
    assert health(lua, obj) == ("Progressing", "Waiting for the Ready condition")
