"""Every policy the benchmark runs, as (policy, variant, knob, values), and how each is built.

One documented procedure configures every target-based peer, the one an SRE follows: load
one replica with the trace's own request mix (``sizing``), find the highest arrival rate at
which it still meets the TTFT SLO, and set the per-pod target at a share ``u`` of that rate
(``utilization``): directly for rate triggers (KEDA on the request rate), and as the
requests one replica holds in flight at ``u`` times that rate for concurrency targets (HPA
on in-flight, KPA, PHPA; measured by the same load test, Little's law). Targets sit below
the latency cliff (the in-flight count climbs steeply near 100 %), and the sweep shows each
peer over its whole target range, so no single setting decides a comparison.

Every main variant gets the same scale-down: stabilization 300 s and at most 4 pods per
60 s (``hpa.UNIFORM_BEHAVIOR``, ``limits.ScaleDownLimiter``, forescale's ``scaleDown``
spec). The ``defaults`` variants run each autoscaler with its own documented defaults
instead, at one knob value; ``keda``'s ``tutorial`` variant is the vLLM production stack's
waiting-queue trigger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forescale.policy.parameters import PolicyKind
from forescale.sim import bench_spec, scenarios
from forescale.sim.peers.dynamo import DynamoPlanner
from forescale.sim.peers.forescale import ForescaleScaler
from forescale.sim.peers.hpa import UNIFORM_BEHAVIOR, HpaBehavior, HpaScaler
from forescale.sim.peers.keda import KedaScaler
from forescale.sim.peers.kpa import KpaScaler
from forescale.sim.peers.limits import ScaleDownLimiter
from forescale.sim.peers.phpa import PhpaScaler
from forescale.sim.peers.provisioning import FixedScaler
from forescale.sim.scaler import Scaler

if TYPE_CHECKING:
    from forescale.sim.bench import BenchConfig, PreparedTrace

#: Per-pod targets as a share of one replica's within-SLO rate.
UTILIZATIONS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
#: The target a ``defaults`` variant (and the table without ``--sweep``) uses: 70 %, the
#: utilization Knative applies by default and a common HPA target.
DEFAULT_UTILIZATION = 0.7
#: Knative's default ``target-utilization-percentage``.
KPA_UTILIZATION = 0.7

Builder = Callable[[float, "PreparedTrace", "BenchConfig"], Scaler]


@dataclass(frozen=True)
class Variant:
    policy: str
    variant: str
    """'' for the main (uniformly configured) variant."""
    knob: str
    values: tuple[float, ...]
    default: float
    build: Builder
    description: str

    @property
    def label(self) -> str:
        return f"{self.policy}:{self.variant}" if self.variant else self.policy


def _inflight(u: float, prepared: PreparedTrace) -> float:
    return prepared.sizing.inflight_at(u)


def _rate(u: float, prepared: PreparedTrace) -> float:
    return u * prepared.sizing.capacity.slo_requests_per_second


def _forescale(policy: str, uniform: bool, knob: bench_spec.Knob) -> Builder:
    def build(value: float, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
        document = forescale_document(policy, value, prepared, config, uniform, knob)
        name = policy if uniform else f"{policy}:defaults"
        return ForescaleScaler(bench_spec.parameters(document), name=name)

    return build


def forescale_document(  # noqa: PLR0917 (each a different input of the spec)
    policy: str,
    value: float,
    prepared: PreparedTrace,
    config: BenchConfig,
    uniform: bool,
    knob: bench_spec.Knob = bench_spec.FORESCALE_KNOB,
) -> dict[str, object]:
    kind = PolicyKind.PREDICTIVE if policy == "forescale" else PolicyKind.REACTIVE
    return bench_spec.spec_document(
        policy=kind.value,
        knob_value=value,
        capacity=prepared.sizing.capacity,
        cold_start_seconds=config.cold_start_seconds,
        slo_ttft_seconds=config.slo_ttft_seconds,
        max_replicas=config.max_replicas,
        uniform_scale_down=uniform,
        knob=knob,
        season_period_seconds=scenarios.cycle_seconds(
            prepared.sizing.spec, config.scenario_seconds
        ),
    )


def _hpa(behavior: HpaBehavior) -> Builder:
    def build(u: float, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
        return HpaScaler(1, config.max_replicas, _inflight(u, prepared), behavior=behavior)

    return build


def _keda_rate(behavior: HpaBehavior) -> Builder:
    def build(u: float, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
        return KedaScaler(
            1, config.max_replicas, _rate(u, prepared), query="arrival_rate", behavior=behavior
        )

    return build


def _keda_tutorial(threshold: float, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
    return KedaScaler(1, config.max_replicas, threshold, query="waiting")


def _kpa(uniform: bool) -> Builder:
    def build(u: float, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
        # The annotation target is set so that target x 70 % is the per-pod in-flight count.
        target = _inflight(u, prepared) / KPA_UTILIZATION
        kpa = KpaScaler(1, config.max_replicas, target_concurrency=target)
        return ScaleDownLimiter(kpa) if uniform else kpa

    return build


def _phpa(behavior: HpaBehavior) -> Builder:
    def build(u: float, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
        return PhpaScaler(
            1,
            config.max_replicas,
            _inflight(u, prepared),
            model="linear",
            look_ahead_seconds=config.cold_start_seconds + config.control_interval_seconds,
            behavior=behavior,
        )

    return build


def _dynamo(uniform: bool) -> Builder:
    def build(margin: float, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
        capacity = prepared.sizing.capacity
        planner = DynamoPlanner(
            1,
            config.max_replicas,
            requests_per_second_at_slo=capacity.slo_requests_per_second * margin,
        )
        return ScaleDownLimiter(planner) if uniform else planner

    return build


def _fixed(share: float, prepared: PreparedTrace, config: BenchConfig) -> Scaler:
    return FixedScaler(max(1, round(share * prepared.peak_need)))


_F = bench_spec.FORESCALE_KNOB
_R = bench_spec.REACTIVE_KNOB
DYNAMO_MARGINS: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 1.0)

VARIANTS: tuple[Variant, ...] = (
    Variant(
        "forescale", "", _F.name, _F.values, _F.default, _forescale("forescale", True, _F),
        f"the operator's predictive policy from an LLMDeployment spec; knob {_F.spec_path}",
    ),
    Variant(
        "forescale", "defaults", _F.name, (_F.default,), _F.default,
        _forescale("forescale", False, _F), "CRD default scaleDown (1 pod or 10 % per 60 s, 300 s)",
    ),
    Variant(
        "reactive", "", _R.name, _R.values, _R.default, _forescale("reactive", True, _R),
        "forescale's policy without the forecast (spec.scaling.policy: reactive)",
    ),
    Variant(
        "hpa", "", "utilization", UTILIZATIONS, DEFAULT_UTILIZATION, _hpa(UNIFORM_BEHAVIOR),
        "HPA, Pods metric in-flight requests per pod (running + waiting), AverageValue",
    ),
    Variant(
        "hpa", "defaults", "utilization", (DEFAULT_UTILIZATION,), DEFAULT_UTILIZATION,
        _hpa(HpaBehavior()), "Kubernetes' default behavior (scale-down 100 % per 15 s, 300 s)",
    ),
    Variant(
        "keda", "", "utilization", UTILIZATIONS, DEFAULT_UTILIZATION,
        _keda_rate(UNIFORM_BEHAVIOR),
        "KEDA Prometheus trigger on the request rate, threshold = per-pod rate (HPA/KEDA rate)",
    ),
    Variant(
        "keda", "defaults", "utilization", (DEFAULT_UTILIZATION,), DEFAULT_UTILIZATION,
        _keda_rate(HpaBehavior()), "rate trigger with the HPA's default behavior",
    ),
    Variant(
        "keda", "tutorial", "threshold", (5.0,), 5.0, _keda_tutorial,
        "vLLM production-stack tutorial: vllm:num_requests_waiting, threshold 5, HPA defaults",
    ),
    Variant(
        "kpa", "", "utilization", UTILIZATIONS, DEFAULT_UTILIZATION, _kpa(True),
        "Knative KPA, concurrency, initial panic mode, uniform scale-down",
    ),
    Variant(
        "kpa", "defaults", "utilization", (DEFAULT_UTILIZATION,), DEFAULT_UTILIZATION,
        _kpa(False), "Knative defaults (no scale-down delay, max scale-down rate 2)",
    ),
    Variant(
        "phpa", "", "utilization", UTILIZATIONS, DEFAULT_UTILIZATION, _phpa(UNIFORM_BEHAVIOR),
        "Predictive HPA, Linear model looking one cold start ahead, max with HPA",
    ),
    Variant(
        "phpa", "defaults", "utilization", (DEFAULT_UTILIZATION,), DEFAULT_UTILIZATION,
        _phpa(HpaBehavior()), "Linear model with the HPA's default behavior",
    ),
    Variant(
        "dynamo", "", "margin", DYNAMO_MARGINS, 1.0, _dynamo(True),
        "NVIDIA Dynamo planner, throughput mode; knob: share of the per-replica SLO rate",
    ),
    Variant(
        "dynamo", "defaults", "margin", (1.0,), 1.0, _dynamo(False),
        "Dynamo planner as documented: 180 s adjustment interval, no scale-down limits",
    ),
    Variant(
        "fixed", "", "share_of_peak", (0.8, 0.9, 1.0), 1.0, _fixed,
        "fixed fleet at a share of the trace's peak need (1.0: the peak)",
    ),
)  # fmt: skip

BY_LABEL: dict[str, Variant] = {v.label: v for v in VARIANTS}
#: Policies (families) a user can name with --policies, in table order.
POLICIES: tuple[str, ...] = (*dict.fromkeys(v.policy for v in VARIANTS), "oracle")


def variants_of(policies: tuple[str, ...] | list[str], sweep: bool) -> list[Variant]:
    """The variants to run: every variant of each policy with --sweep, else the main one."""
    chosen = [v for v in VARIANTS if v.policy in policies]
    return chosen if sweep else [v for v in chosen if not v.variant]
