"""``forescale sandbox demo``: the operator scaling a simulated vLLM fleet through a spike.

What a newcomer should see in a few minutes, on a laptop, with nothing faked inside the
operator: a real control plane with fake GPU nodes, a real Prometheus scraping one
simulated vLLM process per pod, the operator running as its own least-privilege user and
reading that Prometheus, and an open-loop load generator pushing a steady load, a spike
several times higher, and the steady load again through a router that balances over the
Ready replicas. While it runs, a timeline shows what the operator saw and decided; at the
end a summary tells how many requests met the TTFT SLO, how far the fleet scaled, and the
Events the operator wrote to explain itself; ``demo.png`` draws the run (``demo_figure``).

Bounded: the traffic lasts ``duration`` seconds, every wait has a deadline, and everything
stops at the end (``--keep`` leaves the cluster up for ``kubectl`` until Ctrl-C).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from forescale.api import identity
from forescale.sandbox import binaries
from forescale.sandbox.alertmanager_server import routed_alert_lines
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.demo_figure import plot_demo
from forescale.sandbox.gpu_nodes import GpuNodePool
from forescale.sandbox.kubeapi import ApiError, KubeApi
from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.processes import ComponentError, SupervisedProcess, wait_until
from forescale.sandbox.stack import FleetStack, fleet_stack

Echo = Callable[[str], None]

DEMO_MANIFEST = "manifests/samples/llmdeployment-demo.yaml"
SPIKE_START_SHARE = 0.3
"""The spike starts after this share of the traffic duration ..."""
SPIKE_LENGTH_SHARE = 0.35
"""... and lasts this share of it; the rest is the steady load again."""


@dataclass(frozen=True)
class DemoSettings:
    """Everything the demo run depends on (the CLI's options)."""

    duration_seconds: float = 240.0
    spike_factor: float = 5.0
    base_rate: float = 1.0
    prompt_tokens: int = 200
    output_tokens: int = 64
    sample_seconds: float = 5.0
    namespace: str = "demo"
    manifest: Path = Path(DEMO_MANIFEST)
    out_dir: Path = Path("out/demo")
    nodes: int = 4
    gpus_per_node: int = 8
    keep: bool = False
    seed: int = 1

    @property
    def spike_at(self) -> float:
        return round(self.duration_seconds * SPIKE_START_SHARE, 1)

    @property
    def spike_seconds(self) -> float:
        return round(self.duration_seconds * SPIKE_LENGTH_SHARE, 1)

    @property
    def peak_rate(self) -> float:
        return round(self.base_rate * self.spike_factor, 2)

    def load_curve(self) -> str:
        """The loadgen curve: steady, spike x factor, steady again."""
        return (
            f"spike:base={self.base_rate:g},peak={self.peak_rate:g},"
            f"at={self.spike_at:g},duration={self.spike_seconds:g}"
        )

    def max_requests(self) -> int:
        """A hard bound for loadgen: the expected count plus a wide Poisson margin."""
        base = self.base_rate * (self.duration_seconds - self.spike_seconds)
        expected = base + self.peak_rate * self.spike_seconds
        return math.ceil(expected * 1.5) + 50

    def phase(self, t: float) -> str:
        if t < self.spike_at:
            return "steady"
        if t < self.spike_at + self.spike_seconds:
            return "spike"
        return "after"


@dataclass(frozen=True)
class DemoTarget:
    """What the demo reads from its manifest."""

    name: str
    model: str
    ttft_slo_seconds: float
    load_seconds: float

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> DemoTarget:
        spec = manifest.get("spec", {})
        model = spec.get("model", {})
        slo_ms = spec.get("scaling", {}).get("slo", {}).get("ttftP95Milliseconds", 2000)
        annotations = spec.get("podMetadata", {}).get("annotations", {})
        return cls(
            name=manifest["metadata"]["name"],
            model=model.get("servedName") or model["name"],
            ttft_slo_seconds=float(slo_ms) / 1000,
            load_seconds=float(annotations.get(identity.ANNOTATION_SIMULATED_LOAD, 60)),
        )


@dataclass
class TimelineRow:
    """One sample of what the fleet and the operator looked like."""

    t: float
    phase: str
    offered_rps: float
    """Requests per second the router received over the last sample interval."""
    observed_rps: float | None
    """The arrival rate the operator read from Prometheus (status.autoscaling)."""
    ready: int
    desired: int
    ttft_p95_ms: int | None
    waiting: int | None
    decision: str

    def line(self) -> str:
        observed = "-" if self.observed_rps is None else f"{self.observed_rps:5.1f}"
        ttft = "-" if self.ttft_p95_ms is None else f"{self.ttft_p95_ms}"
        waiting = "-" if self.waiting is None else str(self.waiting)
        reason = self.decision if len(self.decision) <= 90 else self.decision[:87] + "..."
        return (
            f"{self.t:5.0f}s  {self.phase:<6} {self.offered_rps:6.1f} {observed:>6}"
            f"  {self.ready:>2}/{self.desired:<2}  {ttft:>6} {waiting:>4}  {reason}"
        )


TIMELINE_HEADER = (
    "  time  phase  offer  obsrv  ready   TTFT95 wait  last decision\n"
    "               req/s  req/s  /want     ms"
)


@dataclass
class DemoSummary:
    """The numbers the demo ends with (also written to summary.json)."""

    requests: int = 0
    ok: int = 0
    within_slo: int = 0
    ttft_slo_ms: int = 0
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    ttft_p99_ms: float | None = None
    peak_ready: int = 0
    peak_desired: int = 0
    scale_ups: int = 0
    scale_downs: int = 0
    events: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    """The shipped alert rules' ALERTS seen during the run (``alert_lines``)."""
    routed: list[str] = field(default_factory=list)
    """The alerts the sandbox's Alertmanager held at the end, with their receivers."""

    @property
    def within_slo_share(self) -> float:
        return self.within_slo / self.requests if self.requests else 0.0

    def lines(self) -> list[str]:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f} ms"

        out = [
            f"requests:          {self.requests} sent, {self.ok} ok, "
            f"{self.requests - self.ok} failed",
            f"within TTFT SLO:   {self.within_slo_share:.1%} "
            f"({self.within_slo} of {self.requests} under {self.ttft_slo_ms} ms)",
            f"TTFT (client):     p50 {ms(self.ttft_p50_ms)}, p95 {ms(self.ttft_p95_ms)}, "
            f"p99 {ms(self.ttft_p99_ms)}",
            f"peak replicas:     {self.peak_desired} desired, {self.peak_ready} ready",
            f"scaling Events:    {self.scale_ups} ScaledUp, {self.scale_downs} ScaledDown",
            "Events the operator wrote (kubectl get events):",
        ]
        out += [f"  {event}" for event in self.events] or ["  (none)"]
        out.append("alerts (manifests/prometheus/rules.yaml on the sandbox Prometheus):")
        out += [f"  {alert}" for alert in self.alerts] or ["  (none pending or firing)"]
        out.append("sent to Alertmanager (manifests/prometheus/alertmanager.yaml):")
        out += [f"  {alert}" for alert in self.routed] or ["  (none fired)"]
        return out


def alert_lines(series: list[dict[str, Any]]) -> list[str]:
    """``max_over_time(ALERTS{...}[run])`` as lines: each alert, its states and labels.
    A ``for`` of minutes outlasts the demo, so pending is what a spike shows."""
    states: dict[str, set[str]] = {}
    for item in series:
        metric = item["metric"]
        name = metric.get("alertname", "?")
        states.setdefault(name, set()).add(metric.get("alertstate", "?"))
    return [f"{name}: {', '.join(sorted(states[name]))}" for name in sorted(states)]


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarize_requests(records: list[dict[str, Any]], slo_seconds: float) -> DemoSummary:
    """Counts and client-side TTFT quantiles from loadgen's records (pure)."""
    ok = [r for r in records if r.get("status") == "ok"]
    ttfts = [float(r["ttft"]) for r in ok if r.get("ttft") is not None]
    within = sum(1 for t in ttfts if t <= slo_seconds)

    def ms(value: float | None) -> float | None:
        return None if value is None else value * 1000

    return DemoSummary(
        requests=len(records),
        ok=len(ok),
        within_slo=within,
        ttft_slo_ms=round(slo_seconds * 1000),
        ttft_p50_ms=ms(_quantile(ttfts, 0.5)),
        ttft_p95_ms=ms(_quantile(ttfts, 0.95)),
        ttft_p99_ms=ms(_quantile(ttfts, 0.99)),
    )


def event_lines(events: list[dict[str, Any]]) -> list[str]:
    """``HH:MM:SS Reason: message (xN)`` for LLMDeployment Events, oldest first (pure)."""

    def when(event: dict[str, Any]) -> str:
        return str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event.get("firstTimestamp")
            or ""
        )

    lines = []
    for event in sorted(events, key=when):
        if event.get("involvedObject", {}).get("kind") != identity.KIND:
            continue
        stamp = when(event)[11:19] or "--:--:--"
        count = int(event.get("count") or 1)
        suffix = f" (x{count})" if count > 1 else ""
        lines.append(
            f"{stamp} {event.get('type', '')} {event.get('reason')}: "
            f"{event.get('message', '').strip()}{suffix}"
        )
    return lines


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- talking to the sandbox --------------------------------------------------------------------


def install_crds(cluster: Cluster, repo: Path) -> None:
    """Apply crds/*.yaml and wait until the API serves LLMDeployments."""
    api = cluster.admin_api()
    files = sorted((repo / "crds").glob("*.yaml"))
    if not files:
        raise ComponentError(f"no CRD in {repo / 'crds'} (run `make crd`)")
    for path in files:
        api.apply_yaml_file(path)

    def served() -> bool:
        api.get(f"/apis/{identity.API_VERSION}/{identity.PLURAL}")
        return True

    wait_until(served, timeout=60, what="the LLMDeployment API to be served")


def create_namespace(cluster: Cluster, namespace: str) -> None:
    """The namespace, and its ``default`` service account (pods need it to be admitted)."""
    api = cluster.admin_api()
    api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    def has_account() -> bool:
        api.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
        return True

    wait_until(has_account, timeout=60, what=f"serviceaccount default in {namespace}")


def _get(api: KubeApi, path: str) -> dict[str, Any]:
    try:
        return api.get(path)
    except (ApiError, OSError):
        return {}


class FleetView:
    """Reads what the timeline shows: the LLMDeployment, its Deployment, the router."""

    def __init__(self, stack: FleetStack, namespace: str, target: DemoTarget) -> None:
        self.stack = stack
        self.namespace = namespace
        self.target = target
        self.api = stack.cluster.admin_api()
        self._last_count = 0
        self._last_at = time.monotonic()

    def llmd(self) -> dict[str, Any]:
        return _get(
            self.api,
            f"/apis/{identity.API_VERSION}/namespaces/{self.namespace}/"
            f"{identity.PLURAL}/{self.target.name}",
        )

    def deployment(self) -> dict[str, Any]:
        return _get(
            self.api, f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{self.target.name}"
        )

    def sample(self, t: float, phase: str) -> TimelineRow:
        now = time.monotonic()
        stats = self.stack.router.model_stats(self.target.model)
        count = stats.requests
        offered = (count - self._last_count) / max(now - self._last_at, 1e-6)
        self._last_count, self._last_at = count, now
        status = self.llmd().get("status", {}) or {}
        auto = status.get("autoscaling", {}) or {}
        desired = self.deployment().get("spec", {}).get("replicas")
        observed = auto.get("observedRequestsPerSecond")
        return TimelineRow(
            t=t,
            phase=phase,
            offered_rps=offered,
            observed_rps=None if observed is None else float(observed),
            ready=int(status.get("readyReplicas") or 0),
            desired=int(desired if desired is not None else auto.get("desiredReplicas") or 0),
            ttft_p95_ms=auto.get("ttftP95Milliseconds"),
            waiting=auto.get("waitingRequests"),
            decision=str(auto.get("lastDecisionReason") or ""),
        )

    def events(self) -> list[dict[str, Any]]:
        selector = urllib.parse.quote(f"involvedObject.name={self.target.name}")
        found = _get(
            self.api, f"/api/v1/namespaces/{self.namespace}/events?fieldSelector={selector}"
        )
        items: list[dict[str, Any]] = found.get("items", [])
        return items


# -- the run --------------------------------------------------------------------------------------


def loadgen_argv(settings: DemoSettings, router_url: str, model: str, out: Path) -> list[str]:
    """``forescale loadgen`` against the router, bounded in time and count."""
    return [
        sys.executable,
        "-m",
        "forescale",
        "loadgen",
        f"--target={router_url}",
        f"--curve={settings.load_curve()}",
        f"--model={model}",
        f"--prompt-tokens={settings.prompt_tokens}",
        f"--output-tokens={settings.output_tokens}",
        f"--max-seconds={settings.duration_seconds:g}",
        f"--max-requests={settings.max_requests()}",
        "--drain-seconds=30",
        f"--seed={settings.seed}",
        f"--out={out}",
    ]


@contextlib.contextmanager
def _running(process: SupervisedProcess) -> Iterator[SupervisedProcess]:
    process.start()
    try:
        yield process
    finally:
        process.stop(timeout=10)


def prepare(stack: FleetStack, settings: DemoSettings, repo: Path, echo: Echo) -> DemoTarget:
    """CRD, namespace, operator, the LLMDeployment; returns once a replica serves."""
    cluster = stack.cluster
    install_crds(cluster, repo)
    create_namespace(cluster, settings.namespace)
    echo(
        f"operator: forescale run -n {settings.namespace} (user forescale-operator, RBAC "
        f"manifests/rbac/role.yaml), Prometheus {stack.prometheus.url}"
    )
    cluster.add(
        OperatorProcess(
            [settings.namespace],
            stack.prometheus.url,
            rate_window_seconds=15,
            metrics_port=stack.operator_metrics_port,
        )
    )
    manifest_path = (
        settings.manifest if settings.manifest.is_absolute() else repo / settings.manifest
    )
    manifest = yaml.safe_load(manifest_path.read_text())
    target = DemoTarget.from_manifest(manifest)
    cluster.kubectl("apply", "-n", settings.namespace, "-f", str(manifest_path))
    shown = manifest_path.relative_to(repo) if manifest_path.is_relative_to(repo) else manifest_path
    echo(
        f"applied {shown}: LLMDeployment {target.name}, model {target.model}, "
        f"TTFT SLO {target.ttft_slo_seconds * 1000:.0f} ms, "
        f"simulated load {target.load_seconds:g} s"
    )
    started = time.monotonic()
    wait_until(
        lambda: bool(stack.bridge.backends(target.model)),
        timeout=max(120.0, 4 * target.load_seconds),
        what=f"a Ready replica of {target.name} serving {target.model}",
        watch=cluster.running_processes(),
        interval=0.5,
    )
    echo(f"first replica Ready and serving after {time.monotonic() - started:.0f} s")
    return target


def drive(
    stack: FleetStack, settings: DemoSettings, target: DemoTarget, echo: Echo
) -> list[TimelineRow]:
    """Run the load generator and print the timeline until it finishes."""
    cluster = stack.cluster
    out = settings.out_dir
    view = FleetView(stack, settings.namespace, target)
    rows: list[TimelineRow] = []
    echo(
        f"traffic: {settings.base_rate:g} req/s, spike x{settings.spike_factor:g} to "
        f"{settings.peak_rate:g} req/s at {settings.spike_at:g}-"
        f"{settings.spike_at + settings.spike_seconds:g} s, {settings.duration_seconds:g} s "
        f"in all, through the router {stack.router.url}"
    )
    echo(TIMELINE_HEADER)
    loadgen = SupervisedProcess(
        "loadgen",
        loadgen_argv(settings, stack.router.url, target.model, out / "requests.jsonl"),
        cluster.logs_dir / "loadgen.log",
    )
    deadline = settings.duration_seconds + 30 + 60
    with (out / "timeline.jsonl").open("w") as jsonl, (out / "timeline.txt").open("w") as text:
        text.write(TIMELINE_HEADER + "\n")
        with _running(loadgen):
            start = time.monotonic()
            view.sample(0.0, "steady")  # reset the offered-rate counter
            next_at = start + settings.sample_seconds
            while loadgen.running():
                if time.monotonic() - start > deadline:
                    raise ComponentError(f"loadgen still running after {deadline:.0f} s")
                time.sleep(max(0.0, min(0.5, next_at - time.monotonic())))
                if time.monotonic() < next_at:
                    continue
                next_at += settings.sample_seconds
                cluster.check()
                stack.bridge.check()
                t = time.monotonic() - start
                row = view.sample(t, settings.phase(t))
                rows.append(row)
                echo(row.line())
                text.write(row.line() + "\n")
                text.flush()
                jsonl.write(json.dumps(asdict(row)) + "\n")
                jsonl.flush()
            if loadgen.poll() not in (0, None):
                raise loadgen.failure(f"exited with code {loadgen.poll()}")
    return rows


def conclude(
    stack: FleetStack,
    settings: DemoSettings,
    target: DemoTarget,
    rows: list[TimelineRow],
) -> DemoSummary:
    """Summary from the request records, the timeline and the operator's Events."""
    records = read_records(settings.out_dir / "requests.jsonl")
    summary = summarize_requests(records, target.ttft_slo_seconds)
    summary.peak_ready = max((r.ready for r in rows), default=0)
    summary.peak_desired = max((r.desired for r in rows), default=0)
    events = FleetView(stack, settings.namespace, target).events()
    summary.events = event_lines(events)
    summary.scale_ups = sum(
        int(e.get("count") or 1) for e in events if e.get("reason") == "ScaledUp"
    )
    summary.scale_downs = sum(
        int(e.get("count") or 1) for e in events if e.get("reason") == "ScaledDown"
    )
    window = round(settings.duration_seconds + 120)
    try:
        summary.alerts = alert_lines(
            stack.prometheus.require().query(
                f'max_over_time(ALERTS{{namespace="{settings.namespace}"}}[{window}s])'
            )
        )
    except (OSError, ValueError) as error:
        summary.alerts = [f"(could not read ALERTS from Prometheus: {error})"]
    try:
        summary.routed = routed_alert_lines(stack.alertmanager.require().alerts())
    except (OSError, ValueError) as error:
        summary.routed = [f"(could not read the alerts from Alertmanager: {error})"]
    data = {
        **asdict(summary),
        "within_slo_share": summary.within_slo_share,
        "settings": {k: str(v) for k, v in asdict(settings).items()},
        "load_curve": settings.load_curve(),
    }
    (settings.out_dir / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
    (settings.out_dir / "summary.txt").write_text("\n".join(summary.lines()) + "\n")
    (settings.out_dir / "events.txt").write_text("\n".join(summary.events) + "\n")
    if rows:
        plot_demo([asdict(r) for r in rows], summary.ttft_slo_ms, settings.out_dir / "demo.png")
    return summary


def run_demo(
    settings: DemoSettings,
    echo: Echo,
    *,
    workdir: Path | None = None,
    on_ready: Callable[[FleetStack], None] | None = None,
    wait_keep: Callable[[FleetStack], None] | None = None,
) -> DemoSummary:
    """The whole demo; stops everything it started before returning or raising."""
    repo = binaries.repo_root()
    if repo is None:
        raise ComponentError("cannot find the forescale checkout (hack/versions.env)")
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    stack = fleet_stack(
        workdir=workdir,
        pool=GpuNodePool(count=settings.nodes, gpus_per_node=settings.gpus_per_node),
        keep_workdir=workdir is not None,
    )
    began = time.monotonic()
    echo(
        "starting the sandbox: etcd, kube-apiserver, controller-manager, scheduler, kwok "
        f"({settings.nodes} fake nodes x {settings.gpus_per_node} GPUs), Alertmanager, "
        "Prometheus, fleet bridge, router ..."
    )
    try:
        with stack.cluster as cluster:
            echo(
                f"sandbox up in {time.monotonic() - began:.0f} s; Prometheus "
                f"{stack.prometheus.url}, router {stack.router.url}"
            )
            try:
                if on_ready is not None:
                    on_ready(stack)
                target = prepare(stack, settings, repo, echo)
                rows = drive(stack, settings, target, echo)
                summary = conclude(stack, settings, target, rows)
                echo("")
                echo(
                    f"summary (after {time.monotonic() - began:.0f} s; "
                    f"files in {settings.out_dir}):"
                )
                for line in summary.lines():
                    echo(line)
                if settings.keep and wait_keep is not None:
                    wait_keep(stack)
            finally:
                with contextlib.suppress(OSError):
                    cluster.copy_logs(settings.out_dir)
    finally:
        echo("sandbox stopped")
    return summary
