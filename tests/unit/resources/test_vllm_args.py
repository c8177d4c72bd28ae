"""The ``vllm serve`` command line follows the spec, field by field."""

from __future__ import annotations

from forescale.resources.vllm_args import build_vllm_args
from tests.unit.resources.builders_support import owner_from


def test_sample_args() -> None:
    args = build_vllm_args(owner_from().spec)
    assert args == [
        "meta-llama/Llama-3.1-8B-Instruct",
        "--host=0.0.0.0",
        "--port=8000",
        "--served-model-name=llama-8b",
        "--tensor-parallel-size=1",
        "--gpu-memory-utilization=0.90",
        "--max-num-seqs=256",
        "--dtype=auto",
        "--max-model-len=8192",
    ]


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
    assert build_vllm_args(owner.spec)[0] == "/models"


def test_absolute_path_on_pvc_is_kept() -> None:
    owner = owner_from(model={"name": "/weights/m", "source": {"pvc": {"claimName": "c"}}})
    assert build_vllm_args(owner.spec)[0] == "/weights/m"
