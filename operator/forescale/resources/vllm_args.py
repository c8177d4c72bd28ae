"""The ``vllm serve`` command line an LLMDeployment spec implies.

Kept apart from the Deployment builder because it is the part users most often ask about
(``forescale render`` shows it) and the part most tied to vLLM's CLI, which changes between
releases. Percentages in the spec become vLLM's fractions here, the only place floats appear.
"""

from __future__ import annotations

from forescale.api.spec import LLMDeploymentSpec

MODEL_MOUNT = "/models"
"""Where a PVC's weights, or weights fetched from a URI, are mounted."""


def model_argument(spec: LLMDeploymentSpec) -> str:
    """The model positional argument: a hub id, or a path under the weights mount."""
    source = spec.model.source
    if source is not None and source.uri is not None:
        return MODEL_MOUNT  # the launcher downloads the URI here before starting vLLM
    if source is not None and source.pvc is not None and not spec.model.name.startswith("/"):
        return f"{MODEL_MOUNT}/{spec.model.name}"
    return spec.model.name


def build_vllm_args(spec: LLMDeploymentSpec) -> list[str]:
    """Arguments after ``vllm serve`` (model first, then flags, then the user's extras)."""
    engine = spec.engine
    args = [
        model_argument(spec),
        "--host=0.0.0.0",
        f"--port={spec.service.port}",
        f"--served-model-name={spec.served_name}",
        f"--tensor-parallel-size={engine.tensor_parallel_size}",
        f"--gpu-memory-utilization={engine.gpu_memory_utilization_percent / 100:.2f}",
        f"--max-num-seqs={engine.max_num_seqs}",
        f"--dtype={spec.model.dtype}",
    ]
    if spec.model.max_model_len is not None:
        args.append(f"--max-model-len={spec.model.max_model_len}")
    if spec.model.quantization is not None:
        args.append(f"--quantization={spec.model.quantization}")
    args.extend(engine.extra_args)
    return args
