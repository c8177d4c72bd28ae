"""The desired state of an ``LLMDeployment``: what a user writes and git stores.

These pydantic models are the single source of truth for the API. The CRD's OpenAPI schema
(descriptions, defaults, enums, bounds) and its CEL rules are generated from them
(:mod:`forescale.api.crd`), and the operator parses every object it receives with them, so
the schema the API server enforces and the checks the operator relies on cannot drift.

Kubernetes API conventions shape the fields: camelCase names, integers rather than floats
(percentages and milliseconds; fractional rates are quantity strings such as ``"2.5"``),
optional fields that mean "let forescale decide", and cross-field rules expressed once as
CEL so that the API server rejects a bad object with a message naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from forescale.api import names
from forescale.api.validation_rule import ValidationRule, with_rules

QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN, max_length=32)]
"""A Kubernetes resource quantity (``"8"``, ``"32Gi"``, ``"2.5"``, ``"500m"``)."""

ResourceName = Annotated[str, Field(max_length=253)]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An integer field with no narrower bounds: the API server stores integers as int64 and
refuses a larger one, so the model does too (the CRD says it as ``format: int64``)."""

_SUFFIXES = {
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def parse_quantity(text: str) -> float:
    """Return the numeric value of a Kubernetes quantity string."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)", text)
    if match is None or (match.group(2) and match.group(2) not in _SUFFIXES):
        raise ValueError(f"{text!r} is not a quantity")
    return float(match.group(1)) * _SUFFIXES.get(match.group(2), 1.0)


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


class SpecModel(ApiModel):
    """Base of the spec's models: they accept exactly what the API server admits.

    What a user writes reaches the operator only through the API server, which refuses
    (or, for a client that does not ask for strict field validation, silently drops) a
    field spelled with its Python name (``min_replicas``) and refuses a value of another
    JSON type (``"3"`` or ``true`` for an integer, ``"true"`` for a boolean). The model
    refuses them too (no name population, strict types), so that validating a manifest
    with the model, offline, says what ``kubectl apply`` will. Python code builds a spec
    with ``model_validate`` and wire names; ``model_validate(..., by_name=True)`` reads
    Python names where a caller means to.
    """

    model_config = ConfigDict(
        populate_by_name=False, validate_by_name=False, validate_by_alias=True, strict=True
    )


DnsSubdomain = Annotated[str, Field(max_length=253, pattern=names.DNS_SUBDOMAIN_PATTERN)]
"""The name of a namespaced object (Secret, PVC): never a path, never another namespace."""
PARALLELISM_MESSAGE = (
    "spec.engine.tensorParallelSize x pipelineParallelSize must equal "
    "spec.resources.gpuCount (with spec.engine.allowIdleGpus, it may be below it: vLLM "
    "cannot use more GPUs than the pod has)"
)


class SecretKeySelector(SpecModel):
    """A key of a Secret in the LLMDeployment's namespace."""

    name: DnsSubdomain = Field(description="Name of the Secret (a DNS subdomain).")
    key: str = Field(
        default="token",
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key within the Secret.",
    )


class PvcSource(SpecModel):
    """Model weights already on a PersistentVolumeClaim (fastest cold start)."""

    claim_name: DnsSubdomain = Field(description="Name of the PersistentVolumeClaim.")
    sub_path: str | None = Field(
        default=None, max_length=1024, description="Path of the weights inside the volume."
    )
    read_only: bool = Field(default=True, description="Mount the claim read-only.")


class HuggingFaceSource(SpecModel):
    """Download the weights from the Hugging Face Hub, authenticated with a token."""

    token_secret: SecretKeySelector = Field(
        description="Secret holding the Hugging Face access token (HF_TOKEN)."
    )


class ModelSource(SpecModel):
    """Where the weights come from. Exactly one of the fields is set."""

    model_config = with_rules(
        SpecModel.model_config,
        ValidationRule(
            rule="[has(self.pvc), has(self.huggingFace), has(self.uri)].filter(x, x).size() == 1",
            message="spec.model.source must set exactly one of pvc, huggingFace or uri",
        ),
    )

    pvc: PvcSource | None = Field(default=None, description="Weights on a PVC.")
    hugging_face: HuggingFaceSource | None = Field(
        default=None, description="Weights downloaded from the Hugging Face Hub with a token."
    )
    uri: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^(s3|gs|hf|https)://.+",
        description="Weights from this URI: hf://REPO[@REVISION] is passed to vLLM (which "
        "downloads it into the model cache); s3://, gs:// and https:// (a .tar, .tar.gz or "
        ".tgz archive) are fetched into the model cache by an init container before vLLM "
        "starts.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        chosen = [n for n in ("pvc", "hugging_face", "uri") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("spec.model.source must set exactly one of pvc, huggingFace or uri")
        return self


QuantizationMethod = Literal[
    "awq", "awq_marlin", "gptq", "gptq_marlin", "fp8", "compressed-tensors", "modelopt",
    "modelopt_fp4", "mxfp4", "experts_int8", "moe_wna16", "quark", "torchao",
]  # fmt: skip
"""``--quantization`` values offered; every one is checked against the pinned vLLM's choices
(forescale.vllm_contract), so the API server never accepts a value vLLM rejects."""


class ModelCacheSpec(SpecModel):
    """Where downloaded weights are kept. Shared storage lets a new replica skip the download,
    which is most of the cold start the autoscaler plans around."""

    model_config = with_rules(
        SpecModel.model_config,
        ValidationRule(
            rule="!(has(self.pvc) && has(self.hostPath))",
            message="spec.model.cache must set at most one of pvc or hostPath",
        ),
    )

    pvc: DnsSubdomain | None = Field(
        default=None,
        description="A ReadWriteMany PersistentVolumeClaim shared by every replica (and every "
        "LLMDeployment that names it).",
    )
    host_path: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^/.*",
        description="A node-local directory (e.g. on NVMe), writable by uid 1000: replicas "
        "on the same node share it. The baseline and restricted Pod Security levels refuse "
        "hostPath volumes; there, use a pvc on local storage instead.",
    )
    size_limit: Quantity = Field(
        default="200Gi",
        description="Without pvc or hostPath: the size limit of the per-pod scratch emptyDir "
        "that holds the weights, also requested as ephemeral-storage so the scheduler places "
        "the pod on a node with room.",
    )

    @model_validator(mode="after")
    def _at_most_one(self) -> ModelCacheSpec:
        if self.pvc is not None and self.host_path is not None:
            raise ValueError("spec.model.cache must set at most one of pvc or hostPath")
        return self


class ModelSpec(SpecModel):
    """The model vLLM serves."""

    name: str = Field(
        min_length=1,
        max_length=512,
        description="Hugging Face model id (e.g. meta-llama/Llama-3.1-8B-Instruct) or a path "
        "inside the weights volume.",
    )
    served_name: str | None = Field(
        default=None,
        max_length=253,
        description="Name clients send as `model`; defaults to `name`.",
    )
    max_model_len: int | None = Field(
        default=None,
        ge=256,
        le=10_485_760,
        description="Maximum context length in tokens (vLLM --max-model-len); unset uses the "
        "model's own.",
    )
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = Field(
        default="auto", description="Weight and activation dtype (vLLM --dtype)."
    )
    quantization: QuantizationMethod | None = Field(
        default=None,
        description="Quantization method (vLLM --quantization); unset lets vLLM read it from "
        "the model's config.",
    )
    source: ModelSource | None = Field(
        default=None,
        description="Where the weights come from; unset downloads `name` anonymously from "
        "the Hugging Face Hub.",
    )
    cache: ModelCacheSpec = Field(
        default_factory=ModelCacheSpec,
        description="Where downloaded weights are cached (not used for weights on a PVC source).",
    )


class EnvVar(SpecModel):
    """An environment variable for the vLLM container."""

    name: str = Field(max_length=253, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Name.")
    value: str | None = Field(default=None, max_length=32768, description="Literal value.")
    secret_key_ref: SecretKeySelector | None = Field(
        default=None, description="Take the value from a Secret key instead."
    )


class EngineSpec(SpecModel):
    """How vLLM runs."""

    model_config = with_rules(
        SpecModel.model_config,
        ValidationRule(
            rule="!has(self.extraArgs) || self.extraArgs.all(a, !(a.startsWith('--port') "
            "|| a.startsWith('--host')))",
            message="spec.engine.extraArgs must not set --port or --host; use spec.service.port",
        ),
    )

    image: str | None = Field(
        default=None,
        max_length=1024,
        description="Container image: any vLLM image (forescale renders the full `vllm serve` "
        "command). Unset: the operator's default image (its FORESCALE_DEFAULT_IMAGE setting), "
        "so upgrading vLLM is an operator setting, not an edit of every object.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Kubernetes image pull policy."
    )
    tensor_parallel_size: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="GPUs each pipeline stage is sharded over (vLLM --tensor-parallel-size). "
        "Unset: spec.resources.gpuCount / pipelineParallelSize, so every GPU is used.",
    )
    pipeline_parallel_size: int = Field(
        default=1, ge=1, le=64, description="Pipeline stages (vLLM --pipeline-parallel-size)."
    )
    allow_idle_gpus: bool = Field(
        default=False,
        description="Accept tensorParallelSize x pipelineParallelSize below gpuCount (GPUs "
        "requested but left idle); otherwise the product must equal gpuCount.",
    )
    drain: Literal["ShutdownTimeout", "PreStopWait", "None"] = Field(
        default="ShutdownTimeout",
        description="How a replica that is removed finishes its in-flight requests. "
        "ShutdownTimeout: vLLM gets --shutdown-timeout (the grace period minus the preStop "
        "delay) and finishes them after SIGTERM (vLLM releases that have the flag). "
        "PreStopWait: for vLLM releases without the flag, the preStop hook waits most of "
        "the grace period while vLLM, out of the Service, serves what it has. "
        "None: SIGTERM aborts in-flight requests.",
    )
    gpu_memory_utilization_percent: int | None = Field(
        default=None,
        ge=10,
        le=100,
        description="Share of GPU memory vLLM may use, in percent (vLLM "
        "--gpu-memory-utilization). Unset: the flag is left out and vLLM's own default "
        "applies (0.92 in 0.33; from 0.34 the KV cache is sized from the memory measured "
        "free after start-up, where a set share only takes memory from it). Set it when "
        "something vLLM does not measure shares the GPU.",
    )
    max_num_seqs: int = Field(
        default=256,
        ge=1,
        le=4096,
        description="Maximum concurrent sequences per replica (vLLM --max-num-seqs).",
    )
    extra_args: list[Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=list,
        max_length=64,
        description="Further `vllm serve` arguments, appended as given.",
    )
    env: list[EnvVar] = Field(
        default_factory=list, max_length=64, description="Extra environment variables."
    )

    @model_validator(mode="after")
    def _no_port_override(self) -> EngineSpec:
        for arg in self.extra_args:
            if arg.startswith(("--port", "--host")):
                raise ValueError(
                    "spec.engine.extraArgs must not set --port or --host; use spec.service.port"
                )
        return self


class ResourcesSpec(SpecModel):
    """Compute one replica needs."""

    gpu_count: int = Field(default=1, ge=1, le=64, description="GPUs per replica.")
    gpu_resource_name: str = Field(
        default="nvidia.com/gpu",
        max_length=253,
        pattern=r"^[a-z0-9.-]+/[a-z0-9.-]+$",
        description="Extended resource name of the GPU (device plugin).",
    )
    gpu_product: str | None = Field(
        default=None,
        max_length=63,
        pattern=names.LABEL_VALUE_PATTERN,
        description="Required GPU model, matched against the node label "
        "nvidia.com/gpu.product (e.g. NVIDIA-H100-80GB-HBM3).",
    )
    cpu: Quantity = Field(default="4", description="CPU request and limit.")
    memory: Quantity = Field(default="32Gi", description="Memory request and limit.")
    shared_memory: Quantity = Field(
        default="2Gi",
        description="Size of /dev/shm (a memory-backed emptyDir); tensor parallelism needs it.",
    )


class Toleration(SpecModel):
    """A Kubernetes toleration (same fields as core/v1 Toleration)."""

    key: str | None = Field(
        default=None,
        max_length=names.MAX_KEY_LENGTH,
        pattern=names.QUALIFIED_NAME_PATTERN,
        description="Taint key.",
    )
    operator: Literal["Exists", "Equal"] | None = Field(default=None, description="Operator.")
    value: str | None = Field(
        default=None, max_length=63, pattern=names.LABEL_VALUE_PATTERN, description="Taint value."
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect."
    )
    toleration_seconds: Int64 | None = Field(
        default=None, description="How long a NoExecute taint is tolerated."
    )


_AFFINITY_PART: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}


class Affinity(SpecModel):
    """A core/v1 Affinity: only its three kinds are accepted; each is passed on as given
    (the API server checks their insides when the Deployment is applied, and a refusal
    becomes ``Degraded=True InvalidSpec`` with its message)."""

    node_affinity: dict[str, Any] | None = Field(
        default=None, description="core/v1 NodeAffinity.", json_schema_extra=_AFFINITY_PART
    )
    pod_affinity: dict[str, Any] | None = Field(
        default=None, description="core/v1 PodAffinity.", json_schema_extra=_AFFINITY_PART
    )
    pod_anti_affinity: dict[str, Any] | None = Field(
        default=None, description="core/v1 PodAntiAffinity.", json_schema_extra=_AFFINITY_PART
    )


def _label_map(what: str, *, label_values: bool) -> dict[str, Any]:
    rules = [names.keys_rule(what)]
    if label_values:
        rules.append(names.values_rule(what))
    return {"x-kubernetes-validations": rules}


class PlacementSpec(SpecModel):
    """Where replicas may run."""

    node_selector: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict,
        max_length=names.MAX_POD_LABELS,
        description="Node labels replicas require.",
        json_schema_extra=_label_map("spec.placement.nodeSelector", label_values=True),
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Tolerations for GPU node taints."
    )
    affinity: Affinity | None = Field(
        default=None, description="A core/v1 Affinity for the replicas' pods."
    )
    priority_class_name: DnsSubdomain | None = Field(
        default=None, description="PriorityClass of the replicas."
    )

    @field_validator("node_selector")
    @classmethod
    def _selector_keys(cls, value: dict[str, str]) -> dict[str, str]:
        names.check_keys(value, "spec.placement.nodeSelector", label_values=True)
        return value


class PodMetadata(SpecModel):
    """Extra labels and annotations for the replicas' pods (e.g. for a service mesh)."""

    labels: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict,
        max_length=names.MAX_POD_LABELS,
        description="Labels added to every pod.",
        json_schema_extra=_label_map("spec.podMetadata.labels", label_values=True),
    )
    annotations: dict[str, Annotated[str, Field(max_length=names.MAX_ANNOTATION_VALUE)]] = Field(
        default_factory=dict,
        max_length=names.MAX_POD_ANNOTATIONS,
        description=f"Annotations added to every pod (at most {names.MAX_POD_ANNOTATIONS}, "
        f"each value at most {names.MAX_ANNOTATION_VALUE} characters).",
        json_schema_extra=_label_map("spec.podMetadata.annotations", label_values=False),
    )

    @field_validator("labels", "annotations")
    @classmethod
    def _keys(cls, value: dict[str, str], info: Any) -> dict[str, str]:
        labels = info.field_name == "labels"
        names.check_keys(value, f"spec.podMetadata.{info.field_name}", label_values=labels)
        return value


class ServiceSpec(SpecModel):
    """The Service in front of the replicas."""

    port: int = Field(
        default=8000, ge=1, le=65535, description="Port of the Service and of vLLM's server."
    )


#: ``spec.scaling.slo.attainment``: a fraction below 1 ("0.99", "0.995") or a percentage
#: below 100 ("99%", "99.5%"). A string because the API conventions keep floats out of specs.
ATTAINMENT_PATTERN = r"^(0\.[0-9]{1,4}|[0-9]{1,2}(\.[0-9]{1,2})?%)$"


#: The attainments ATTAINMENT_PATTERN admits that are zero ("0%", "00.0%", "0.0000").
ATTAINMENT_ZERO_PATTERN = r"^0+(\.0+)?%?$"
_ATTAINMENT_MESSAGE = (
    "spec.scaling.slo.attainment must lie strictly between 0 and 1 (0 % and 100 %)"
)


def parse_attainment(text: str) -> float:
    """The fraction an attainment string asks for (``"99%"`` and ``"0.99"`` both give 0.99)."""
    if re.fullmatch(ATTAINMENT_PATTERN, text) is None:
        raise ValueError(f"attainment {text!r} is neither a fraction like 0.99 nor 99%")
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 < value < 1:
        raise ValueError(f"{_ATTAINMENT_MESSAGE}: {text!r}")
    return value


class SloSpec(SpecModel):
    """The latency the autoscaler defends, and how often it must hold."""

    ttft_p95_milliseconds: int = Field(
        default=2000, ge=10, le=600_000, description="Target 95th percentile time to first token."
    )
    e2e_p95_milliseconds: int | None = Field(
        default=None,
        alias="e2eP95Milliseconds",
        ge=100,
        le=3_600_000,
        description="Target 95th percentile end-to-end request latency; unset: not defended. "
        "When the observed p95 exceeds it the autoscaler treats the fleet as short of capacity "
        "(as it does for the TTFT target).",
    )
    queue_per_replica: int = Field(
        default=4,
        ge=0,
        le=10_000,
        description="Waiting requests per replica tolerated before adding capacity.",
    )
    attainment: str = Field(
        default="0.99",
        pattern=ATTAINMENT_PATTERN,
        max_length=8,
        description='Share of requests that should meet the latency targets ("0.99" or "99%"). '
        "The one cost knob: the autoscaler provisions for this quantile of the burst envelope "
        "it learns from the deployment's own history (higher: more headroom, more GPUs).",
        json_schema_extra={
            # The pattern admits zero ("0%", "0.00"), which parse_attainment refuses: a share
            # of 0 is no target. The pattern caps the value below 1 by itself.
            "x-kubernetes-validations": [
                {
                    "rule": f"!self.matches(r'{ATTAINMENT_ZERO_PATTERN}')",
                    "message": _ATTAINMENT_MESSAGE,
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _attainment_in_range(self) -> SloSpec:
        parse_attainment(self.attainment)
        return self


class CapacitySpec(SpecModel):
    """What one replica sustains within the SLO; seeds the online estimate.

    The three rates are one load test's (``vllm bench serve`` prints them): requests, output
    tokens, and prompt tokens (its total token throughput less its output token throughput).
    The prompts tell the autoscaler the context the token rate was measured at, so that a
    mix with longer prompts (fewer output tokens per second) or shorter ones (more) is
    sized for what a replica serves with it.
    """

    model_config = with_rules(
        SpecModel.model_config,
        ValidationRule(
            rule="!has(self.promptTokensPerSecond) || "
            "(has(self.requestsPerSecond) && has(self.outputTokensPerSecond))",
            message="spec.scaling.capacity.promptTokensPerSecond needs requestsPerSecond and "
            "outputTokensPerSecond from the same load test",
            field_path=".promptTokensPerSecond",
        ),
    )

    requests_per_second: Quantity | None = Field(
        default=None,
        description='Requests per second one replica serves (e.g. "2.5"); more than 0.',
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.matches(r'^0+(\\.0+)?[a-zA-Z]*$')",
                    "message": "spec.scaling.capacity.requestsPerSecond must be more than 0",
                }
            ]
        },
    )

    @field_validator("requests_per_second")
    @classmethod
    def _positive(cls, value: str | None) -> str | None:
        if value is not None and parse_quantity(value) <= 0:
            raise ValueError("spec.scaling.capacity.requestsPerSecond must be more than 0")
        return value

    output_tokens_per_second: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="Output tokens per second one replica serves.",
    )
    prompt_tokens_per_second: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description="Prompt tokens per second one replica served in the same load test (vllm "
        "bench serve: total token throughput less output token throughput); the token capacity "
        "then follows the observed prompt and output lengths.",
    )

    @model_validator(mode="after")
    def _prompts_with_their_load_test(self) -> CapacitySpec:
        if self.prompt_tokens_per_second is not None and (
            self.requests_per_second is None or self.output_tokens_per_second is None
        ):
            raise ValueError(
                "spec.scaling.capacity.promptTokensPerSecond needs requestsPerSecond and "
                "outputTokensPerSecond from the same load test"
            )
        return self


class ScalingRules(SpecModel):
    """How fast replicas may be added or removed (Kubernetes HPA ``behavior`` semantics).

    In one period the count may change by the larger of ``maxReplicasPerStep`` and
    ``maxPercentPerStep`` of the count at the period's start (HPA's ``selectPolicy: Max``).
    """

    max_replicas_per_step: int = Field(
        ge=1, le=1000, description="Most replicas added or removed in one period."
    )
    max_percent_per_step: int = Field(
        ge=1,
        le=1000,
        description="Most replicas changed in one period, as percent of the count at the "
        "period's start; the larger of this and maxReplicasPerStep applies.",
    )
    period_seconds: int = Field(ge=1, le=1800, description="Length of a period.")
    stabilization_window_seconds: int = Field(
        ge=0,
        le=3600,
        description="Act on the most conservative recommendation of this window: scale-up "
        "to the lowest, scale-down to the highest.",
    )


_SCALE_UP_DEFAULT = ScalingRules.model_validate({
    "maxReplicasPerStep": 4, "maxPercentPerStep": 100, "periodSeconds": 15,
    "stabilizationWindowSeconds": 0,
})  # fmt: skip
_SCALE_DOWN_DEFAULT = ScalingRules.model_validate({
    "maxReplicasPerStep": 4, "maxPercentPerStep": 10, "periodSeconds": 60,
    "stabilizationWindowSeconds": 300,
})  # fmt: skip


#: Shortest recurring cycle the season learns: below it a cycle is within a cold start or two.
MIN_SEASON_PERIOD_SECONDS = 600
_SEASON_PERIOD_MESSAGE = (
    "spec.scaling.seasonPeriodSeconds must be 0 (no season) or at least "
    f"{MIN_SEASON_PERIOD_SECONDS}"
)


class ScalingSpec(SpecModel):
    """The autoscaler: bounds, policy, SLO and limits."""

    model_config = with_rules(
        SpecModel.model_config,
        ValidationRule(
            # The API server also checks the rule against the schema's default for
            # spec.scaling ({}), where the key is absent until defaulting fills it in.
            rule=f"!has(self.seasonPeriodSeconds) || self.seasonPeriodSeconds == 0 || "
            f"self.seasonPeriodSeconds >= {MIN_SEASON_PERIOD_SECONDS}",
            message=_SEASON_PERIOD_MESSAGE,
            field_path=".seasonPeriodSeconds",
        ),
    )

    min_replicas: int = Field(default=1, ge=1, le=1000, description="Fewest replicas.")
    max_replicas: int = Field(default=8, ge=1, le=1000, description="Most replicas.")
    policy: Literal["predictive", "reactive", "fixed"] = Field(
        default="predictive",
        description="predictive: forecast demand over the cold start and scale ahead of it; "
        "reactive: the same without forecasting; fixed: no autoscaling, spec.replicas rules.",
    )
    mode: Literal["auto", "recommend"] = Field(
        default="auto",
        description="auto: apply decisions; recommend: only record them in status and Events.",
    )
    interval_seconds: int = Field(
        default=15, ge=5, le=600, description="Seconds between two scaling decisions."
    )
    cold_start_seconds: int = Field(
        default=180,
        ge=0,
        le=7200,
        description="Expected seconds from pod creation to Ready; seeds the learned value.",
    )
    season_period_seconds: int = Field(
        default=86400,
        ge=0,
        le=2_419_200,
        description="Length of the traffic's recurring cycle: a day (the default), a week "
        "(604800), a batch job's period; 0: none. A rise that came at this time of the cycle "
        "in each of the last two cycles is provisioned for a cold start before it comes again.",
    )
    slo: SloSpec = Field(default_factory=SloSpec, description="Latency targets.")
    capacity: CapacitySpec = Field(
        default_factory=CapacitySpec, description="Per-replica capacity seeds."
    )
    scale_up: ScalingRules = Field(
        default=_SCALE_UP_DEFAULT, description="Scale-up limits (fast by default)."
    )
    scale_down: ScalingRules = Field(
        default=_SCALE_DOWN_DEFAULT, description="Scale-down limits (slow, stabilized)."
    )

    @model_validator(mode="after")
    def _season_period_is_a_cycle(self) -> ScalingSpec:
        period = self.season_period_seconds
        if period and period < MIN_SEASON_PERIOD_SECONDS:
            raise ValueError(_SEASON_PERIOD_MESSAGE)
        return self


class LLMDeploymentSpec(SpecModel):
    """Desired state of an LLMDeployment."""

    model_config = with_rules(
        SpecModel.model_config,
        ValidationRule(
            rule="self.scaling.minReplicas <= self.scaling.maxReplicas",
            message="spec.scaling.minReplicas must be less than or equal to "
            "spec.scaling.maxReplicas",
            field_path=".scaling.minReplicas",
        ),
        ValidationRule(
            rule="!has(self.replicas) || (self.replicas >= self.scaling.minReplicas "
            "&& self.replicas <= self.scaling.maxReplicas)",
            message="spec.replicas must be within spec.scaling.minReplicas and "
            "spec.scaling.maxReplicas",
            field_path=".replicas",
        ),
        ValidationRule(
            rule="!has(self.engine.tensorParallelSize) || "
            "self.engine.tensorParallelSize <= self.resources.gpuCount",
            message="spec.engine.tensorParallelSize must not exceed spec.resources.gpuCount",
            field_path=".engine.tensorParallelSize",
        ),
        ValidationRule(
            rule="!has(self.engine.tensorParallelSize) || "
            "self.engine.tensorParallelSize * self.engine.pipelineParallelSize "
            "== self.resources.gpuCount || (self.engine.allowIdleGpus && "
            "self.engine.tensorParallelSize * self.engine.pipelineParallelSize "
            "< self.resources.gpuCount)",
            message=PARALLELISM_MESSAGE,
            field_path=".engine.tensorParallelSize",
        ),
        ValidationRule(
            rule="has(self.engine.tensorParallelSize) || "
            "self.resources.gpuCount % self.engine.pipelineParallelSize == 0",
            message="spec.resources.gpuCount must be a multiple of "
            "spec.engine.pipelineParallelSize when tensorParallelSize is unset",
            field_path=".engine.pipelineParallelSize",
        ),
    )

    model: ModelSpec = Field(description="The model to serve.")
    engine: EngineSpec = Field(default_factory=EngineSpec, description="vLLM settings.")
    resources: ResourcesSpec = Field(
        default_factory=ResourcesSpec, description="Per-replica compute."
    )
    placement: PlacementSpec = Field(default_factory=PlacementSpec, description="Node selection.")
    pod_metadata: PodMetadata = Field(
        default_factory=PodMetadata, description="Extra pod labels and annotations."
    )
    service: ServiceSpec = Field(default_factory=ServiceSpec, description="Service settings.")
    replicas: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Replica count when scaling.policy is fixed (also the scale subresource); "
        "with autoscaling on, an external write here is reported, not obeyed.",
    )
    scaling: ScalingSpec = Field(default_factory=ScalingSpec, description="Autoscaling.")

    @model_validator(mode="after")
    def _cross_field(self) -> LLMDeploymentSpec:
        s = self.scaling
        if s.min_replicas > s.max_replicas:
            raise ValueError(
                "spec.scaling.minReplicas must be less than or equal to spec.scaling.maxReplicas"
            )
        if self.replicas is not None and not s.min_replicas <= self.replicas <= s.max_replicas:
            raise ValueError(
                "spec.replicas must be within spec.scaling.minReplicas and spec.scaling.maxReplicas"
            )
        engine, gpus = self.engine, self.resources.gpu_count
        if engine.tensor_parallel_size is not None:
            if engine.tensor_parallel_size > gpus:
                raise ValueError(
                    "spec.engine.tensorParallelSize must not exceed spec.resources.gpuCount"
                )
            used = engine.tensor_parallel_size * engine.pipeline_parallel_size
            if used > gpus or (used < gpus and not engine.allow_idle_gpus):
                raise ValueError(PARALLELISM_MESSAGE)
        elif gpus % engine.pipeline_parallel_size != 0:
            raise ValueError(
                "spec.resources.gpuCount must be a multiple of "
                "spec.engine.pipelineParallelSize when tensorParallelSize is unset"
            )
        return self

    @property
    def tensor_parallel_size(self) -> int:
        """Tensor parallelism: as set, else every GPU over the pipeline stages."""
        explicit = self.engine.tensor_parallel_size
        return explicit or self.resources.gpu_count // self.engine.pipeline_parallel_size

    @property
    def served_name(self) -> str:
        """The model name clients send."""
        return self.model.served_name or self.model.name
