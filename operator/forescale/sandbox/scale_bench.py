"""``forescale sandbox scale``: what one operator costs for N LLMDeployments, measured.

A benchmark, not a test: it starts the sandbox (control plane, kwok GPU nodes, Prometheus,
the operator as its own process and RBAC user), creates N LLMDeployments with the
predictive policy, drives a light simulated load on a small sample of them, and writes
the figures the scale issue asks for to a JSON file:

* the time ``kubectl apply -f`` of one multi-document file of all N takes (how a user
  applies a fleet), and from its start to: every LLMDeployment current
  (``observedGeneration``: the operator has passed over each), every Deployment with a
  Ready replica (the workload: controller manager, scheduler, kwok), and every
  LLMDeployment current and ``Ready``; then from deleting them all to nothing left;
* the operator's RSS and CPU over a quiet minute (nothing created, changed or deleted;
  the sample still under load), from ``/proc``;
* the operator's API requests per second by verb, from the API server's audit log (a
  policy that records only the operator's user);
* Prometheus queries per minute and the largest query, recorded by a loopback proxy in
  front of Prometheus (what the operator really sent, not what the code should send);
* the autoscaler tick's duration, from the operator's own histogram;
* the CPU seconds every process of the sandbox spent from the apply's start to
  convergence, and what the rest of the machine took: the whole sandbox shares one
  machine, so this says what the wait was made of (and whether other work stole from it).

Only the sample gets simulated vLLM processes (one process per pod would not fit 1,000
on a laptop); the other deployments have pods kwok keeps Running and Ready but that expose
no metrics, so the operator holds them (``MetricsUnavailable``) and decides every
interval like any other. The pure parts (sizes, manifests, quantiles; the audit log's
counting is :mod:`forescale.sandbox.audit`) are unit-tested; the run itself is not a test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import resource
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from forescale.api import identity
from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.children import build_children
from forescale.resources.owner import Owner
from forescale.sandbox import binaries
from forescale.sandbox.audit import AuditedApiserver, audited_control_plane, count_audit
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.demo import create_namespace, install_crds
from forescale.sandbox.fleet_bridge import MANAGED_SELECTOR, FleetBridge
from forescale.sandbox.gpu_nodes import LOAD_ANNOTATION, GpuNodePool
from forescale.sandbox.kubeapi import ApiError, KubeApi, Stream
from forescale.sandbox.kwok import Kwok
from forescale.sandbox.operator_process import OperatorProcess
from forescale.sandbox.processes import SupervisedProcess, wait_until
from forescale.sandbox.prometheus_component import PrometheusComponent
from forescale.sandbox.routing import Router

logger = logging.getLogger("forescale.sandbox.scale")

LLMD_PATH = f"/apis/{identity.API_VERSION}"


@dataclass(frozen=True)
class ScaleSettings:
    """One benchmark run."""

    deployments: int
    loaded: int = 3
    """How many of them get simulated replicas and load (in ``loaded_namespace``)."""
    load_rate: float = 1.0
    """Requests per second sent to each loaded deployment."""
    load_seconds: float = 5.0
    """Simulated model load before a pod turns Ready."""
    quiet_seconds: float = 60.0
    settle_seconds: float = 90.0
    """Wait after convergence before the quiet minute starts: longer than the first-metrics
    grace (2 x the 15 s rate window + the 15 s control interval), after which every idle
    deployment's hold turns ``MetricsUnavailable`` once (a pass, an Event, a status write):
    the last of a fleet turn so up to ~75 s after it converged (measured at 300)."""
    tick_seconds: float = 5.0
    converge_timeout: float = 900.0
    gpus_per_node: int = 8
    namespace: str = "scale"
    loaded_namespace: str = "scale-load"

    def __post_init__(self) -> None:
        if self.deployments < 1 or not 0 <= self.loaded <= self.deployments:
            raise ValueError("need deployments >= 1 and 0 <= loaded <= deployments")

    @property
    def nodes(self) -> int:
        """GPU nodes: one GPU per replica, room for every loaded one to double, one spare."""
        gpus = self.deployments + self.loaded
        return math.ceil(gpus / self.gpus_per_node) + 1


def llmdeployment_manifest(index: int, settings: ScaleSettings) -> dict[str, Any]:
    """The i-th LLMDeployment: predictive, 1 GPU, the first ``loaded`` in the load namespace."""
    loaded = index < settings.loaded
    return {
        "apiVersion": identity.API_VERSION,
        "kind": identity.KIND,
        "metadata": {
            "name": f"llm-{index:04d}",
            "namespace": settings.loaded_namespace if loaded else settings.namespace,
        },
        "spec": {
            "model": {"name": f"bench/model-{index:04d}"},
            "scaling": {"policy": "predictive", "minReplicas": 1, "maxReplicas": 2},
            "podMetadata": {"annotations": {LOAD_ANNOTATION: f"{settings.load_seconds:g}"}},
        },
    }


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The upper bound of the bucket holding the q-quantile (cumulative ``(le, count)``).

    An upper bound on purpose: the figure is compared with a target, so it must not flatter.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    for le, count in buckets:
        if count >= rank:
            return le
    return math.inf


def parse_histogram(text: str, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """Cumulative buckets, sum and count of one label-less histogram in an exposition."""
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = re.search(r'le="([^"]+)"', line)
            if le is not None:
                buckets.append((float(le.group(1)), float(line.rsplit(" ", 1)[1])))
        elif line.startswith(f"{name}_sum "):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_count "):
            count = float(line.rsplit(" ", 1)[1])
    return sorted(buckets), total, count


# -- measuring parts ------------------------------------------------------------------------


@dataclass
class QueryLog:
    """What the operator asked Prometheus: (time, bytes of the PromQL text) per query."""

    queries: list[tuple[float, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def between(self, start: float, end: float) -> list[int]:
        with self.lock:
            return [size for at, size in self.queries if start <= at < end]


class PrometheusProxy:
    """A loopback HTTP proxy to Prometheus that records every query the operator sends."""

    def __init__(self, upstream: Callable[[], str]) -> None:
        self._upstream = upstream
        self.log = QueryLog()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log, upstream = self.log, self._upstream

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._forward(self.rfile.read(length))

            def _forward(self, body: bytes | None) -> None:
                parsed = urllib.parse.urlparse(self.path)
                params = urllib.parse.parse_qs(parsed.query)
                if body:
                    params.update(urllib.parse.parse_qs(body.decode()))
                if parsed.path.endswith("/query") and "query" in params:
                    with log.lock:
                        log.queries.append((time.time(), len(params["query"][0].encode())))
                request = urllib.request.Request(upstream() + self.path, data=body)
                if body:
                    request.add_header(
                        "Content-Type", self.headers.get("Content-Type") or "text/plain"
                    )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                except OSError:
                    status, payload = 502, b"upstream unavailable"
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    # The operator gave up waiting (its read budget): nothing to answer.
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class SampleBridge(FleetBridge):
    """The fleet bridge, serving only the loaded namespace (one process per pod there)."""

    def __init__(self, namespace: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.namespace = namespace

    def _list_pods(self) -> list[dict[str, Any]]:
        if self._api is None:
            raise RuntimeError("fleet bridge not started")
        query = urllib.parse.urlencode({"labelSelector": MANAGED_SELECTOR})
        items: list[dict[str, Any]] = self._api.get(
            f"/api/v1/namespaces/{self.namespace}/pods?{query}"
        )["items"]
        return items


@dataclass(frozen=True)
class ProcessSample:
    """CPU seconds (user + system) and RSS of one process at one moment."""

    at: float
    cpu_seconds: float
    rss_bytes: int


def sample_process(pid: int) -> ProcessSample:
    """Read ``/proc/<pid>`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return ProcessSample(time.time(), cpu, rss)


def machine_busy_seconds(stat_text: str) -> float:
    """CPU seconds the whole machine has been busy, from ``/proc/stat``'s ``cpu`` line.

    Busy is everything but idle and iowait, so the difference over a window, less what the
    sandbox's own processes used, is what other work on the machine took from the run."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            ticks = [int(value) for value in line.split()[1:]]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    raise ValueError("no aggregate cpu line in /proc/stat")


def cpu_by_process(cluster: Cluster) -> dict[str, float]:
    """CPU seconds so far of every process the sandbox runs (by process name), of the
    finished children of this process (``kubectl``: ``apply`` runs as one), and of the
    whole machine (``machine``)."""
    seconds: dict[str, float] = {}
    for component in cluster.components:
        for process in component.processes():
            if process.pid is None:
                continue
            try:
                seconds[process.name] = sample_process(process.pid).cpu_seconds
            except OSError:  # it has exited
                continue
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds["kubectl"] = children.ru_utime + children.ru_stime
    seconds["machine"] = machine_busy_seconds(Path("/proc/stat").read_text())
    return seconds


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process spent between two :func:`cpu_by_process` samples, largest
    first, with ``other`` for what the rest of the machine took (another job's load shows
    up there, not in the sandbox's figures)."""
    spent = {
        name: round(after[name] - before.get(name, 0.0), 1)
        for name in after
        if name != "machine" and after[name] - before.get(name, 0.0) > 0
    }
    if "machine" in after and "machine" in before:
        machine = after["machine"] - before["machine"]
        spent["other"] = round(max(0.0, machine - sum(spent.values())), 1)
    return dict(sorted(spent.items(), key=lambda item: -item[1]))


# -- the run ----------------------------------------------------------------------------------


@dataclass
class ScaleResult:
    """The figures of one run (written as JSON)."""

    settings: dict[str, Any]
    nodes: int
    create_seconds: float = 0.0
    """``kubectl apply -f`` of the file of all N, start to exit."""
    operator_seconds: float | None = None
    """Apply start to every LLMDeployment ``observedGeneration``-current (the operator)."""
    workload_seconds: float | None = None
    """Apply start to every Deployment with a Ready replica (controllers, scheduler, kwok)."""
    converge_seconds: float | None = None
    """Apply start to every LLMDeployment current and Ready."""
    rss_mib_converged: float | None = None
    rss_mib_after_quiet: float | None = None
    quiet_cpu_percent: float | None = None
    api_requests_per_second_quiet: dict[str, float] = field(default_factory=dict)
    api_requests_converge: dict[str, int] = field(default_factory=dict)
    api_requests_converge_by_resource: dict[str, int] = field(default_factory=dict)
    prometheus_queries_per_minute: float | None = None
    prometheus_queries_per_tick: float | None = None
    largest_query_bytes: int | None = None
    tick_p50_seconds: float | None = None
    tick_p99_seconds: float | None = None
    tick_mean_seconds: float | None = None
    ticks: int | None = None
    passes_by_why: dict[str, float] = field(default_factory=dict)
    delete_seconds: float | None = None
    cpu_seconds_to_converge: float | None = None
    """Operator CPU (user + system) from its start to convergence: contention-free cost."""
    cpu_seconds_by_process: dict[str, float] = field(default_factory=dict)
    """CPU seconds from the apply's start to convergence, by process: the API server,
    etcd, the controllers, kwok, the operator, kubectl, and ``other`` (the rest of the
    machine). On a machine the whole sandbox shares, the sum is what the wait is made of."""
    timeline: list[tuple[float, int, int, int]] = field(default_factory=list)
    """(seconds since the first create, LLMDeployments current, current and Ready,
    Deployments with a Ready replica): says whether the operator or the workload lags."""
    per_object_seconds: dict[str, float] = field(default_factory=dict)
    """Per LLMDeployment of the unloaded namespace, from when a watch first saw it to when
    it first saw it current and Ready: p50, p90, p99, max (how far behind the apply the
    operator ran, whatever the apply's own length)."""
    followed: list[tuple[float, int, int]] = field(default_factory=list)
    """Every 10 s from the apply's start: (seconds, LLMDeployments created, of them
    current and Ready), from that watch, so through the apply as well."""
    load_average: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since the first create, the machine's 1-minute load average)."""
    notes: list[str] = field(default_factory=list)


def fleet_file(settings: ScaleSettings) -> str:
    """Every LLMDeployment of the run as one multi-document YAML (JSON documents)."""
    return "".join(
        f"---\n{json.dumps(llmdeployment_manifest(i, settings))}\n"
        for i in range(settings.deployments)
    )


def workload_file(settings: ScaleSettings) -> str:
    """What the operator would create for the fleet, as plain objects of a user's own.

    The Service, PodDisruptionBudget and Deployment the operator renders for each
    LLMDeployment (the same builders), without the ownerReference (there is no owner: the
    garbage collector would delete them). Applied with no operator running, this is the
    floor any operator of this fleet stands on: the control plane's and kwok's time for
    the workload itself.
    """
    documents = []
    for index in range(settings.deployments):
        manifest = llmdeployment_manifest(index, settings)
        meta = manifest["metadata"]
        owner = Owner(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=f"baseline-{index}",
            spec=LLMDeploymentSpec.model_validate(manifest["spec"]),
        )
        for child in build_children(owner, pod_monitor=False):
            child["metadata"].pop("ownerReferences", None)
            documents.append(f"---\n{json.dumps(child)}\n")
    return "".join(documents)


def _apply_all(cluster: Cluster, settings: ScaleSettings, *, workload_only: bool = False) -> None:
    """``kubectl apply -f`` of the whole fleet, as a user would (client-side apply)."""
    path = cluster.workdir / "fleet.yaml"
    path.write_text(workload_file(settings) if workload_only else fleet_file(settings))
    access = cluster.require_access()
    subprocess.run(
        [str(binaries.find("kubectl")), f"--kubeconfig={access.admin_kubeconfig}", "apply",
         "-f", str(path), "-o", "name"],
        check=True, capture_output=True, timeout=settings.converge_timeout,
    )  # fmt: skip


def first_time(
    timeline: list[tuple[float, int, int, int]], column: int, expected: int
) -> float | None:
    """When ``timeline``'s ``column`` (1: current, 2: current and Ready, 3: Deployments
    with a Ready replica) first reached ``expected``."""
    for entry in timeline:
        if entry[column] >= expected:
            return entry[0]
    return None


def _llmds(api: KubeApi) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"{LLMD_PATH}/{identity.PLURAL}")["items"]
    return items


def progress(items: list[dict[str, Any]]) -> tuple[int, int]:
    """(LLMDeployments with ``observedGeneration`` current, of those how many are Ready)."""
    current = ready = 0
    for item in items:
        status = item.get("status") or {}
        if status.get("observedGeneration") != item["metadata"].get("generation"):
            continue
        current += 1
        conditions = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        ready += bool(conditions and conditions[0].get("status") == "True")
    return current, ready


def follow_up(
    added: dict[str, float], done: dict[str, float], step: float = 10.0
) -> tuple[dict[str, float], list[tuple[float, int, int]]]:
    """From when each object was first seen (``added``) and first seen current and Ready
    (``done``), both in seconds since the apply started: the per-object wait's p50, p90,
    p99 and max, and every ``step`` seconds (created so far, converged so far)."""
    waits = sorted(done[name] - added[name] for name in done if name in added)
    figures: dict[str, float] = {}
    if waits:
        for label, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            figures[label] = round(waits[min(len(waits) - 1, math.ceil(q * len(waits)) - 1)], 1)
        figures["max"] = round(waits[-1], 1)
    end = max([*added.values(), *done.values(), 0.0])
    timeline = [
        (
            round(t, 1),
            sum(1 for v in added.values() if v <= t),
            sum(1 for v in done.values() if v <= t),
        )
        for t in [step * i for i in range(1, math.ceil(end / step) + 1)]
    ]
    return figures, timeline


class ConvergenceWatch:
    """Follows every LLMDeployment of a namespace from its creation to current and Ready.

    The benchmark's poll runs once ``kubectl apply`` has returned; a watch sees each object
    as the apply creates it, so the per-object figures say how far behind the apply the
    operator was all along (one more watcher costs the API server one write per event,
    not a list of the fleet every few seconds).
    """

    def __init__(self, api: KubeApi, namespace: str, timeout: float) -> None:
        self._api = api
        self._path = (
            f"{LLMD_PATH}/namespaces/{namespace}/{identity.PLURAL}"
            f"?watch=1&timeoutSeconds={int(timeout)}"
        )
        self._timeout = timeout
        self.origin = time.time()
        self.added: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.error: str | None = None
        self._stream: Stream | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmd-watch", daemon=True)

    def start(self, origin: float) -> None:
        """Open the watch, then follow it in a thread; times are seconds since ``origin``
        (the apply's start). Opened here, so it sees the apply's first object."""
        self.origin = origin
        try:
            self._stream = self._api.stream(self._path, self._timeout)
        except (OSError, ApiError) as err:
            self.error = f"{type(err).__name__}: {err}"
            return
        self._thread.start()

    def stop(self) -> None:
        """Stop following: close the stream, so the watch ends now, not at its timeout
        (it would still be open through the quiet minute)."""
        self._stopped.set()
        if self._stream is not None:
            self._stream.close()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        assert self._stream is not None
        try:
            for line in self._stream:
                self._seen(json.loads(line))
        except (OSError, ValueError) as err:
            if not self._stopped.is_set():  # closing the stream ends the read with an error
                self.error = f"{type(err).__name__}: {err}"

    def _seen(self, event: dict[str, Any]) -> None:
        item = event.get("object") or {}
        name = (item.get("metadata") or {}).get("name")
        if event.get("type") not in ("ADDED", "MODIFIED") or not name:
            return
        since = time.time() - self.origin
        self.added.setdefault(name, since)
        if name not in self.done and progress([item])[1] == 1:
            self.done[name] = since


def converged(items: list[dict[str, Any]], expected: int) -> bool:
    """Every LLMDeployment current (observedGeneration) and Ready."""
    return len(items) >= expected and progress(items)[1] == len(items)


def _metrics_text(port: int | None) -> str:
    if port is None:
        return ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


def _counter_values(text: str, name: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            label = re.search(r'why="([^"]+)"', line)
            if label is not None:
                values[label.group(1)] = float(line.rsplit(" ", 1)[1])
    return values


def _loadgens(
    settings: ScaleSettings, router: Router, cluster: Cluster, seconds: float
) -> list[SupervisedProcess]:
    processes = []
    for index in range(settings.loaded):
        model = llmdeployment_manifest(index, settings)["spec"]["model"]["name"]
        argv = [
            sys.executable, "-m", "forescale", "loadgen", f"--target={router.url}",
            f"--rate={settings.load_rate:g}", f"--model={model}",
            "--prompt-tokens=200", "--output-tokens=64", f"--max-seconds={seconds:g}",
            f"--max-requests={int(settings.load_rate * seconds * 2) + 50}",
            "--drain-seconds=10", f"--seed={index}",
            f"--out={cluster.logs_dir / f'loadgen-{index}.jsonl'}",
        ]  # fmt: skip
        processes.append(
            SupervisedProcess(f"loadgen-{index}", argv, cluster.logs_dir / f"loadgen-{index}.log")
        )
    return processes


LLMD_COLLECTION = f"{LLMD_PATH}/namespaces/{{namespace}}/{identity.PLURAL}"
WORKLOAD_COLLECTIONS = (
    "/apis/apps/v1/namespaces/{namespace}/deployments",
    "/api/v1/namespaces/{namespace}/services",
    "/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets",
)


def _delete_all(
    api: KubeApi, settings: ScaleSettings, collections: Iterable[str] = (LLMD_COLLECTION,)
) -> None:
    """A collection DELETE per namespace and collection (a path with ``{namespace}``), sent
    again while objects remain.

    The API server ends a request after 60 s and a collection DELETE stops where it was
    cut (the 1,000 run of round 2 kept 80 of 1,000, docs/scale.md): as a person would,
    send it again."""
    patient = dataclasses.replace(api, timeout=120.0)
    for namespace in (settings.namespace, settings.loaded_namespace):
        for collection in collections:
            path = collection.format(namespace=namespace)
            for _ in range(20):
                with contextlib.suppress(OSError, ApiError):
                    patient.request("DELETE", path)
                with contextlib.suppress(OSError, ApiError):
                    if not api.get(f"{path}?limit=1")["items"]:
                        break


def _timed_deletion(
    api: KubeApi,
    settings: ScaleSettings,
    echo: Callable[[str], None],
    collections: Iterable[str] = (LLMD_COLLECTION,),
) -> float:
    """Delete the fleet's collections; seconds until no LLMDeployment, Deployment or pod
    is left."""
    deleting = time.time()
    _delete_all(api, settings, collections)
    wait_until(
        lambda: _nothing_left(api, settings),
        timeout=settings.converge_timeout,
        what="every LLMDeployment, Deployment and pod gone",
        interval=2.0,
    )
    seconds = round(time.time() - deleting, 1)
    echo(f"deleted all in {seconds} s")
    return seconds


def _prepare(cluster: Cluster, settings: ScaleSettings, repo: Path) -> KubeApi:
    """The CRD and the run's namespaces; the admin's API client."""
    install_crds(cluster, repo)
    for namespace in (settings.namespace, settings.loaded_namespace):
        create_namespace(cluster, namespace)
    return cluster.admin_api()


def _deployments_ready(api: KubeApi) -> int:
    query = urllib.parse.urlencode({"labelSelector": MANAGED_SELECTOR})
    items = api.get(f"/apis/apps/v1/deployments?{query}")["items"]
    return sum(1 for d in items if (d.get("status") or {}).get("readyReplicas"))


def _nothing_left(api: KubeApi, settings: ScaleSettings) -> bool:
    if _llmds(api):
        return False
    for namespace in (settings.namespace, settings.loaded_namespace):
        query = urllib.parse.urlencode({"labelSelector": MANAGED_SELECTOR, "limit": "1"})
        for path in (
            f"/apis/apps/v1/namespaces/{namespace}/deployments?{query}",
            f"/api/v1/namespaces/{namespace}/pods?{query}",
        ):
            if api.get(path)["items"]:
                return False
    return True


def build_cluster(settings: ScaleSettings) -> tuple[Cluster, AuditedApiserver, Router]:
    """The sandbox for the run: audited control plane, kwok nodes, Prometheus, sample fleet."""
    components, apiserver = audited_control_plane()
    cluster = Cluster(components)
    pool = GpuNodePool(count=settings.nodes, gpus_per_node=settings.gpus_per_node)
    cluster.add(Kwok(pool, default_load_seconds=settings.load_seconds))
    prometheus = PrometheusComponent(1.0)
    bridge = SampleBridge(
        settings.loaded_namespace,
        prometheus,
        default_load_seconds=settings.load_seconds,
        drain_seconds=5.0,
    )
    router = Router(bridge.backends)
    cluster.add(prometheus)
    cluster.add(bridge)
    cluster.add(router)
    cluster.extras["prometheus"] = prometheus
    return cluster, apiserver, router


def run_scale(
    settings: ScaleSettings,
    repo: Path,
    echo: Callable[[str], None],
    logs: Path | None = None,
    out: Path | None = None,
) -> ScaleResult:
    """Run the benchmark once; every process it started is stopped when it returns.

    ``logs``: where to copy the operator's and the API server's logs (the sandbox's own
    work directory goes with it). ``out``: the JSON file, rewritten after every phase, so
    a run that fails late keeps the figures it measured.
    """
    result = ScaleResult(settings=asdict(settings), nodes=settings.nodes)
    cluster, apiserver, router = build_cluster(settings)
    prometheus: PrometheusComponent = cluster.extras["prometheus"]
    proxy = PrometheusProxy(lambda: prometheus.url)

    def report(line: str) -> None:
        echo(line)
        if out is not None:
            write_result(result, out)

    with cluster:
        api = _prepare(cluster, settings, repo)
        proxy.start()
        try:
            operator = OperatorProcess(
                [settings.namespace, settings.loaded_namespace],
                proxy.url,
                reconcile_seconds=settings.tick_seconds,
                rate_window_seconds=15,
            )
            cluster.add(operator)
            report(
                f"sandbox up: {settings.nodes} kwok nodes x {settings.gpus_per_node} GPUs; "
                f"operator pid {operator.process.pid if operator.process else '?'}"
            )
            _measure(settings, result, cluster, api, apiserver, operator, router, proxy, report)
        finally:
            proxy.stop()
            if logs is not None:
                logs.mkdir(parents=True, exist_ok=True)
                for name in (
                    "forescale-operator.log",
                    "kube-apiserver.log",
                    "kube-controller-manager.log",
                    "kube-scheduler.log",
                    "kwok.log",
                ):
                    source = cluster.logs_dir / name
                    if source.is_file():
                        (logs / name).write_bytes(source.read_bytes()[-5_000_000:])
    return result


def run_workload_baseline(
    settings: ScaleSettings,
    repo: Path,
    echo: Callable[[str], None],
    out: Path | None = None,
) -> ScaleResult:
    """The same sandbox and fleet with no operator: ``kubectl apply -f`` of the children
    the operator would create (:func:`workload_file`), then every Deployment with a Ready
    replica, then deleting them all. The operator's run is judged against this floor."""
    result = ScaleResult(settings=asdict(settings), nodes=settings.nodes)
    result.notes.append(
        "workload baseline: no operator; kubectl apply -f of the Service, "
        "PodDisruptionBudget and Deployment the operator renders for each LLMDeployment"
    )
    cluster, _, _ = build_cluster(settings)
    with cluster:
        api = _prepare(cluster, settings, repo)
        echo(
            f"sandbox up: {settings.nodes} kwok nodes x {settings.gpus_per_node} GPUs; no operator"
        )
        cpu_before = cpu_by_process(cluster)
        started = time.time()
        _apply_all(cluster, settings, workload_only=True)
        result.create_seconds = round(time.time() - started, 1)
        echo(f"kubectl apply of {3 * settings.deployments} objects took {result.create_seconds} s")

        def done() -> bool:
            ready = _deployments_ready(api)
            since = round(time.time() - started, 1)
            result.timeline.append((since, 0, 0, ready))
            result.load_average.append((since, round(os.getloadavg()[0], 2)))
            return ready >= settings.deployments

        wait_until(
            done, timeout=settings.converge_timeout, what="every Deployment Ready", interval=3.0
        )
        result.cpu_seconds_by_process = cpu_spent(cpu_before, cpu_by_process(cluster))
        result.workload_seconds = round(time.time() - started, 1)
        result.converge_seconds = result.workload_seconds
        echo(
            f"every Deployment had a Ready replica {result.workload_seconds} s from the apply start"
        )
        if out is not None:
            write_result(result, out)
        result.delete_seconds = _timed_deletion(api, settings, echo, WORKLOAD_COLLECTIONS)
    return result


def _measure(  # noqa: PLR0917 - the run's parts, passed once
    settings: ScaleSettings,
    result: ScaleResult,
    cluster: Cluster,
    api: KubeApi,
    apiserver: AuditedApiserver,
    operator: OperatorProcess,
    router: Router,
    proxy: PrometheusProxy,
    echo: Callable[[str], None],
) -> None:
    process = operator.process
    assert process is not None and process.pid is not None
    pid = process.pid
    watch = ConvergenceWatch(api, settings.namespace, settings.converge_timeout)
    cpu_before = cpu_by_process(cluster)
    started = time.time()
    watch.start(started)
    _apply_all(cluster, settings)
    result.create_seconds = round(time.time() - started, 1)
    echo(f"kubectl apply of {settings.deployments} LLMDeployments took {result.create_seconds} s")

    def done() -> bool:
        process.ensure_running()
        items = _llmds(api)
        since = round(time.time() - started, 1)
        result.timeline.append((since, *progress(items), _deployments_ready(api)))
        result.load_average.append((since, round(os.getloadavg()[0], 2)))
        return converged(items, settings.deployments)

    wait_until(done, timeout=settings.converge_timeout, what="convergence", interval=3.0)
    converged_at = time.time()
    result.cpu_seconds_by_process = cpu_spent(cpu_before, cpu_by_process(cluster))
    result.cpu_seconds_to_converge = round(sample_process(pid).cpu_seconds, 1)
    watch.stop()
    result.per_object_seconds, result.followed = follow_up(watch.added, watch.done)
    if watch.error is not None:
        result.notes.append(f"the LLMDeployment watch ended early: {watch.error}")
    result.converge_seconds = round(converged_at - started, 1)
    result.operator_seconds = first_time(result.timeline, 1, settings.deployments)
    result.workload_seconds = first_time(result.timeline, 3, settings.deployments)
    result.rss_mib_converged = round(sample_process(pid).rss_bytes / 2**20, 1)
    result.api_requests_converge = count_audit(apiserver.lines(), started, converged_at)
    result.api_requests_converge_by_resource = count_audit(
        apiserver.lines(), started, converged_at, by_resource=True
    )
    echo(
        f"converged after {result.converge_seconds} s (operator: all current after "
        f"{result.operator_seconds} s; workload: all Deployments Ready after "
        f"{result.workload_seconds} s), RSS {result.rss_mib_converged} MiB; CPU seconds "
        f"by process: {result.cpu_seconds_by_process}; per LLMDeployment, creation to "
        f"Ready: {result.per_object_seconds}"
    )

    load_for = settings.settle_seconds + settings.quiet_seconds + 15
    loadgens = _loadgens(settings, router, cluster, load_for)
    for loadgen in loadgens:
        loadgen.start()
    try:
        time.sleep(settings.settle_seconds)
        before, metrics_before = sample_process(pid), _metrics_text(operator.metrics_port)
        time.sleep(settings.quiet_seconds)
        after, metrics_after = sample_process(pid), _metrics_text(operator.metrics_port)
    finally:
        for loadgen in loadgens:
            loadgen.stop(timeout=15)
    span = after.at - before.at
    result.quiet_cpu_percent = round(100 * (after.cpu_seconds - before.cpu_seconds) / span, 2)
    result.rss_mib_after_quiet = round(after.rss_bytes / 2**20, 1)
    quiet = count_audit(apiserver.lines(), before.at, after.at)
    result.api_requests_per_second_quiet = {v: round(n / span, 3) for v, n in quiet.items()}
    sizes = proxy.log.between(before.at, after.at)
    result.prometheus_queries_per_minute = round(len(sizes) * 60 / span, 1)
    every = proxy.log.between(0, math.inf)
    result.largest_query_bytes = max(every) if every else None
    _, _, ticks_before = parse_histogram(metrics_before, "forescale_autoscaler_tick_seconds")
    buckets, total, count = parse_histogram(metrics_after, "forescale_autoscaler_tick_seconds")
    if count - ticks_before > 0:
        result.prometheus_queries_per_tick = round(len(sizes) / (count - ticks_before), 2)
    result.ticks = int(count)
    result.tick_p50_seconds = histogram_quantile(0.5, buckets)
    result.tick_p99_seconds = histogram_quantile(0.99, buckets)
    result.tick_mean_seconds = round(total / count, 4) if count else None
    result.passes_by_why = _counter_values(metrics_after, "forescale_tick_passes_total")
    echo(
        f"quiet minute: CPU {result.quiet_cpu_percent} % of a core, "
        f"API {result.api_requests_per_second_quiet} req/s, "
        f"Prometheus {result.prometheus_queries_per_minute} queries/min"
    )

    result.delete_seconds = _timed_deletion(api, settings, echo)


def write_result(result: ScaleResult, out: Path) -> None:
    """The figures as indented JSON."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(asdict(result), indent=2, default=str) + "\n")
