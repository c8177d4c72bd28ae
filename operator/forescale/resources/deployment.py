"""The Deployment that runs an LLMDeployment's vLLM replicas.

Design choices, each for a reason an SRE will recognise:
- ``replicas`` is left out: the count belongs to the autoscaler (or ``spec.replicas`` with
  the fixed policy) and is applied separately (:func:`build_replicas_patch`) under its own
  field manager, so re-applying the template never fights a scaling decision.
- The container gets an explicit ``command`` (``vllm serve``), so any vLLM image works,
  whatever its entrypoint; the image defaults to an operator-wide setting.
- A startup probe sized from the expected cold start lets a slow model load finish without
  the liveness probe killing it; liveness then catches a dead engine (``/health`` 503).
- Drain: a deleted pod leaves the Service's endpoints at once (and the readiness probe is
  no longer consulted); the preStop sleep lets kube-proxy and routers see that before vLLM
  gets SIGTERM, and ``--shutdown-timeout`` (see vllm_args) makes vLLM finish in-flight
  requests instead of aborting them, within the grace period.
- Weights and vLLM's caches live on one cache volume (a shared PVC, a node-local path or a
  size-limited scratch emptyDir whose size is requested as ephemeral storage).
- Restricted pod security: non-root, no privilege escalation, all capabilities dropped,
  the runtime's seccomp profile, no service account token (vLLM never calls the API).
- Rolling updates never take a serving replica away before its successor is Ready.
"""

from __future__ import annotations

import math
from typing import Any

from forescale.api import identity
from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.labels import common_labels, selector_labels
from forescale.resources.owner import Owner
from forescale.resources.settings import RenderSettings, operator_settings
from forescale.resources.vllm_args import (
    CACHE_MOUNT,
    COMMAND,
    HF_HOME,
    MODEL_MOUNT,
    SHUTDOWN_MARGIN_SECONDS,
    build_vllm_args,
    uri_directory,
)

CONTAINER_NAME = "vllm"
FETCH_CONTAINER_NAME = "model-fetch"
FETCH_COMMAND = ("python3", "/usr/local/bin/forescale-fetch-model")
"""The fetch script of the bundled inference image (inference-image/fetch_model.py)."""
PORT_NAME = "http"
PRE_STOP_SECONDS = 10
"""Time for endpoint removal to reach kube-proxy and routers before vLLM is signalled."""
STARTUP_PROBE_PERIOD = 10
RUN_AS_USER = 1000
"""Non-root uid the containers run as (the bundled image's ``vllm`` user; numeric so that
the kubelet can verify runAsNonRoot for any image)."""


def termination_grace_seconds(spec: LLMDeploymentSpec) -> int:
    """Time to drain: the preStop delay plus room for long generations to finish."""
    e2e_ms = spec.scaling.slo.e2e_p95_milliseconds
    drain = 120 if e2e_ms is None else max(60, math.ceil(2 * e2e_ms / 1000))
    return PRE_STOP_SECONDS + drain


def pre_stop_seconds(spec: LLMDeploymentSpec) -> int:
    """The preStop sleep: endpoint propagation, or (PreStopWait) most of the grace period."""
    if spec.engine.drain == "PreStopWait":
        return termination_grace_seconds(spec) - SHUTDOWN_MARGIN_SECONDS
    return PRE_STOP_SECONDS


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


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _cache_env() -> list[dict[str, Any]]:
    """Every cache vLLM and its libraries write goes to the cache volume (non-root user)."""
    return [
        {"name": "HOME", "value": f"{CACHE_MOUNT}/home"},
        {"name": "USER", "value": "vllm"},  # getpass works without a passwd entry
        {"name": "HF_HOME", "value": HF_HOME},
        {"name": "VLLM_CACHE_ROOT", "value": f"{CACHE_MOUNT}/vllm"},
        {"name": "XDG_CACHE_HOME", "value": CACHE_MOUNT},
    ]


def _env(spec: LLMDeploymentSpec) -> list[dict[str, Any]]:
    env = _cache_env()
    source = spec.model.source
    if source is not None and source.hugging_face is not None:
        ref = source.hugging_face.token_secret
        env.append(_secret_env("HF_TOKEN", ref.name, ref.key))
    for var in spec.engine.env:
        if var.secret_key_ref is not None:
            ref = var.secret_key_ref
            env.append(_secret_env(var.name, ref.name, ref.key))
        else:
            env.append({"name": var.name, "value": var.value or ""})
    return env


def _cache_volume(spec: LLMDeploymentSpec) -> dict[str, Any]:
    cache = spec.model.cache
    if cache.pvc is not None:
        return {"name": "cache", "persistentVolumeClaim": {"claimName": cache.pvc}}
    if cache.host_path is not None:
        return {"name": "cache", "hostPath": {"path": cache.host_path, "type": "DirectoryOrCreate"}}
    return {"name": "cache", "emptyDir": {"sizeLimit": cache.size_limit}}


def _volumes(spec: LLMDeploymentSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Volumes and the vLLM container's mounts: shared memory, the cache, a PVC's weights."""
    volumes: list[dict[str, Any]] = [
        {
            "name": "dshm",
            "emptyDir": {"medium": "Memory", "sizeLimit": spec.resources.shared_memory},
        },
        _cache_volume(spec),
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "cache", "mountPath": CACHE_MOUNT},
    ]
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
    return volumes, mounts


def container_security_context() -> dict[str, Any]:
    """Restricted Pod Security Standard, container part."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _fetch_container(
    spec: LLMDeploymentSpec, settings: RenderSettings, compute: dict[str, str]
) -> dict[str, Any] | None:
    """The init container that fetches s3/gs/https weights or checks a hub token, if any."""
    source = spec.model.source
    if source is None:
        return None
    env: list[dict[str, Any]] = []
    if source.uri is not None and not source.uri.startswith("hf://"):
        env.append({"name": "FORESCALE_MODEL_URI", "value": source.uri})
        env.append({"name": "FORESCALE_MODEL_DIR", "value": uri_directory(source.uri)})
    elif source.hugging_face is not None:
        ref = source.hugging_face.token_secret
        env.append(_secret_env("HF_TOKEN", ref.name, ref.key))
    else:
        return None
    env += [e for e in _cache_env() if e["name"] in ("HOME", "USER", "XDG_CACHE_HOME")]
    env += [e for e in _env(spec) if e["name"] not in {v["name"] for v in env}]
    return {
        "name": FETCH_CONTAINER_NAME,
        "image": settings.model_fetch_image,
        "imagePullPolicy": spec.engine.image_pull_policy,
        "command": list(FETCH_COMMAND),
        "env": env,
        "resources": {"requests": dict(compute), "limits": dict(compute)},
        "volumeMounts": [{"name": "cache", "mountPath": CACHE_MOUNT}],
        "securityContext": container_security_context(),
    }


def _pod_spec(spec: LLMDeploymentSpec, settings: RenderSettings) -> dict[str, Any]:
    res = spec.resources
    compute = {"cpu": res.cpu, "memory": res.memory}
    requests = {**compute, res.gpu_resource_name: str(res.gpu_count)}
    limits = dict(requests)
    if spec.model.cache.pvc is None and spec.model.cache.host_path is None:
        # The scratch emptyDir counts against the pod's ephemeral storage: request it so
        # the scheduler only picks a node with room for the weights.
        requests["ephemeral-storage"] = spec.model.cache.size_limit
    volumes, mounts = _volumes(spec)
    port = spec.service.port
    grace = termination_grace_seconds(spec)
    pre_stop = pre_stop_seconds(spec)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.engine.image or settings.default_image,
        "imagePullPolicy": spec.engine.image_pull_policy,
        "command": list(COMMAND),
        "args": build_vllm_args(spec, grace_seconds=grace, pre_stop_seconds=pre_stop),
        "ports": [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "env": _env(spec),
        "resources": {"requests": requests, "limits": limits},
        "volumeMounts": mounts,
        "startupProbe": _http_probe(port, STARTUP_PROBE_PERIOD, startup_failure_threshold(spec)),
        "readinessProbe": _http_probe(port, 5, 3),
        "livenessProbe": _http_probe(port, 10, 6),
        "lifecycle": {"preStop": {"sleep": {"seconds": pre_stop}}},
        "securityContext": container_security_context(),
    }
    node_selector = dict(spec.placement.node_selector)
    if res.gpu_product:
        node_selector["nvidia.com/gpu.product"] = res.gpu_product
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": volumes,
        "terminationGracePeriodSeconds": grace,
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    fetch = _fetch_container(spec, settings, compute)
    if fetch is not None:
        pod["initContainers"] = [fetch]
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


def build_deployment(owner: Owner, settings: RenderSettings | None = None) -> dict[str, Any]:
    """The Deployment for ``owner``, without ``replicas`` (see the module docstring).

    ``settings`` defaults to the running operator's (:func:`operator_settings`).
    """
    spec = owner.spec
    settings = settings or operator_settings()
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
                "spec": _pod_spec(spec, settings),
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
