"""The Deployment forescale renders, the bundled image and the fetch script agree.

The init container's env comes from forescale.resources exactly as the operator builds it;
the fetch script runs with it (download tools replaced by stand-ins), the way the kubelet
would run the init container.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.deployment import (
    CONTAINER_NAME,
    FETCH_COMMAND,
    FETCH_CONTAINER_NAME,
    RUN_AS_USER,
    build_deployment,
)
from forescale.resources.owner import Owner
from forescale.resources.vllm_args import CACHE_MOUNT, COMMAND, HF_HOME
from forescale.vllm_contract.release import DEFAULT_IMAGE, VLLM_VERSION
from tests.unit.inference_image.fetch_support import (
    INFERENCE_DOCKERFILE,
    error_line,
    make_sandbox,
    run_fetch,
)
from tests.unit.manifests import dockerfile_instructions

INSTRUCTIONS = dockerfile_instructions.parse(INFERENCE_DOCKERFILE)


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    owner = Owner("llama", "ml", "uid-1", LLMDeploymentSpec.model_validate(spec))
    pod: dict[str, Any] = build_deployment(owner)["spec"]["template"]["spec"]
    return pod


def _env(container: dict[str, Any], secret: str = "hf_from_the_secret\n") -> dict[str, str]:
    """The container's env as the kubelet resolves it (Secret refs become ``secret``)."""
    return {v["name"]: secret if "valueFrom" in v else v["value"] for v in container.get("env", [])}


def test_the_pod_sets_the_command_so_the_image_entrypoint_does_not_matter() -> None:
    (container,) = _pod({"model": {"name": "org/model"}})["containers"]
    assert container["name"] == CONTAINER_NAME
    assert container["command"] == list(COMMAND) == ["vllm", "serve"]
    assert container["args"][0] == "org/model"
    assert container["image"] == DEFAULT_IMAGE


def test_the_fetch_container_runs_the_script_the_image_installs() -> None:
    pod = _pod({"model": {"name": "m", "source": {"uri": "gs://b/m"}}})
    (fetch,) = pod["initContainers"]
    assert fetch["name"] == FETCH_CONTAINER_NAME
    assert fetch["command"] == list(FETCH_COMMAND)
    copies = [i.value for i in INSTRUCTIONS if i.keyword == "COPY"]
    assert any(c.endswith(f"fetch_model.py {FETCH_COMMAND[1]}") for c in copies), copies


def test_a_uri_is_fetched_where_vllm_then_reads_it(tmp_path: Path) -> None:
    pod = _pod({"model": {"name": "m", "source": {"uri": "s3://bucket/llama"}}})
    (fetch,) = pod["initContainers"]
    (vllm,) = pod["containers"]
    env = _env(fetch)
    # Relocate the cache volume under tmp_path (the test cannot write /cache).
    cache = tmp_path / "cache"
    env["FORESCALE_MODEL_DIR"] = env["FORESCALE_MODEL_DIR"].replace(CACHE_MOUNT, str(cache), 1)
    box = make_sandbox(tmp_path, fetchers=("aws",))
    result = run_fetch(box.env(**env))
    assert result.returncode == 0, result.stderr
    served = Path(vllm["args"][0].replace(CACHE_MOUNT, str(cache), 1))
    assert (served / "config.json").is_file(), "vLLM's model argument is the fetched directory"


def test_a_bad_token_stops_the_pod_before_vllm(tmp_path: Path) -> None:
    pod = _pod(
        {"model": {"name": "org/m", "source": {"huggingFace": {"tokenSecret": {"name": "t"}}}}}
    )
    (check,) = pod["initContainers"]
    result = run_fetch(make_sandbox(tmp_path).env(**_env(check, secret="  \n")))
    assert result.returncode == 2
    assert "tokenSecret" in error_line(result.stderr)
    result = run_fetch(make_sandbox(tmp_path / "ok").env(**_env(check)))
    assert result.returncode == 0, result.stderr


def test_image_is_built_from_the_pinned_vllm_without_a_second_pin() -> None:
    ((image, _),) = dockerfile_instructions.stages(INSTRUCTIONS)
    assert image == "vllm/vllm-openai:v${VLLM_VERSION}"
    args = [i.value for i in INSTRUCTIONS if i.keyword == "ARG"]
    assert "VLLM_VERSION" in args, "declared without a default: the Makefile passes it"
    makefile = (INFERENCE_DOCKERFILE.parents[1] / "Makefile").read_text()
    assert "--build-arg VLLM_VERSION=" in makefile
    assert DEFAULT_IMAGE.endswith(f"-vllm{VLLM_VERSION}")


def test_image_runs_as_the_pods_non_root_user_with_caches_on_the_volume() -> None:
    user = dockerfile_instructions.final_user(INSTRUCTIONS)
    assert user == f"{RUN_AS_USER}:{RUN_AS_USER}"
    envs = " ".join(i.value for i in INSTRUCTIONS if i.keyword == "ENV")
    assert f"HF_HOME={HF_HOME}" in envs
