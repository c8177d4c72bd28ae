"""The LLMDeployment a set of child objects is built for.

Builders take this small value instead of the raw Kubernetes object so that they stay pure
and so that tests can build children without an API server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forescale.api import identity
from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.labels import common_labels


@dataclass(frozen=True)
class Owner:
    """Identity and validated spec of one LLMDeployment."""

    name: str
    namespace: str
    uid: str
    spec: LLMDeploymentSpec
    generation: int = 1

    def owner_reference(self) -> dict[str, Any]:
        """An ownerReference that makes the garbage collector delete the child with us."""
        return {
            "apiVersion": identity.API_VERSION,
            "kind": identity.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def metadata(self, name: str | None = None) -> dict[str, Any]:
        """Metadata shared by every child: name, namespace, labels, owner."""
        return {
            "name": name or self.name,
            "namespace": self.namespace,
            "labels": common_labels(self.name),
            "ownerReferences": [self.owner_reference()],
        }
