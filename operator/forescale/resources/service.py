"""The Service that fronts an LLMDeployment's Ready replicas (OpenAI-compatible API)."""

from __future__ import annotations

from typing import Any

from forescale.resources.deployment import PORT_NAME
from forescale.resources.labels import selector_labels
from forescale.resources.owner import Owner


def build_service(owner: Owner) -> dict[str, Any]:
    """A ClusterIP Service on ``spec.service.port`` selecting the replicas."""
    port = owner.spec.service.port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owner.metadata(),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(owner.name),
            "ports": [
                {"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    }
