"""Objects a spec refers to that must exist for its pods to start.

The schema cannot know whether a Secret, a PVC or a GPU product exists; the API server
would accept the spec and the pods would hang in ``CreateContainerConfigError`` or
``Pending`` with a message few people find. Listing the references here lets the
reconciler check them and turn a miss into a ``Degraded`` condition with an actionable
message, and notice by itself when the problem is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from forescale.api.spec import LLMDeploymentSpec

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


@dataclass(frozen=True)
class Reference:
    """One object the spec needs (``kind`` Node means: a node with ``label=name``)."""

    kind: str
    name: str
    reason: str
    message: str
    label: str = ""


def references_of(spec: LLMDeploymentSpec) -> list[Reference]:
    """Everything ``spec`` refers to, with the condition to report if it is missing."""
    refs: list[Reference] = []
    source = spec.model.source
    if source is not None and source.hugging_face is not None:
        secret = source.hugging_face.token_secret.name
        refs.append(
            Reference(
                "Secret",
                secret,
                "MissingSecret",
                f"Secret {secret} (spec.model.source.huggingFace.tokenSecret) does not exist; "
                f"create it: kubectl create secret generic {secret} --from-literal=token=hf_...",
            )
        )
    if source is not None and source.pvc is not None:
        claim = source.pvc.claim_name
        refs.append(
            Reference(
                "PersistentVolumeClaim",
                claim,
                "MissingVolumeClaim",
                f"PersistentVolumeClaim {claim} (spec.model.source.pvc.claimName) does not exist",
            )
        )
    for var in spec.engine.env:
        if var.secret_key_ref is not None:
            name = var.secret_key_ref.name
            refs.append(
                Reference(
                    "Secret",
                    name,
                    "MissingSecret",
                    f"Secret {name} (spec.engine.env {var.name}) does not exist",
                )
            )
    if spec.resources.gpu_product:
        product = spec.resources.gpu_product
        refs.append(
            Reference(
                "Node",
                product,
                "UnknownGPUProduct",
                f"No node has {GPU_PRODUCT_LABEL}={product} (spec.resources.gpuProduct); "
                "replicas cannot be scheduled. Check `kubectl get nodes -L "
                f"{GPU_PRODUCT_LABEL}`.",
                label=GPU_PRODUCT_LABEL,
            )
        )
    return refs
