"""The ``vllm serve`` command line an LLMDeployment spec implies.

Kept apart from the Deployment builder because it is the part users most often ask about
(``forescale render`` shows it) and the part most tied to vLLM's CLI, which changes between
releases: :data:`RENDERED_FLAGS` lists every flag this module can emit, and the contract
check (forescale.vllm_contract) fails when the pinned vLLM release no longer accepts one.
Percentages in the spec become vLLM's fractions here, the only place floats appear.
"""

from __future__ import annotations

import hashlib

from forescale.api.spec import LLMDeploymentSpec

MODEL_MOUNT = "/models"
"""Where a PVC source's weights are mounted."""
CACHE_MOUNT = "/cache"
"""The model cache volume: hub downloads (HF_HOME), fetched URIs, vLLM's compile cache."""
HF_HOME = f"{CACHE_MOUNT}/huggingface"
URI_CACHE = f"{CACHE_MOUNT}/uri"

COMMAND = ("vllm", "serve")
"""The container command: explicit, so any vLLM image works whatever its entrypoint."""

RENDERED_FLAGS: tuple[str, ...] = (
    "--host", "--port", "--served-model-name", "--tensor-parallel-size",
    "--pipeline-parallel-size", "--gpu-memory-utilization", "--max-num-seqs", "--dtype",
    "--max-model-len", "--quantization", "--revision", "--shutdown-timeout",
)  # fmt: skip
"""Every flag :func:`build_vllm_args` can render (checked against vLLM's argparse)."""

SHUTDOWN_MARGIN_SECONDS = 5
"""Grace left after --shutdown-timeout for vLLM to stop its engine before SIGKILL."""


def uri_directory(uri: str) -> str:
    """Where the init container puts the weights of ``uri`` (one directory per URI)."""
    return f"{URI_CACHE}/{hashlib.sha256(uri.encode()).hexdigest()[:16]}"


def _hf_uri(uri: str) -> tuple[str, str | None]:
    """``hf://org/model@rev`` -> (``org/model``, ``rev``)."""
    repo, _, revision = uri.removeprefix("hf://").partition("@")
    return repo, revision or None


def model_argument(spec: LLMDeploymentSpec) -> str:
    """The model positional argument: a hub id, or a path on a volume."""
    source = spec.model.source
    if source is not None and source.uri is not None:
        if source.uri.startswith("hf://"):
            return _hf_uri(source.uri)[0]  # vLLM downloads it into HF_HOME itself
        return uri_directory(source.uri)  # the init container fetched it there
    if source is not None and source.pvc is not None and not spec.model.name.startswith("/"):
        return f"{MODEL_MOUNT}/{spec.model.name}"
    return spec.model.name


def user_sets(spec: LLMDeploymentSpec, flag: str) -> bool:
    """``spec.engine.extraArgs`` already gives ``flag`` (the user's value wins)."""
    return any(a == flag or a.startswith(flag + "=") for a in spec.engine.extra_args)


def shutdown_timeout_seconds(grace_seconds: int, pre_stop_seconds: int) -> int:
    """vLLM's --shutdown-timeout: what the grace period leaves after preStop, minus a margin."""
    return max(1, grace_seconds - pre_stop_seconds - SHUTDOWN_MARGIN_SECONDS)


def build_vllm_args(
    spec: LLMDeploymentSpec, *, grace_seconds: int = 130, pre_stop_seconds: int = 10
) -> list[str]:
    """Arguments after ``vllm serve`` (model first, then flags, then the user's extras).

    ``grace_seconds`` and ``pre_stop_seconds`` are the pod's, so that with the
    ``ShutdownTimeout`` drain vLLM finishes in-flight requests within the grace period.
    """
    engine = spec.engine
    args = [
        model_argument(spec),
        "--host=0.0.0.0",
        f"--port={spec.service.port}",
        f"--served-model-name={spec.served_name}",
        f"--tensor-parallel-size={spec.tensor_parallel_size}",
    ]
    if engine.pipeline_parallel_size > 1:
        args.append(f"--pipeline-parallel-size={engine.pipeline_parallel_size}")
    if engine.gpu_memory_utilization_percent is not None:
        # Unset, vLLM sizes its KV cache itself: from 0.34 from the memory it measures free,
        # which a fixed share would only shrink (vllm_contract.check_memory_sizing).
        args.append(f"--gpu-memory-utilization={engine.gpu_memory_utilization_percent / 100:.2f}")
    args += [f"--max-num-seqs={engine.max_num_seqs}", f"--dtype={spec.model.dtype}"]
    if spec.model.max_model_len is not None:
        args.append(f"--max-model-len={spec.model.max_model_len}")
    if spec.model.quantization is not None:
        args.append(f"--quantization={spec.model.quantization}")
    source = spec.model.source
    if source is not None and source.uri is not None and source.uri.startswith("hf://"):
        revision = _hf_uri(source.uri)[1]
        if revision is not None:
            args.append(f"--revision={revision}")
    if engine.drain == "ShutdownTimeout" and not user_sets(spec, "--shutdown-timeout"):
        timeout = shutdown_timeout_seconds(grace_seconds, pre_stop_seconds)
        args.append(f"--shutdown-timeout={timeout}")
    args.extend(engine.extra_args)
    return args
