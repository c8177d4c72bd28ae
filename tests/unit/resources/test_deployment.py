"""The Deployment: GPUs, probes sized for model loading, drain, placement, weights."""

from __future__ import annotations

from typing import Any

import pytest

from forescale.resources.deployment import (
    build_deployment,
    build_replicas_patch,
    startup_failure_threshold,
    termination_grace_seconds,
)
from forescale.resources.settings import RenderSettings
from forescale.resources.vllm_args import uri_directory
from forescale.vllm_contract.release import DEFAULT_IMAGE
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
    # The full sample caches on a host path: no scratch space to request.
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


def test_grace_period_follows_the_e2e_slo_with_a_floor() -> None:
    """Twice the end-to-end SLO (a generation that long must finish), at least 60 s, plus
    the 10 s preStop; without an SLO, 120 s."""

    def grace(e2e_ms: int | None) -> int:
        slo = {"ttftP95Milliseconds": 1000, "e2eP95Milliseconds": e2e_ms}
        owner = owner_from(scaling={"slo": {k: v for k, v in slo.items() if v is not None}})
        return termination_grace_seconds(owner.spec)

    assert grace(None) == 10 + 120
    assert grace(90_000) == 10 + 180
    assert grace(45_500) == 10 + 91  # rounded up to the second
    assert grace(10_000) == 10 + 60  # the floor, not 20 s


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
    token = {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    }
    assert token in container["env"]
    assert {"name": "HF_HOME", "value": "/cache/huggingface"} in container["env"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/dev/shm", "/cache"}
    pod = deployment["spec"]["template"]["spec"]
    # The scratch cache is bounded and its size requested, so the scheduler accounts for it.
    assert {"name": "cache", "emptyDir": {"sizeLimit": "200Gi"}} in pod["volumes"]
    assert container["resources"]["requests"]["ephemeral-storage"] == "200Gi"
    (check,) = pod["initContainers"]  # the token is checked before vLLM starts
    assert check["name"] == "model-fetch"
    assert token in check["env"]


def test_shared_cache_pvc_and_host_path() -> None:
    owner = owner_from(model={"name": "m", "cache": {"pvc": "model-cache"}})
    pod = build_deployment(owner)["spec"]["template"]["spec"]
    assert {"name": "cache", "persistentVolumeClaim": {"claimName": "model-cache"}} in pod[
        "volumes"
    ]
    assert (
        "ephemeral-storage"
        not in _container({"spec": {"template": {"spec": pod}}})["resources"]["requests"]
    )
    owner = owner_from(model={"name": "m", "cache": {"hostPath": "/mnt/nvme/cache"}})
    pod = build_deployment(owner)["spec"]["template"]["spec"]
    assert {
        "name": "cache",
        "hostPath": {"path": "/mnt/nvme/cache", "type": "DirectoryOrCreate"},
    } in pod["volumes"]


def test_restricted_security_and_no_token_mount() -> None:
    owner = owner_from(model={"name": "m", "source": {"uri": "gs://b/m"}})
    pod = build_deployment(owner)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod["initContainers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] != 0


@pytest.mark.parametrize(
    "model",
    [
        {"name": "org/m"},  # the per-pod emptyDir
        {"name": "m", "source": {"pvc": {"claimName": "weights"}}},
        {"name": "org/m", "cache": {"pvc": "shared"}},
        {"name": "org/m", "cache": {"hostPath": "/mnt/nvme"}},
    ],
)
def test_an_upstream_image_runs_unprivileged_with_its_homes_on_the_cache(
    model: dict[str, Any],
) -> None:
    """docs/operations.md, "Any vLLM image": uid 1000 with fsGroup 1000, and every place
    vLLM and the hub client write (HOME, HF_HOME, VLLM_CACHE_ROOT, XDG_CACHE_HOME) on the
    cache volume, whatever the cache is. vllm/vllm-openai runs as root with HOME=/root: as
    uid 1000 with a home off the volume it could not write its caches and would crash."""
    pod = build_deployment(owner_from(model=model))["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"]) == (
        1000,
        1000,
    )
    container = _container({"spec": {"template": {"spec": pod}}})
    assert container["securityContext"]["runAsUser"] == 1000
    (cache,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == "cache"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    for name in ("HOME", "HF_HOME", "VLLM_CACHE_ROOT", "XDG_CACHE_HOME"):
        assert env.get(name) is not None, name
        assert env[name] == cache or env[name].startswith(f"{cache}/"), (name, env[name])


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


def test_uri_source_is_fetched_by_an_init_container() -> None:
    owner = owner_from(model={"name": "m", "source": {"uri": "s3://bucket/m"}})
    settings = RenderSettings(model_fetch_image="mirror/fetch:1")
    pod = build_deployment(owner, settings)["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    assert fetch["image"] == "mirror/fetch:1"
    assert fetch["command"] == ["python3", "/usr/local/bin/forescale-fetch-model"]
    assert {"name": "FORESCALE_MODEL_URI", "value": "s3://bucket/m"} in fetch["env"]
    directory = {"name": "FORESCALE_MODEL_DIR", "value": uri_directory("s3://bucket/m")}
    assert directory in fetch["env"]
    assert fetch["volumeMounts"] == [{"name": "cache", "mountPath": "/cache"}]
    assert not any(
        e["name"].startswith("FORESCALE_")
        for e in _container({"spec": {"template": {"spec": pod}}})["env"]
    )


def test_hub_and_pvc_sources_need_no_init_container() -> None:
    for model in (
        {"name": "org/m"},
        {"name": "m", "source": {"uri": "hf://org/m"}},
        {"name": "m", "source": {"pvc": {"claimName": "w"}}},
    ):
        pod = build_deployment(owner_from(model=model))["spec"]["template"]["spec"]
        assert "initContainers" not in pod, model


def test_user_env_and_secret_refs() -> None:
    env = _container(build_deployment(owner_from("llmdeployment-full.yaml")))["env"]
    assert {"name": "VLLM_LOGGING_LEVEL", "value": "INFO"} in env
    assert {
        "name": "WANDB_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "observability", "key": "wandb"}},
    } in env


def test_any_vllm_image_gets_an_explicit_command() -> None:
    container = _container(build_deployment(owner_from("llmdeployment-full.yaml")))
    assert container["image"] == "vllm/vllm-openai:v0.34.0"
    assert container["command"] == ["vllm", "serve"]
    assert container["args"][0] == "/models/meta-llama/Llama-3.1-70B-Instruct"


def test_default_image_is_the_operator_setting() -> None:
    owner = owner_from()
    assert owner.spec.engine.image is None
    assert _container(build_deployment(owner))["image"] == DEFAULT_IMAGE
    settings = RenderSettings(default_image="registry.local/vllm:v9")
    assert _container(build_deployment(owner, settings))["image"] == "registry.local/vllm:v9"


def test_drain_modes() -> None:
    pre_wait = build_deployment(owner_from(engine={"drain": "PreStopWait"}))
    container = _container(pre_wait)
    grace = pre_wait["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == grace - 5
    none = _container(build_deployment(owner_from(engine={"drain": "None"})))
    assert none["lifecycle"]["preStop"]["sleep"]["seconds"] == 10
    assert not any("shutdown-timeout" in a for a in none["args"])


def test_image_port_and_pod_metadata() -> None:
    deployment = build_deployment(owner_from("llmdeployment-full.yaml"))
    container = _container(deployment)
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    meta = deployment["spec"]["template"]["metadata"]
    assert meta["labels"]["team"] == "serving"
    assert meta["annotations"]["forescale.io/simulated-load-seconds"] == "240"
    assert meta["annotations"]["prometheus.io/scrape"] == "true"
    assert meta["annotations"]["prometheus.io/port"] == "8000"


def test_rollout_never_removes_a_serving_replica_first() -> None:
    strategy = build_deployment(owner_from())["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
