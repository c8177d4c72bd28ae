"""The label contract every child object of an LLMDeployment follows.

``selector_labels`` are immutable once a Deployment exists (a Deployment's selector cannot
change), so they hold only what never changes: the instance and the owning LLMDeployment.
The other recommended ``app.kubernetes.io`` labels go on every object for kubectl, Argo CD
and dashboards.
"""

from __future__ import annotations

from forescale.api import identity


def selector_labels(name: str) -> dict[str, str]:
    """Labels that select an LLMDeployment's pods (stable for the object's lifetime)."""
    return {identity.LABEL_INSTANCE: name, identity.LABEL_LLMDEPLOYMENT: name}


def common_labels(name: str) -> dict[str, str]:
    """Labels on every object forescale creates for an LLMDeployment."""
    return {
        identity.LABEL_NAME: "vllm",
        identity.LABEL_MANAGED_BY: "forescale",
        identity.LABEL_COMPONENT: "inference",
        **selector_labels(name),
    }


def selector_string(name: str) -> str:
    """The selector as the scale subresource's ``status.selector`` string."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(name).items()))
