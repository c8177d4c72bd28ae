"""``forescale sandbox compare``: forescale and the real KEDA + HPA on the same traffic.

Two identical LLMDeployments in two namespaces, each with its own simulated fleet (one
sim-server per pod) and its own router, receive the same compressed trace at the same
time. One is scaled by forescale (``policy: predictive``). The other runs with
``policy: fixed`` -- forescale then only renders what ``spec.replicas`` says -- and is
handed to a KEDA ``ScaledObject`` whose Prometheus trigger reads the per-deployment arrival
rate with an ``AverageValue`` target per pod; KEDA creates the HPA, the HPA controller in
kube-controller-manager writes ``spec.replicas`` through the LLMDeployment's scale
subresource. Optionally a third contender uses the vLLM production-stack tutorial's
trigger (``vllm:num_requests_waiting`` summed, threshold 5).

The KEDA target is the benchmark's: a share (``keda_target_share``) of the per-pod arrival
rate one replica sustains within the TTFT SLO, measured for the trace's request mix on the
shared replica model by ``forescale.sim.sizing`` (or an explicit ``keda_target``). Both
contenders get the same scale-down stabilization window.

Then the same compressed trace is replayed in the fleet simulator with the simulated
peers at the same settings (``compare_fidelity``), and the replica timelines of the real
and simulated controllers are compared. Files go to ``out_dir``: summary.json/.txt,
timeline.jsonl, requests-<contender>.jsonl, trace.csv, compare.png, logs/.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from forescale.api import identity
from forescale.api.spec import LLMDeploymentSpec
from forescale.metrics import promql
from forescale.sandbox import binaries
from forescale.sandbox.compare_report import (
    SUMMARY_HEADER,
    ContenderSummary,
    Sample,
    summarize,
    timeline_difference,
)
from forescale.sandbox.gpu_nodes import GpuNodePool
from forescale.sandbox.keda import Keda
from forescale.sandbox.kubeapi import ApiError, KubeApi
from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.processes import ComponentError, SupervisedProcess, wait_until
from forescale.sandbox.routing import Backend, Router
from forescale.sandbox.stack import FleetStack, fleet_stack
from forescale.sim import bench_spec
from forescale.sim.peers.hpa import HpaBehavior
from forescale.sim.replica_profiles import ReplicaProfile, get_profile
from forescale.sim.sizing import ReplicaCapacity, measure
from forescale.sim.traces import Trace, load_trace, peak_rate, scale_rate

Echo = Callable[[str], None]

DEFAULT_TRACE = "../shared/traces/azure-llm-2023-code.csv"
MODEL = "llama"
PROFILE = "llama-3.1-8b-h100"
#: The demo's replica: ~30 ms per decode step and 4 sequences, so a few req/s saturate it.
PROFILE_OVERRIDES: dict[str, Any] = {"decode_base_seconds": 0.03, "max_num_seqs": 4}
OPERATOR_RATE_WINDOW_SECONDS = 15.0
SCALE_DOWN_PERIOD_SECONDS = 15
HPA_SYNC_SECONDS = 15.0
"""kube-controller-manager's default --horizontal-pod-autoscaler-sync-period."""


@dataclass(frozen=True)
class CompareSettings:
    """Everything one comparison depends on (the CLI's options)."""

    trace: Path = Path(DEFAULT_TRACE)
    duration_seconds: float = 900.0
    """The whole source trace is compressed in time to this length."""
    peak_replicas: float = 6.0
    """Request rate scaled so the busiest 30 s need this many replicas at the planning rate."""
    load_seconds: float = 60.0
    """Simulated model load (pod scheduled to Ready)."""
    slo_ttft_ms: int = 1000
    max_replicas: int = 10
    keda_target: float | None = None
    """Per-pod arrival rate target (req/s) of the ScaledObject; None: the share below."""
    keda_target_share: float = 0.9
    """Target as a share of the per-pod rate one replica sustains within the SLO."""
    keda_window_seconds: float = 30.0
    scale_down_stabilization_seconds: int = 60
    scale_down_max_step: int = 2
    """Both contenders remove at most this many replicas per ``SCALE_DOWN_PERIOD_SECONDS``."""
    tutorial: bool = False
    """Also run the production-stack tutorial's trigger (waiting > 5) as a third contender."""
    sample_seconds: float = 5.0
    seed: int = 0
    nodes: int = 4
    gpus_per_node: int = 8
    out_dir: Path = Path("out/compare")
    simulate: bool = True


@dataclass
class Contender:
    """One side of the comparison."""

    name: str
    namespace: str
    label: str
    keda_query: str | None = None
    keda_threshold: float | None = None
    router: Router | None = None
    loadgen: SupervisedProcess | None = None
    samples: list[Sample] = field(default_factory=list)
    last_requests: int = 0

    @property
    def policy(self) -> str:
        return "predictive" if self.keda_query is None else "fixed"


@dataclass(frozen=True)
class PreparedTrace:
    trace: Trace
    capacity: ReplicaCapacity
    rate_factor: float
    time_compression: float
    keda_target: float


# -- the trace and the sizing (pure except the file reads) -------------------------------------


def replica_profile() -> ReplicaProfile:
    return get_profile(PROFILE, **PROFILE_OVERRIDES)


def prepare_trace(settings: CompareSettings, profile: ReplicaProfile) -> PreparedTrace:
    """The source trace compressed to ``duration_seconds`` and rate-scaled to the peak need."""
    source = load_trace(settings.trace, skip_bad_rows=True)
    if len(source) == 0:
        raise ValueError(f"{settings.trace} has no requests")
    compression = max(source.duration, 1.0) / settings.duration_seconds
    compressed = Trace(
        name=source.name,
        arrivals=source.arrivals / compression,
        prompt_tokens=source.prompt_tokens,
        output_tokens=source.output_tokens,
        skipped_rows=source.skipped_rows,
    )
    capacity = measure(profile, compressed, settings.slo_ttft_ms / 1000, settings.seed)
    factor = (
        settings.peak_replicas * capacity.planning_requests_per_second / peak_rate(compressed, 30.0)
    )
    scaled = scale_rate(compressed, factor, settings.seed, jitter_seconds=2.0)
    target = settings.keda_target or round(
        settings.keda_target_share * capacity.slo_requests_per_second, 2
    )
    return PreparedTrace(scaled, capacity, factor, compression, target)


def write_trace_csv(trace: Trace, path: Path) -> Path:
    """The replayed trace in loadgen's format (time column in seconds)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
        for at, prompt, output in zip(
            trace.arrivals.tolist(),
            trace.prompt_tokens.tolist(),
            trace.output_tokens.tolist(),
            strict=True,
        ):
            writer.writerow([f"{at:.4f}", prompt, output])
    return path


# -- the objects (pure) -------------------------------------------------------------------------


def llmdeployment(
    contender: Contender, settings: CompareSettings, capacity: ReplicaCapacity
) -> dict[str, Any]:
    """The LLMDeployment of a contender: identical but for the policy."""
    spec: dict[str, Any] = {
        "model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "servedName": MODEL},
        "engine": {"maxNumSeqs": int(PROFILE_OVERRIDES["max_num_seqs"])},
        "resources": {"gpuCount": 1},
        "podMetadata": {
            "annotations": {
                identity.ANNOTATION_SIMULATED_LOAD: f"{settings.load_seconds:g}",
                "forescale.io/simulated-profile": PROFILE,
                "forescale.io/simulated-profile-overrides": ",".join(
                    f"{k}={v}" for k, v in PROFILE_OVERRIDES.items() if k != "max_num_seqs"
                ),
            }
        },
        "scaling": {
            "minReplicas": 1,
            "maxReplicas": settings.max_replicas,
            "policy": contender.policy,
            "intervalSeconds": 5,
            "coldStartSeconds": math.ceil(settings.load_seconds + 5),
            "slo": {"ttftP95Milliseconds": settings.slo_ttft_ms},
            # Seeded as the benchmark seeds forescale: what one replica sustains within the
            # SLO. The saturated rates seeded here until round 35 (4.14 req/s against 1.69
            # within the SLO) sized the opening burst at 2.4x what a replica serves.
            "capacity": bench_spec.seeded_capacity(capacity),
            # Scale-up keeps the defaults, which equal HPA's (4 pods or 100 % per 15 s).
            "scaleDown": {
                "maxReplicasPerStep": settings.scale_down_max_step,
                "maxPercentPerStep": 100,
                "periodSeconds": SCALE_DOWN_PERIOD_SECONDS,
                "stabilizationWindowSeconds": settings.scale_down_stabilization_seconds,
            },
        },
    }
    if contender.keda_query is not None:
        spec["replicas"] = 1
    return {
        "apiVersion": f"{identity.GROUP}/{identity.VERSION}",
        "kind": identity.KIND,
        "metadata": {"name": MODEL, "namespace": contender.namespace},
        "spec": spec,
    }


def keda_behavior(settings: CompareSettings) -> HpaBehavior:
    """The HPA behavior of the ScaledObject: Kubernetes' default scale-up (the same as
    forescale's), and forescale's scale-down window; the pod limit of scale-down is
    ``settings.scale_down_max_step`` (a ``Pods`` policy, see ``scaled_object``)."""
    return HpaBehavior(
        scale_down_stabilization_seconds=settings.scale_down_stabilization_seconds,
        scale_down_percent=100.0,
        scale_down_period_seconds=SCALE_DOWN_PERIOD_SECONDS,
    )


def arrival_rate_query(namespace: str, name: str, window_seconds: float) -> str:
    """The operator's own arrival-rate PromQL, for one LLMDeployment."""
    query = promql.arrival_rate(window_seconds, None)
    return query.replace(
        f'{promql.DEPLOYMENT_LABEL}!=""',
        f'namespace="{namespace}", {promql.DEPLOYMENT_LABEL}="{name}"',
    )


def waiting_query(namespace: str) -> str:
    """The production-stack tutorial's trigger query, for one namespace."""
    return f'sum(vllm:num_requests_waiting{{namespace="{namespace}"}})'


def scaled_object(
    contender: Contender, settings: CompareSettings, prometheus_url: str
) -> dict[str, Any]:
    """The ScaledObject that hands a contender's LLMDeployment to KEDA + HPA."""
    behavior = keda_behavior(settings)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": MODEL, "namespace": contender.namespace},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": f"{identity.GROUP}/{identity.VERSION}",
                "kind": identity.KIND,
                "name": MODEL,
            },
            "pollingInterval": 15,
            "minReplicaCount": 1,
            "maxReplicaCount": settings.max_replicas,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": int(
                                behavior.scale_down_stabilization_seconds
                            ),
                            "policies": [
                                {
                                    "type": "Pods",
                                    "value": settings.scale_down_max_step,
                                    "periodSeconds": SCALE_DOWN_PERIOD_SECONDS,
                                }
                            ],
                        }
                    }
                }
            },
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": prometheus_url,
                        "query": contender.keda_query,
                        "threshold": f"{contender.keda_threshold:g}",
                    },
                }
            ],
        },
    }


def contenders(settings: CompareSettings, keda_target: float) -> list[Contender]:
    found = [
        Contender("forescale", "cmp-forescale", "forescale, policy predictive"),
        Contender(
            "keda",
            "cmp-keda",
            f"KEDA + HPA, arrival rate per pod, target {keda_target:g} req/s",
            keda_query=arrival_rate_query("cmp-keda", MODEL, settings.keda_window_seconds),
            keda_threshold=keda_target,
        ),
    ]
    if settings.tutorial:
        found.append(
            Contender(
                "tutorial",
                "cmp-tutorial",
                "KEDA + HPA, tutorial: vllm:num_requests_waiting > 5",
                keda_query=waiting_query("cmp-tutorial"),
                keda_threshold=5.0,
            )
        )
    return found


# -- the run --------------------------------------------------------------------------------------


def _namespace_backends(stack: FleetStack, namespace: str) -> Callable[[str | None], list[Backend]]:
    def backends(model: str | None) -> list[Backend]:
        return [b for b in stack.bridge.backends(model) if b.namespace == namespace]

    return backends


def _get(api: KubeApi, path: str) -> dict[str, Any]:
    try:
        return api.get(path)
    except (ApiError, OSError):
        return {}


def sample(api: KubeApi, contender: Contender, t: float, elapsed: float) -> Sample:
    deployment = _get(api, f"/apis/apps/v1/namespaces/{contender.namespace}/deployments/{MODEL}")
    spec, status = deployment.get("spec", {}) or {}, deployment.get("status", {}) or {}
    count = contender.router.model_stats(MODEL).requests if contender.router else 0
    offered = (count - contender.last_requests) / max(elapsed, 1e-6)
    contender.last_requests = count
    return Sample(
        t=t,
        desired=int(spec.get("replicas") or 0),
        existing=int(status.get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        offered_rps=round(offered, 3),
    )


def loadgen_argv(
    router_url: str, trace_csv: Path, requests: int, settings: CompareSettings, out: Path
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "forescale",
        "loadgen",
        f"--target={router_url}",
        f"--trace={trace_csv}",
        "--trace-columns=TIMESTAMP,ContextTokens,GeneratedTokens",
        f"--model={MODEL}",
        f"--max-seconds={settings.duration_seconds:g}",
        f"--max-requests={requests + 10}",
        "--drain-seconds=30",
        f"--out={out}",
    ]


@contextlib.contextmanager
def _running(processes: list[SupervisedProcess]) -> Iterator[None]:
    try:
        for process in processes:
            process.start()
        yield
    finally:
        for process in processes:
            process.stop(timeout=10)


def setup(
    stack: FleetStack,
    settings: CompareSettings,
    prepared: PreparedTrace,
    sides: list[Contender],
    *,
    repo: Path,
    echo: Echo,
) -> None:
    """CRDs, namespaces, the operator, LLMDeployments, ScaledObjects; waits for one Ready
    replica per contender and for KEDA's HPA to exist."""
    from forescale.sandbox.demo import create_namespace, install_crds  # noqa: PLC0415

    cluster = stack.cluster
    install_crds(cluster, repo)
    for side in sides:
        create_namespace(cluster, side.namespace)
        side.router = Router(_namespace_backends(stack, side.namespace))
        cluster.add(side.router)
    cluster.add(
        OperatorProcess(
            [s.namespace for s in sides],
            stack.prometheus.url,
            rate_window_seconds=OPERATOR_RATE_WINDOW_SECONDS,
            metrics_port=stack.operator_metrics_port,
        )
    )
    manifests = [llmdeployment(s, settings, prepared.capacity) for s in sides]
    manifests += [
        scaled_object(s, settings, stack.prometheus.url) for s in sides if s.keda_query is not None
    ]
    (settings.out_dir / "objects.json").write_text(json.dumps(manifests, indent=2) + "\n")
    cluster.kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        input_text="\n---\n".join(json.dumps(m) for m in manifests),
    )
    for side in sides:
        echo(f"  {side.name:<10} namespace {side.namespace}: {side.label}")
    api = cluster.admin_api()
    started = time.monotonic()
    for side in sides:
        wait_until(
            lambda side=side: bool(_namespace_backends(stack, side.namespace)(MODEL)),  # type: ignore[misc]
            timeout=max(180.0, 4 * settings.load_seconds),
            what=f"a Ready replica in {side.namespace}",
            watch=cluster.running_processes(),
            interval=0.5,
        )
        if side.keda_query is not None:
            wait_until(
                lambda side=side: bool(  # type: ignore[misc]
                    _get(
                        api,
                        f"/apis/autoscaling/v2/namespaces/{side.namespace}/"
                        f"horizontalpodautoscalers/keda-hpa-{MODEL}",
                    )
                ),
                timeout=120,
                what=f"KEDA's HPA in {side.namespace}",
                watch=cluster.running_processes(),
            )
    echo(
        "one replica Ready per contender and KEDA's HPA created after "
        f"{time.monotonic() - started:.0f} s"
    )


def drive(
    stack: FleetStack,
    settings: CompareSettings,
    prepared: PreparedTrace,
    sides: list[Contender],
    echo: Echo,
) -> None:
    """Replay the trace into every contender at once; sample the timelines until done."""
    cluster = stack.cluster
    out = settings.out_dir
    trace_csv = write_trace_csv(prepared.trace, out / "trace.csv")
    api = cluster.admin_api()
    for side in sides:
        assert side.router is not None
        side.loadgen = SupervisedProcess(
            f"loadgen-{side.name}",
            loadgen_argv(
                side.router.url,
                trace_csv,
                len(prepared.trace),
                settings,
                out / f"requests-{side.name}.jsonl",
            ),
            cluster.logs_dir / f"loadgen-{side.name}.log",
        )
    loadgens = [s.loadgen for s in sides if s.loadgen is not None]
    deadline = settings.duration_seconds + 30 + 120
    header = "   t(s) " + "  ".join(f"{s.name[:9]:>9} d/e/r" for s in sides)
    echo(header)
    with (out / "timeline.jsonl").open("w") as jsonl, _running(loadgens):
        start = last = time.monotonic()
        next_at = start
        while any(p.running() for p in loadgens):
            now = time.monotonic()
            if now - start > deadline:
                raise ComponentError(f"loadgen still running after {deadline:.0f} s")
            if now < next_at:
                time.sleep(min(0.5, next_at - now))
                continue
            next_at += settings.sample_seconds
            cluster.check()
            stack.bridge.check()
            t = now - start
            cells = []
            for side in sides:
                row = sample(api, side, t, now - last)
                side.samples.append(row)
                jsonl.write(json.dumps({"contender": side.name, **asdict(row)}) + "\n")
                cells.append(f"{row.desired:>5}/{row.existing}/{row.ready:<3}")
            last = now
            jsonl.flush()
            if len(side.samples) % 6 == 1:
                echo(f"{t:7.0f} " + "  ".join(f"{c:>15}" for c in cells))
        for process in loadgens:
            if process.poll() not in (0, None):
                raise process.failure(f"exited with code {process.poll()}")


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def simulated_timelines(
    settings: CompareSettings,
    prepared: PreparedTrace,
    profile: ReplicaProfile,
    sides: list[Contender],
) -> dict[str, Any]:
    """Replay in the fleet simulator; the fidelity figures of each simulated contender."""
    from forescale.sandbox.compare_fidelity import replay  # noqa: PLC0415

    spec = LLMDeploymentSpec.model_validate(
        llmdeployment(sides[0], settings, prepared.capacity)["spec"]
    )
    simulated = replay(
        prepared.trace,
        spec,
        profile,
        keda_target=prepared.keda_target,
        keda_behavior=keda_behavior(settings),
        keda_scale_down_pods=settings.scale_down_max_step,
        keda_window_seconds=settings.keda_window_seconds,
        operator_window_seconds=OPERATOR_RATE_WINDOW_SECONDS,
        load_seconds=settings.load_seconds,
        hpa_sync_seconds=HPA_SYNC_SECONDS,
        seed=settings.seed,
    )
    slo = settings.slo_ttft_ms / 1000
    result: dict[str, Any] = {}
    by_name = {s.name: s for s in sides}
    for name, run in (("keda", simulated.keda), ("forescale", simulated.forescale)):
        side = by_name[name]
        real = ([s.t for s in side.samples], [float(s.desired) for s in side.samples])
        sim = (run.timeline.time.tolist(), run.timeline.desired.tolist())
        ttft = run.ttft
        attained = float((ttft <= slo).sum()) / len(ttft) if len(ttft) else 0.0
        diff = timeline_difference(real, sim, 5.0, settings.duration_seconds)
        result[name] = {
            "sim_times": sim[0],
            "sim_desired": sim[1],
            "sim_slo_attainment": attained,
            "sim_gpu_minutes": run.gpu_seconds / 60,
            "sim_scale_events": run.scale_events,
            "replica_difference_median": diff.median,
            "replica_difference_p95": diff.p95,
            "within_one_replica_share": diff.share_within_one,
        }
    return result


def conclude(
    settings: CompareSettings,
    prepared: PreparedTrace,
    profile: ReplicaProfile,
    sides: list[Contender],
    echo: Echo,
) -> dict[str, Any]:
    """Summaries, fidelity, files and the PNG."""
    from forescale.sandbox.compare_report import plot  # noqa: PLC0415

    out = settings.out_dir
    slo = settings.slo_ttft_ms / 1000
    records = {s.name: read_records(out / f"requests-{s.name}.jsonl") for s in sides}
    summaries: dict[str, ContenderSummary] = {
        s.name: summarize(
            s.name, s.label, records=records[s.name], samples=s.samples, slo_seconds=slo
        )
        for s in sides
    }
    fidelity = simulated_timelines(settings, prepared, profile, sides) if settings.simulate else {}
    plot(
        out / "compare.png",
        {s.name: s.samples for s in sides},
        records,
        slo_seconds=slo,
        simulated={
            f"{n} sim": (f["sim_times"], f["sim_desired"])
            for n, f in fidelity.items()
            if n == "keda"
        },
        title=(
            f"{settings.trace.name} compressed to {settings.duration_seconds / 60:.0f} min, "
            f"{len(prepared.trace)} requests, model load {settings.load_seconds:g} s, "
            f"TTFT SLO {settings.slo_ttft_ms} ms"
        ),
    )
    lines = [SUMMARY_HEADER, *(summaries[s.name].line() for s in sides)]
    for name, f in fidelity.items():
        share = summaries[name].within_slo_share or 0.0
        lines.append(
            f"simulator vs real {name}: replica difference median "
            f"{f['replica_difference_median']:.1f}, "
            f"p95 {f['replica_difference_p95']:.1f}, within one replica "
            f"{f['within_one_replica_share'] * 100:.0f} % of the time; attainment "
            f"{f['sim_slo_attainment'] * 100:.2f} % simulated vs {share * 100:.2f} % real "
            f"({(f['sim_slo_attainment'] - share) * 100:+.2f} points)"
        )
    data = {
        "settings": {k: str(v) for k, v in asdict(settings).items()},
        "trace": {
            "requests": len(prepared.trace),
            "time_compression": prepared.time_compression,
            "rate_factor": prepared.rate_factor,
        },
        "replica": {
            "saturated_requests_per_second": prepared.capacity.saturated_requests_per_second,
            "slo_requests_per_second": prepared.capacity.slo_requests_per_second,
            "planning_requests_per_second": prepared.capacity.planning_requests_per_second,
        },
        "keda_target_per_pod": prepared.keda_target,
        "contenders": {
            n: {**asdict(s), "within_slo_share": s.within_slo_share} for n, s in summaries.items()
        },
        "fidelity": {
            n: {k: v for k, v in f.items() if not k.startswith("sim_times") and k != "sim_desired"}
            for n, f in fidelity.items()
        },
    }
    (out / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    for line in lines:
        echo(line)
    return data


def run_compare(
    settings: CompareSettings,
    echo: Echo,
    *,
    workdir: Path | None = None,
    on_ready: Callable[[FleetStack], None] | None = None,
) -> dict[str, Any]:
    """The whole comparison; stops everything it started before returning or raising."""
    repo = binaries.repo_root()
    if repo is None:
        raise ComponentError("cannot find the forescale checkout (hack/versions.env)")
    if not settings.trace.is_absolute():
        settings = replace(settings, trace=(repo / settings.trace).resolve())
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    profile = replica_profile()
    began = time.monotonic()
    prepared = prepare_trace(settings, profile)
    capacity = prepared.capacity
    echo(
        f"trace {settings.trace.name}: compressed x{prepared.time_compression:.2f} to "
        f"{settings.duration_seconds / 60:.0f} min, rate x{prepared.rate_factor:.3f}, "
        f"{len(prepared.trace)} requests; one replica: "
        f"{capacity.saturated_requests_per_second:.2f} "
        f"req/s saturated, {capacity.slo_requests_per_second:.2f} req/s within the "
        f"{settings.slo_ttft_ms} ms TTFT SLO; KEDA target {prepared.keda_target:g} req/s per pod "
        f"(sized in {time.monotonic() - began:.0f} s)"
    )
    sides = contenders(settings, prepared.keda_target)
    stack = fleet_stack(
        workdir=workdir,
        pool=GpuNodePool(count=settings.nodes, gpus_per_node=settings.gpus_per_node),
        default_load_seconds=settings.load_seconds,
        keep_workdir=workdir is not None,
    )
    stack.cluster.add(Keda())
    echo("starting the sandbox with KEDA (control plane, kwok, Prometheus, fleet, KEDA) ...")
    try:
        with stack.cluster as cluster:
            echo(
                f"sandbox up in {time.monotonic() - began:.0f} s; Prometheus {stack.prometheus.url}"
            )
            try:
                if on_ready is not None:
                    on_ready(stack)
                setup(stack, settings, prepared, sides, repo=repo, echo=echo)
                drive(stack, settings, prepared, sides, echo)
            finally:
                with contextlib.suppress(OSError):
                    cluster.copy_logs(settings.out_dir)
    finally:
        echo("sandbox stopped")
    data = conclude(settings, prepared, profile, sides, echo)
    echo(f"files in {settings.out_dir} (after {time.monotonic() - began:.0f} s)")
    return data
