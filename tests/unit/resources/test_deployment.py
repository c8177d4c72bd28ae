"""The Deployment: GPUs, probes sized for model loading, drain, placement, weights."""

from __future__ import annotations

from typing import Any

from forescale.resources.deployment import (
    build_deployment,
    build_replicas_patch,
    startup_failure_threshold,
    termination_grace_seconds,
)
from tests.unit.resources.builders_support import owner_from


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_replicas_are_not_part_of_the_template_apply() -> None:
    deployment = build_deployment(owner_from())
    assert "replicas" not in deployment["spec"]
    patch = build_replicas_patch(owner_from(), 5)
    assert patch["spec"] == {"replicas": 5}
    assert patch["metadata"] == {"name": "llama-8b", "namespace": "team-a"}


def test_gpu_cpu_memory_requests_equal_limits() -> None:
    container = _container(build_deployment(owner_from("llmdeployment-full.yaml")))
    expected = {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "4"}
    assert container["resources"] == {"requests": expected, "limits": expected}


def test_custom_gpu_resource_name() -> None:
    owner = owner_from(resources={"gpuResourceName": "amd.com/gpu", "gpuCount": 2})
    container = _container(build_deployment(owner))
    assert container["resources"]["limits"]["amd.com/gpu"] == "2"


def test_probes_hit_health_and_startup_covers_cold_start() -> None:
    owner = owner_from(scaling={"coldStartSeconds": 600})
    container = _container(build_deployment(owner))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 4 * 600
    assert startup_failure_threshold(owner_from().spec) * 10 >= 600


def test_grace_period_covers_drain() -> None:
    assert termination_grace_seconds(owner_from().spec) == 130
    full = owner_from("llmdeployment-full.yaml")
    assert termination_grace_seconds(full.spec) == 10 + 120  # 2 x 60 s e2e SLO
    pod = build_deployment(full)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 130
    assert _container(build_deployment(full))["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}


def test_placement_fields() -> None:
    pod = build_deployment(owner_from("llmdeployment-full.yaml"))["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {
        "node.kubernetes.io/instance-type": "p5.48xlarge",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
    }
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert "podAntiAffinity" in pod["affinity"]
    assert pod["priorityClassName"] == "inference-critical"


def test_minimal_spec_has_no_placement() -> None:
    pod = build_deployment(owner_from("llmdeployment-minimal.yaml"))["spec"]["template"]["spec"]
    assert not {"nodeSelector", "tolerations", "affinity", "priorityClassName"} & pod.keys()


def test_hugging_face_token_and_cache() -> None:
    deployment = build_deployment(owner_from())
    container = _container(deployment)
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    } in container["env"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/dev/shm", "/root/.cache/huggingface"}


def test_pvc_weights_mounted_read_only_with_sub_path() -> None:
    deployment = build_deployment(owner_from("llmdeployment-full.yaml"))
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "weights",
        "persistentVolumeClaim": {"claimName": "model-weights", "readOnly": True},
    } in volumes
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in volumes
    mount = next(m for m in _container(deployment)["volumeMounts"] if m["name"] == "weights")
    assert mount == {
        "name": "weights",
        "mountPath": "/models",
        "readOnly": True,
        "subPath": "llama-3.1-70b",
    }


def test_uri_source_passes_uri_to_launcher() -> None:
    owner = owner_from(model={"name": "m", "source": {"uri": "s3://bucket/m"}})
    env = _container(build_deployment(owner))["env"]
    assert {"name": "FORESCALE_MODEL_URI", "value": "s3://bucket/m"} in env


def test_user_env_and_secret_refs() -> None:
    env = _container(build_deployment(owner_from("llmdeployment-full.yaml")))["env"]
    assert {"name": "VLLM_LOGGING_LEVEL", "value": "INFO"} in env
    assert {
        "name": "WANDB_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "observability", "key": "wandb"}},
    } in env


def test_image_port_and_pod_metadata() -> None:
    deployment = build_deployment(owner_from("llmdeployment-full.yaml"))
    container = _container(deployment)
    assert container["image"] == "forescale/vllm-inference:0.1.0-vllm0.10.1"
    assert container["args"][:2] == ["vllm", "serve"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    meta = deployment["spec"]["template"]["metadata"]
    assert meta["labels"]["team"] == "serving"
    assert meta["annotations"]["forescale.io/simulated-load-seconds"] == "240"
    assert meta["annotations"]["prometheus.io/scrape"] == "true"
    assert meta["annotations"]["prometheus.io/port"] == "8000"


def test_rollout_never_removes_a_serving_replica_first() -> None:
    strategy = build_deployment(owner_from())["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
