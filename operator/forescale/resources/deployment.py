"""The Deployment that runs an LLMDeployment's vLLM replicas.

Design choices, each for a reason an SRE will recognise:
- ``replicas`` is left out: the count belongs to the autoscaler (or ``spec.replicas`` with
  the fixed policy) and is applied separately (:func:`build_replicas_patch`) under its own
  field manager, so re-applying the template never fights a scaling decision.
- A startup probe sized from the expected cold start lets a slow model load finish without
  the liveness probe killing it; liveness then catches a dead engine (``/health`` 503).
- A preStop sleep lets endpoints drop the pod before vLLM stops accepting, and the grace
  period leaves in-flight generations time to finish.
- Rolling updates never take a serving replica away before its successor is Ready.
"""

from __future__ import annotations

import math
from typing import Any

from forescale.api import identity
from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.labels import common_labels, selector_labels
from forescale.resources.owner import Owner
from forescale.resources.vllm_args import MODEL_MOUNT, build_vllm_args

CONTAINER_NAME = "vllm"
PORT_NAME = "http"
PRE_STOP_SECONDS = 10
STARTUP_PROBE_PERIOD = 10


def termination_grace_seconds(spec: LLMDeploymentSpec) -> int:
    """Time to drain: the preStop delay plus room for long generations to finish."""
    e2e_ms = spec.scaling.slo.e2e_p95_milliseconds
    drain = 120 if e2e_ms is None else max(60, math.ceil(2 * e2e_ms / 1000))
    return PRE_STOP_SECONDS + drain


def startup_failure_threshold(spec: LLMDeploymentSpec) -> int:
    """Probe failures tolerated while the model loads: 4x the expected cold start, >= 10 min."""
    budget = max(600, 4 * spec.scaling.cold_start_seconds)
    return math.ceil(budget / STARTUP_PROBE_PERIOD)


def _http_probe(port: int, period: int, failures: int, timeout: int = 5) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/health", "port": PORT_NAME},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": timeout,
    }


def _env(spec: LLMDeploymentSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    source = spec.model.source
    if source is not None and source.hugging_face is not None:
        ref = source.hugging_face.token_secret
        env.append(
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        )
    if source is not None and source.uri is not None:
        env.append({"name": "FORESCALE_MODEL_URI", "value": source.uri})
        env.append({"name": "FORESCALE_MODEL_DIR", "value": MODEL_MOUNT})
    for var in spec.engine.env:
        if var.secret_key_ref is not None:
            ref = var.secret_key_ref
            env.append(
                {
                    "name": var.name,
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
        else:
            env.append({"name": var.name, "value": var.value or ""})
    return env


def _volumes(spec: LLMDeploymentSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Volumes and their mounts: shared memory, the weights, and the hub cache."""
    volumes: list[dict[str, Any]] = [
        {
            "name": "dshm",
            "emptyDir": {"medium": "Memory", "sizeLimit": spec.resources.shared_memory},
        }
    ]
    mounts: list[dict[str, Any]] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    source = spec.model.source
    if source is not None and source.pvc is not None:
        pvc = source.pvc
        volumes.append(
            {
                "name": "weights",
                "persistentVolumeClaim": {"claimName": pvc.claim_name, "readOnly": pvc.read_only},
            }
        )
        mount: dict[str, Any] = {
            "name": "weights",
            "mountPath": MODEL_MOUNT,
            "readOnly": pvc.read_only,
        }
        if pvc.sub_path:
            mount["subPath"] = pvc.sub_path
        mounts.append(mount)
    else:
        # Downloaded weights (hub or URI) land on node-local scratch space.
        volumes.append({"name": "weights", "emptyDir": {}})
        target = MODEL_MOUNT if source is not None and source.uri else "/root/.cache/huggingface"
        mounts.append({"name": "weights", "mountPath": target})
    return volumes, mounts


def _pod_spec(spec: LLMDeploymentSpec) -> dict[str, Any]:
    res = spec.resources
    compute = {"cpu": res.cpu, "memory": res.memory, res.gpu_resource_name: str(res.gpu_count)}
    volumes, mounts = _volumes(spec)
    port = spec.service.port
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.engine.image,
        "imagePullPolicy": spec.engine.image_pull_policy,
        "args": ["vllm", "serve", *build_vllm_args(spec)],
        "ports": [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "env": _env(spec),
        "resources": {"requests": dict(compute), "limits": dict(compute)},
        "volumeMounts": mounts,
        "startupProbe": _http_probe(port, STARTUP_PROBE_PERIOD, startup_failure_threshold(spec)),
        "readinessProbe": _http_probe(port, 5, 3),
        "livenessProbe": _http_probe(port, 10, 6),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        # Minimal stand-in (safety branch) for the vLLM helper's restricted securityContext.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    node_selector = dict(spec.placement.node_selector)
    if res.gpu_product:
        node_selector["nvidia.com/gpu.product"] = res.gpu_product
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": volumes,
        "terminationGracePeriodSeconds": termination_grace_seconds(spec),
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if node_selector:
        pod["nodeSelector"] = node_selector
    if spec.placement.tolerations:
        pod["tolerations"] = [
            t.model_dump(by_alias=True, exclude_none=True) for t in spec.placement.tolerations
        ]
    if spec.placement.affinity:
        pod["affinity"] = spec.placement.affinity.model_dump(by_alias=True, exclude_none=True)
    if spec.placement.priority_class_name:
        pod["priorityClassName"] = spec.placement.priority_class_name
    return pod


def scrape_annotations(spec: LLMDeploymentSpec) -> dict[str, str]:
    """prometheus.io annotations for Prometheus setups without the prometheus-operator."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(spec.service.port),
        "prometheus.io/path": "/metrics",
    }


def build_deployment(owner: Owner) -> dict[str, Any]:
    """The Deployment for ``owner``, without ``replicas`` (see the module docstring)."""
    spec = owner.spec
    pod_labels = {**spec.pod_metadata.labels, **common_labels(owner.name)}
    pod_annotations = {
        **spec.pod_metadata.annotations,
        **scrape_annotations(spec),
        "kubectl.kubernetes.io/default-container": CONTAINER_NAME,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": owner.metadata(),
        "spec": {
            "selector": {"matchLabels": selector_labels(owner.name)},
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": max(600, 4 * spec.scaling.cold_start_seconds),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": pod_labels, "annotations": pod_annotations},
                "spec": _pod_spec(spec),
            },
        },
    }


def build_replicas_patch(owner: Owner, replicas: int) -> dict[str, Any]:
    """The apply patch that sets only the replica count (its own field manager owns it)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": owner.name, "namespace": owner.namespace},
        "spec": {"replicas": replicas},
    }


REPLICAS_FIELD_MANAGER = f"{identity.FIELD_MANAGER}-scaler"
"""Field manager that owns ``spec.replicas`` of the Deployment."""
