"""All children of an LLMDeployment, in the order they are applied."""

from __future__ import annotations

from typing import Any

from forescale.resources.deployment import build_deployment
from forescale.resources.disruption_budget import build_disruption_budget
from forescale.resources.owner import Owner
from forescale.resources.pod_monitor import build_pod_monitor
from forescale.resources.service import build_service
from forescale.resources.settings import RenderSettings, operator_settings


def build_children(
    owner: Owner, *, pod_monitor: bool = True, settings: RenderSettings | None = None
) -> list[dict[str, Any]]:
    """Service, PodDisruptionBudget, Deployment and (if wanted) PodMonitor for ``owner``.

    ``pod_monitor`` is False where the PodMonitor CRD is not installed; ``settings``
    defaults to the running operator's (its environment, see resources/settings.py).
    """
    settings = settings or operator_settings()
    children = [
        build_service(owner),
        build_disruption_budget(owner),
        build_deployment(owner, settings),
    ]
    if pod_monitor:
        children.append(build_pod_monitor(owner, settings))
    return children
