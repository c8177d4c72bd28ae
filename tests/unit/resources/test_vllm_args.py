"""The ``vllm serve`` command line follows the spec, field by field."""

from __future__ import annotations

from forescale.resources.vllm_args import RENDERED_FLAGS, build_vllm_args, uri_directory
from tests.unit.resources.builders_support import owner_from


def test_sample_args() -> None:
    args = build_vllm_args(owner_from().spec)
    assert args == [
        "meta-llama/Llama-3.1-8B-Instruct",
        "--host=0.0.0.0",
        "--port=8000",
        "--served-model-name=llama-8b",
        "--tensor-parallel-size=1",
        "--max-num-seqs=256",
        "--dtype=auto",
        "--max-model-len=8192",
        "--shutdown-timeout=115",
    ]


def test_gpu_memory_share_is_rendered_only_when_set() -> None:
    """Unset, vLLM sizes its KV cache itself (0.34: from measured memory)."""
    unset = build_vllm_args(owner_from().spec)
    assert not [a for a in unset if a.startswith("--gpu-memory-utilization")]
    set_ = build_vllm_args(owner_from(engine={"gpuMemoryUtilizationPercent": 85}).spec)
    assert "--gpu-memory-utilization=0.85" in set_


def test_full_sample_args() -> None:
    args = build_vllm_args(owner_from("llmdeployment-full.yaml").spec)
    assert args[0] == "/models/meta-llama/Llama-3.1-70B-Instruct"
    assert "--tensor-parallel-size=4" in args
    assert "--gpu-memory-utilization=0.92" in args
    assert "--max-num-seqs=128" in args
    assert "--dtype=bfloat16" in args
    assert "--quantization=fp8" in args
    assert "--max-model-len=16384" in args
    assert args[-2:] == ["--enable-prefix-caching", "--max-num-batched-tokens=8192"]


def test_served_name_defaults_to_model_name() -> None:
    owner = owner_from("llmdeployment-minimal.yaml")
    assert "--served-model-name=Qwen/Qwen3-4B-Instruct-2507-FP8" in build_vllm_args(owner.spec)


def test_uri_source_serves_the_download_directory() -> None:
    owner = owner_from(model={"name": "m", "source": {"uri": "s3://bucket/m"}})
    assert build_vllm_args(owner.spec)[0] == uri_directory("s3://bucket/m")
    assert uri_directory("s3://bucket/m").startswith("/cache/uri/")
    assert uri_directory("s3://bucket/m") != uri_directory("s3://bucket/n")


def test_hf_uri_is_left_to_vllm_with_its_revision() -> None:
    owner = owner_from(model={"name": "m", "source": {"uri": "hf://org/model@abc123"}})
    args = build_vllm_args(owner.spec)
    assert args[0] == "org/model"
    assert "--revision=abc123" in args


def test_tensor_parallel_defaults_to_gpu_count() -> None:
    owner = owner_from(resources={"gpuCount": 4})
    assert "--tensor-parallel-size=4" in build_vllm_args(owner.spec)
    owner = owner_from(resources={"gpuCount": 8}, engine={"pipelineParallelSize": 2})
    args = build_vllm_args(owner.spec)
    assert "--tensor-parallel-size=4" in args
    assert "--pipeline-parallel-size=2" in args


def test_shutdown_timeout_follows_grace_and_drain_mode() -> None:
    spec = owner_from().spec
    assert "--shutdown-timeout=55" in build_vllm_args(spec, grace_seconds=70, pre_stop_seconds=10)
    for drain in ("PreStopWait", "None"):
        args = build_vllm_args(owner_from(engine={"drain": drain}).spec)
        assert not any(a.startswith("--shutdown-timeout") for a in args)
    user = owner_from(engine={"extraArgs": ["--shutdown-timeout=7"]}).spec
    assert [a for a in build_vllm_args(user) if "shutdown" in a] == ["--shutdown-timeout=7"]


def test_every_rendered_flag_is_declared() -> None:
    """RENDERED_FLAGS is what the contract check verifies: it must cover the output."""
    owners = [
        owner_from("llmdeployment-full.yaml"),
        owner_from(model={"name": "m", "source": {"uri": "hf://org/m@r"}}),
        owner_from(resources={"gpuCount": 2}, engine={"pipelineParallelSize": 2}),
    ]
    for owner in owners:
        extras = set(owner.spec.engine.extra_args)
        for arg in build_vllm_args(owner.spec)[1:]:
            if arg not in extras:
                assert arg.split("=", 1)[0] in RENDERED_FLAGS, arg


def test_absolute_path_on_pvc_is_kept() -> None:
    owner = owner_from(model={"name": "/weights/m", "source": {"pvc": {"claimName": "c"}}})
    assert build_vllm_args(owner.spec)[0] == "/weights/m"
