"""Names that identify the LLMDeployment API and the objects forescale owns."""

from __future__ import annotations

GROUP = "forescale.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "LLMDeployment"
PLURAL = "llmdeployments"
SINGULAR = "llmdeployment"
SHORT_NAMES = ("llmd",)
CATEGORIES = ("all", "forescale")

FIELD_MANAGER = "forescale"
"""Field manager of every server-side apply forescale makes."""

# The label contract: every child carries these, and selectors use the last two.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_LLMDEPLOYMENT = "forescale.io/llmdeployment"

ANNOTATION_PREFIX = "forescale.io"
ANNOTATION_SIMULATED_LOAD = "forescale.io/simulated-load-seconds"
"""Pod annotation the sandbox's kwok stages read to delay Ready (a simulated model load)."""
