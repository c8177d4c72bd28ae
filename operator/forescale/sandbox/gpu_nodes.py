"""Fake GPU nodes for kwok: pure builders of Node objects, kwok Stages and kwok's config.

Why these stages instead of kwok's defaults: a vLLM pod is Running long before it is
Ready (the model loads for 30 s to minutes), and that gap is exactly what forescale
forecasts over. So a pod bound to a fake node goes

    (scheduled) --start stage, ~0.5 s--> Running, Ready=False (ContainersNotReady)
                --ready stage, annotated delay--> Running, Ready=True

where the delay is read from the pod annotation ``forescale.io/simulated-load-seconds``
(default 60 s; tests use a few seconds). Deleted pods are removed promptly.

Addresses: pod IPs are drawn from a loopback range (127.64.0.0/16) and the nodes'
InternalIP is 127.0.0.1, so that even a mistaken connection to a "pod" (a Prometheus
PodMonitor, a probe) stays on this machine; nothing in the sandbox ever needs to
reach them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOAD_ANNOTATION = "forescale.io/simulated-load-seconds"
LOAD_JITTER_ANNOTATION = "forescale.io/simulated-load-jitter-seconds"
MANAGED_LABEL = "forescale.io/fake-gpu-node"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_COUNT_LABEL = "nvidia.com/gpu.count"
DEFAULT_LOAD_SECONDS = 60.0
POD_CIDR = "127.64.0.0/16"
NODE_IP = "127.0.0.1"
LOGGED_CONTAINERS = ("operator", "vllm", "model-fetch")
"""Containers with a log file of their own in the sandbox (:func:`pod_logs`): the
operator's (``manifests/manager``) and an LLMDeployment pod's two."""
OTHER_CONTAINERS = "default"
"""The log file name every other container reads (:func:`log_file`)."""

Obj = dict[str, Any]


@dataclass(frozen=True)
class GpuNodePool:
    """A homogeneous pool of fake GPU nodes.

    The defaults describe a common 8x H100 server, so capacity-planning numbers in the
    sandbox look like production ones.
    """

    count: int = 4
    gpus_per_node: int = 8
    product: str = "NVIDIA-H100-80GB-HBM3"
    cpu: str = "208"
    memory: str = "2Ti"
    pods: int = 110
    name_prefix: str = "gpu-node"
    zone: str = "sandbox-a"
    extra_labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Obj, ...] = ()

    def __post_init__(self) -> None:
        if self.count < 0 or self.gpus_per_node < 0:
            raise ValueError("node count and GPUs per node must be >= 0")

    @property
    def total_gpus(self) -> int:
        """GPUs in the whole pool: the most any set of pods can be granted."""
        return self.count * self.gpus_per_node

    def node_names(self) -> list[str]:
        """Names of the pool's nodes, in creation order."""
        return [f"{self.name_prefix}-{index}" for index in range(self.count)]


def node_manifests(pool: GpuNodePool) -> list[Obj]:
    """Node objects for the pool, status included (the apiserver keeps it on create)."""
    resources = {
        "cpu": pool.cpu,
        "memory": pool.memory,
        "pods": str(pool.pods),
        "ephemeral-storage": "10Ti",
        GPU_RESOURCE: str(pool.gpus_per_node),
    }
    nodes: list[Obj] = []
    for name in pool.node_names():
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "sandbox-gpu",
            "topology.kubernetes.io/zone": pool.zone,
            "type": "kwok",
            MANAGED_LABEL: "true",
            GPU_PRODUCT_LABEL: pool.product,
            GPU_COUNT_LABEL: str(pool.gpus_per_node),
            **pool.extra_labels,
        }
        spec: Obj = {}
        if pool.taints:
            spec["taints"] = [dict(taint) for taint in pool.taints]
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": {
                        "node.alpha.kubernetes.io/ttl": "0",
                        "kwok.x-k8s.io/node": "fake",
                    },
                },
                "spec": spec,
                "status": {
                    "capacity": dict(resources),
                    "allocatable": dict(resources),
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "kubeletVersion": "fake",
                    },
                },
            }
        )
    return nodes


def _annotation_duration(annotation: str) -> str:
    """jq expression turning a seconds annotation into a Go duration string ("5s").

    kwok parses the expression's string result with time.ParseDuration; a missing
    annotation yields nothing, so kwok falls back to the stage's fixed default.
    """
    return f'.metadata.annotations["{annotation}"] | select(. != null) | tostring + "s"'


def _stage(name: str, kind: str, match: list[Obj], next_: Obj, delay: Obj | None = None) -> Obj:
    spec: Obj = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": match},
        "next": next_,
    }
    if delay is not None:
        spec["delay"] = delay
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": spec,
    }


_NOT_DELETED: Obj = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}

_NODE_CONDITIONS = """\
{{ $now := Now }}
{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $lastTransitionTime | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
"""

_NODE_INITIALIZE = (
    _NODE_CONDITIONS
    + """\
addresses:
- address: {{ NodeIP | Quote }}
  type: InternalIP
- address: {{ NodeName | Quote }}
  type: Hostname
{{ with NodePort }}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ . }}
{{ end }}
allocatable:
{{ YAML .status.allocatable 1 }}
capacity:
{{ YAML .status.capacity 1 }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: {{ printf "kwok-%s" Version | Quote }}
phase: Running
"""
)

_POD_STARTED = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: PodReadyToStartContainers
- lastTransitionTime: {{ $now | Quote }}
  message: 'containers with unready status: [{{ range .spec.containers }}{{ .name }} {{ end }}]'
  reason: ContainersNotReady
  status: "False"
  type: ContainersReady
- lastTransitionTime: {{ $now | Quote }}
  message: 'containers with unready status: [{{ range .spec.containers }}{{ .name }} {{ end }}]'
  reason: ContainersNotReady
  status: "False"
  type: Ready
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) \
( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""

_POD_READY = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: ContainersReady
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Ready
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $.status.startTime | Quote }}
{{ end }}
"""


def stages(
    default_load_seconds: float = DEFAULT_LOAD_SECONDS,
    start_delay_ms: int = 500,
    delete_delay_ms: int = 500,
    heartbeat_ms: int = 20_000,
) -> list[Obj]:
    """kwok Stages for fake GPU nodes and the pods bound to them."""
    ready_when = {
        "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
    }
    return [
        _stage(
            "forescale-node-initialize",
            "Node",
            [{**ready_when, "operator": "NotIn", "values": ["True"]}],
            {"statusTemplate": _NODE_INITIALIZE},
        ),
        _stage(
            "forescale-node-heartbeat",
            "Node",
            [
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {**ready_when, "operator": "In", "values": ["True"]},
            ],
            {"statusTemplate": _NODE_CONDITIONS},
            delay={
                "durationMilliseconds": heartbeat_ms,
                "jitterDurationMilliseconds": heartbeat_ms + 5_000,
            },
        ),
        _stage(
            "forescale-pod-start",
            "Pod",
            [_NOT_DELETED, {"key": ".status.podIP", "operator": "DoesNotExist"}],
            {
                "event": {
                    "type": "Normal",
                    "reason": "Started",
                    "message": "Started container (simulated)",
                },
                "statusTemplate": _POD_STARTED,
            },
            delay={"durationMilliseconds": start_delay_ms},
        ),
        _stage(
            "forescale-pod-ready",
            "Pod",
            [
                _NOT_DELETED,
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {**ready_when, "operator": "In", "values": ["False"]},
            ],
            {"statusTemplate": _POD_READY},
            delay={
                "durationMilliseconds": round(default_load_seconds * 1000),
                "durationFrom": {"jq": {"expression": _annotation_duration(LOAD_ANNOTATION)}},
                "jitterDurationFrom": {
                    "jq": {"expression": _annotation_duration(LOAD_JITTER_ANNOTATION)}
                },
            },
        ),
        _stage(
            "forescale-pod-delete",
            "Pod",
            [
                {"key": ".metadata.deletionTimestamp", "operator": "Exists"},
                {"key": ".metadata.finalizers", "operator": "DoesNotExist"},
            ],
            {"delete": True},
            delay={"durationMilliseconds": delete_delay_ms},
        ),
    ]


def pod_logs(directory: Path, containers: tuple[str, ...] = LOGGED_CONTAINERS) -> Obj:
    """kwok's ``ClusterLogs``: what ``kubectl logs`` reads for a pod on a fake node.

    kwok runs no containers, so there are no logs; without this the API server's proxy
    to kwok's kubelet API answers "no logs found" and a runbook's ``kubectl logs`` line
    cannot be run as written. Each container name reads ``<name>.log`` in ``directory``
    (``<name>.previous.log`` with ``--previous``), any other container ``default.log``;
    whoever puts lines there (a test, a user) writes them in the CRI log format the
    kubelet serves from (``<RFC 3339 time> stdout F <line>``,
    :func:`forescale.sim.container_log.cri_log_lines`).
    """

    def files(name: str) -> Obj:
        return {
            "logsFile": str(log_file(directory, name)),
            "previousLogsFile": str(log_file(directory, name, previous=True)),
        }

    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": "forescale-sandbox-pod-logs"},
        "spec": {
            "selector": {},
            "logs": [
                *({"containers": [name], **files(name)} for name in containers),
                files(OTHER_CONTAINERS),
            ],
        },
    }


def replica_logs(namespace: str, pod: str, uid: str, own: dict[str, Path], directory: Path) -> Obj:
    """kwok's ``Logs`` for one pod: the containers in ``own`` read their own file (the
    fleet bridge's replica writes its vLLM container's), the rest what :func:`pod_logs`
    gives every pod. kwok takes a pod's ``Logs`` whole when it has one, so the shared
    entries are repeated. Owned by the pod: the garbage collector deletes it with the pod.
    A container that never restarted has no ``--previous`` log (kwok then answers with an
    error, as a kubelet does)."""
    shared = pod_logs(directory, tuple(c for c in LOGGED_CONTAINERS if c not in own))
    mine = [
        {
            "containers": [name],
            "logsFile": str(path),
            "previousLogsFile": str(path.with_suffix(".previous.log")),
        }
        for name, path in own.items()
    ]
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {
            "name": pod,
            "namespace": namespace,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": uid}],
        },
        "spec": {"logs": [*mine, *shared["spec"]["logs"]]},
    }


def log_file(directory: Path, container: str, previous: bool = False) -> Path:
    """The file :func:`pod_logs` serves for ``container`` (``--previous``: the one before
    the last restart); ``OTHER_CONTAINERS`` for any container not in ``LOGGED_CONTAINERS``."""
    return directory / (f"{container}.previous.log" if previous else f"{container}.log")


def kwok_config(
    server_port: int,
    default_load_seconds: float = DEFAULT_LOAD_SECONDS,
    pod_logs_dir: Path | None = None,
) -> list[Obj]:
    """The multi-document kwok ``--config``: options plus our stages (and, given a
    directory, the files :func:`pod_logs` serves to ``kubectl logs``).

    Stages given in the config replace kwok's built-in ones, so kwok does nothing to
    nodes or pods we did not describe.
    """
    options: Obj = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            "cidr": POD_CIDR,
            "nodeIP": NODE_IP,
            "nodePort": server_port,
            "serverAddress": f"{NODE_IP}:{server_port}",
            "manageNodesWithLabelSelector": f"{MANAGED_LABEL}=true",
            "manageAllNodes": False,
            # A config file's options are not defaulted like flags are: spell them out.
            "podPlayStageParallelism": 4,
            "nodePlayStageParallelism": 2,
            "nodeLeaseParallelism": 2,
            "nodeLeaseDurationSeconds": 40,
            "podsOnNodeSyncParallelism": 1,
            "enablePodsOnNodeSyncListPager": True,
            "enablePodsOnNodeSyncStreamWatch": False,
            "enableDebuggingHandlers": True,
            "enableProfilingHandler": False,
            "enableContentionProfiling": False,
        },
    }
    logs = [] if pod_logs_dir is None else [pod_logs(pod_logs_dir)]
    return [options, *stages(default_load_seconds=default_load_seconds), *logs]
