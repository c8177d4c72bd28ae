"""The Deployment forescale renders and the image's launcher agree on how vLLM is started.

The container's args and env come from forescale.resources exactly as the operator builds
them; the launcher runs them (vLLM replaced by its stand-in), the way the kubelet would run
the image's ENTRYPOINT with those args.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forescale.api.spec import DEFAULT_IMAGE, LLMDeploymentSpec
from forescale.resources.deployment import CONTAINER_NAME, build_deployment
from forescale.resources.owner import Owner
from forescale.resources.vllm_args import MODEL_MOUNT
from tests.unit.inference_image.launcher_support import (
    INFERENCE_DOCKERFILE,
    make_sandbox,
    run_launcher,
)
from tests.unit.manifests import dockerfile_lint

SECRET_VALUE = "hf_from_the_secret\n"


def _container(spec: dict[str, Any]) -> dict[str, Any]:
    owner = Owner("llama", "ml", "uid-1", LLMDeploymentSpec.model_validate(spec))
    containers = build_deployment(owner)["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == CONTAINER_NAME]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    """The container's env as the kubelet resolves it (Secret refs become their value)."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "valueFrom" in var:
            assert "secretKeyRef" in var["valueFrom"], var
            env[var["name"]] = SECRET_VALUE
        else:
            env[var["name"]] = var["value"]
    return env


def _relocate(values: list[str], mount: Path) -> list[str]:
    """Put the weights mount under a temporary directory (the test cannot write /models)."""
    return [v.replace(MODEL_MOUNT, str(mount), 1) if v.startswith(MODEL_MOUNT) else v
            for v in values]  # fmt: skip


def test_the_image_entrypoint_is_the_launcher_and_the_pod_sets_only_args() -> None:
    container = _container({"model": {"name": "org/model"}})
    assert "command" not in container, "a command would bypass the image's launcher"
    assert container["args"][:2] == ["vllm", "serve"]
    assert container["image"] == DEFAULT_IMAGE
    instructions = dockerfile_lint.parse(INFERENCE_DOCKERFILE)
    (entrypoint,) = [i for i in instructions if i.keyword == "ENTRYPOINT"]
    assert dockerfile_lint.exec_form(entrypoint.value) == [
        "python3", "/usr/local/bin/forescale-launcher"
    ]  # fmt: skip
    copies = [i.value for i in instructions if i.keyword == "COPY"]
    assert any(c.endswith("launcher.py /usr/local/bin/forescale-launcher") for c in copies)


def test_hub_model_with_a_token_secret(tmp_path: Path) -> None:
    spec = {
        "model": {
            "name": "meta-llama/Llama-3.1-8B-Instruct", "servedName": "llama-8b",
            "maxModelLen": 8192, "source": {"huggingFace": {"tokenSecret": {"name": "hf"}}},
        },
        "engine": {"extraArgs": ["--enable-prefix-caching"]},
    }  # fmt: skip
    container = _container(spec)
    box = make_sandbox(tmp_path)
    result = run_launcher(container["args"], box.env(**_env(container)))
    assert result.returncode == 0, result.stderr
    (call,) = box.calls("vllm")
    assert call["argv"] == container["args"][1:]
    assert call["env"]["HF_TOKEN"] == SECRET_VALUE.strip()


def test_weights_on_a_pvc(tmp_path: Path) -> None:
    spec = {
        "model": {"name": "llama-3.1-8b", "source": {"pvc": {"claimName": "weights"}}},
        "resources": {"gpuCount": 2},
        "engine": {"tensorParallelSize": 2, "gpuMemoryUtilizationPercent": 85},
    }
    container = _container(spec)
    mount = tmp_path / "mount"
    (mount / "llama-3.1-8b").mkdir(parents=True)
    (mount / "llama-3.1-8b" / "config.json").write_text("{}")
    args = _relocate(container["args"], mount)
    box = make_sandbox(tmp_path)
    result = run_launcher(args, box.env(**_env(container)))
    assert result.returncode == 0, result.stderr
    argv = box.calls("vllm")[0]["argv"]
    assert argv[1] == str(mount / "llama-3.1-8b")
    assert "--tensor-parallel-size=2" in argv
    assert "--gpu-memory-utilization=0.85" in argv


def test_weights_from_a_uri(tmp_path: Path) -> None:
    spec = {"model": {"name": "llama", "source": {"uri": "hf://org/llama@main"}}}
    container = _container(spec)
    env = _env(container)
    assert env["FORESCALE_MODEL_URI"] == "hf://org/llama@main"
    mount = tmp_path / "mount"
    env["FORESCALE_MODEL_DIR"] = env["FORESCALE_MODEL_DIR"].replace(MODEL_MOUNT, str(mount))
    args = _relocate(container["args"], mount)
    box = make_sandbox(tmp_path, fetchers=("hf",))
    result = run_launcher(args, box.env(**env))
    assert result.returncode == 0, result.stderr
    assert box.calls("hf")[0]["argv"][:2] == ["download", "org/llama"]
    assert box.calls("vllm")[0]["argv"][1] == str(mount)


@pytest.mark.parametrize(
    "extra",
    [["--port=9000"], ["--host=127.0.0.1"]],
    ids=["port", "host"],
)
def test_the_launcher_backs_up_the_schema_on_forbidden_extra_args(
    tmp_path: Path, extra: list[str]
) -> None:
    """The CRD rejects these; should one slip through (an old CRD), vLLM still never starts."""
    container = _container({"model": {"name": "org/model"}})
    box = make_sandbox(tmp_path)
    result = run_launcher([*container["args"], *extra], box.env())
    assert result.returncode == 2
    assert box.calls("vllm") == []


def test_inference_image_pins_the_vllm_release_the_default_image_names() -> None:
    instructions = dockerfile_lint.parse(INFERENCE_DOCKERFILE)
    ((image, _),) = dockerfile_lint.stages(instructions)
    repository, _, tag = image.partition(":")
    assert repository == "vllm/vllm-openai"
    vllm_version = DEFAULT_IMAGE.rsplit("-vllm", 1)[1]
    assert tag == f"v{vllm_version}", f"{image} vs DEFAULT_IMAGE {DEFAULT_IMAGE}"
    assert dockerfile_lint.violations(instructions) == []
