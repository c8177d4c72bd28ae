"""The fleet bridge: one simulated vLLM process per scheduled forescale pod, on loopback.

kwok gives the sandbox real Pod objects that go Running and then Ready after a simulated
model load, but nothing runs inside them and their IPs are fake. The operator, though,
needs what a real fleet gives it: a ``/metrics`` endpoint per pod scraped by Prometheus
under the pod's name, and replicas that actually serve requests (and saturate). The bridge
closes that gap the way the kubelet would: it watches the pods forescale manages and, for
each scheduled one, starts a ``forescale sim-server`` process on a free 127.0.0.1 port with

* the pod's own model and ``--served-model-name``, ``--max-num-seqs`` and
  ``--shutdown-timeout`` (read from the vLLM command line the operator rendered), so a spec
  change shows in the simulation;
* a model-load delay equal to what is left of the pod's
  ``forescale.io/simulated-load-seconds``, so the port opens when kwok marks the pod Ready;
* a replica profile (``forescale.io/simulated-profile`` and
  ``forescale.io/simulated-profile-overrides``, sandbox-only pod annotations);

and registers it as a Prometheus target with the labels a PodMonitor gives
(``namespace``, ``pod``, ``llmdeployment``). Where kwok serves pod logs, the replica also
writes its vLLM log lines as a container runtime stores them (``--cri-log``) and the pod
gets a kwok ``Logs`` object for that file, so ``kubectl logs POD -c vllm`` reads the
replica's own log. When the pod is deleted the bridge stops the
replica in the kubelet's order: out of the router and of Prometheus at once (a terminating
pod leaves the Service's endpoints), then the container's preStop sleep, then SIGTERM, then
SIGKILL once the pod's grace period is spent. Like vLLM, the sim-server finishes in-flight
requests within its ``--shutdown-timeout`` and aborts them without one, so requests still
running when the preStop sleep ends are lost unless the flag was rendered; that is what
``spec.engine.drain: PreStopWait`` (a long sleep, no flag) relies on. The sandbox caps each
wait at ``drain_seconds``. Everything the bridge started stops with it.

Why processes, not in-process servers: each replica then has its own event loop, its own
CPU time and its own failure, as pods do, and the sandbox exercises the real sim-server CLI.
Why polling, not a watch: a list every half second costs the local apiserver nothing,
cannot miss a deletion after a reconnect, and keeps this module free of a client library.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from forescale.api import identity
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.gpu_nodes import replica_logs
from forescale.sandbox.kubeapi import ApiError, KubeApi
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import SupervisedProcess
from forescale.sandbox.prometheus_server import ScrapeTarget
from forescale.sandbox.routing import Backend

logger = logging.getLogger("forescale.sandbox.fleet")

ANNOTATION_PROFILE = "forescale.io/simulated-profile"
"""Pod annotation: the sim-server replica profile (default ``llama-3.1-8b-h100``)."""
ANNOTATION_PROFILE_OVERRIDES = "forescale.io/simulated-profile-overrides"
"""Pod annotation: comma-separated ``field=value`` profile overrides (``--set``)."""
DEFAULT_PROFILE = "llama-3.1-8b-h100"
MANAGED_SELECTOR = f"{identity.LABEL_MANAGED_BY}=forescale"
"""Pods the bridge serves: every pod forescale's Deployments create carries this label."""
VLLM_CONTAINER = "vllm"
DEFAULT_GRACE_SECONDS = 30.0
"""Kubernetes' default ``terminationGracePeriodSeconds``."""


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def vllm_flags(args: Sequence[str]) -> dict[str, str]:
    """``--key=value`` and ``--key value`` flags of a command line (flags without a value: "")."""
    flags: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("--"):
            key, sep, value = arg[2:].partition("=")
            if not sep and index + 1 < len(args) and not args[index + 1].startswith("--"):
                value = args[index + 1]
                index += 1
            flags[key] = value
        index += 1
    return flags


def _vllm_container(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod's inference container (named ``vllm``, else the first; {} if none)."""
    containers = pod.get("spec", {}).get("containers", []) or []
    chosen = next((c for c in containers if c.get("name") == VLLM_CONTAINER), None)
    if chosen is None and containers:
        chosen = containers[0]
    return chosen or {}


def _vllm_command(pod: Mapping[str, Any]) -> list[str]:
    """The vLLM command line of the pod's inference container (``vllm serve MODEL ...``)."""
    chosen = _vllm_container(pod)
    return [*(chosen.get("command") or []), *(chosen.get("args") or [])]


def pre_stop_sleep(container: Mapping[str, Any]) -> float:
    """Seconds a container's preStop hook sleeps: the ``sleep`` action, or an ``exec`` of
    ``sleep N`` (directly or through ``sh -c``); 0 without a hook or for one that does
    something else, whose length the bridge cannot know."""
    hook = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in hook:
        return max(0.0, float((hook["sleep"] or {}).get("seconds") or 0))
    words = " ".join((hook.get("exec") or {}).get("command") or []).split()
    if "sleep" in words[:-1]:
        with contextlib.suppress(ValueError):
            return max(0.0, float(words[words.index("sleep") + 1]))
    return 0.0


def _model_argument(command: Sequence[str]) -> str | None:
    """The positional model of ``vllm serve MODEL``."""
    for index, arg in enumerate(command[:-1]):
        if arg == "serve" and not command[index + 1].startswith("--"):
            return command[index + 1]
    return None


@dataclass(frozen=True)
class ReplicaSpec:
    """What one simulated replica must look like, derived from its pod alone."""

    namespace: str
    pod: str
    uid: str
    llmdeployment: str
    model: str
    served_names: tuple[str, ...]
    load_seconds: float
    """Load time still left when the bridge saw the pod (the annotation minus its age)."""
    profile: str = DEFAULT_PROFILE
    overrides: tuple[str, ...] = ()
    """``field=value`` profile overrides, in the order given."""
    shutdown_timeout: int = 0
    """The pod's vLLM ``--shutdown-timeout`` (0, vLLM's default, aborts on SIGTERM)."""
    pre_stop_seconds: float = 0.0
    """The inference container's preStop sleep, which the kubelet runs before SIGTERM."""
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    """The pod's ``terminationGracePeriodSeconds``: preStop and drain both fit in it."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.pod)


def replica_spec(
    pod: Mapping[str, Any], *, default_load_seconds: float, now: float
) -> ReplicaSpec | None:
    """The replica a pod stands for, or None when it should have none (yet or any more).

    None for: a pod not scheduled yet (a pod that waits for a GPU has no process, as it has
    no container), a pod being deleted, a pod without the ``forescale.io/llmdeployment``
    label, or a pod whose container is not ``vllm serve``.
    """
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    if meta.get("deletionTimestamp") or not spec.get("nodeName"):
        return None
    if pod.get("status", {}).get("phase") in {"Succeeded", "Failed"}:
        return None
    labels = meta.get("labels") or {}
    owner = labels.get(identity.LABEL_LLMDEPLOYMENT)
    command = _vllm_command(pod)
    model = _model_argument(command)
    if not owner or model is None:
        return None
    flags = vllm_flags(command)
    annotations = meta.get("annotations") or {}
    try:
        total_load = float(annotations.get(identity.ANNOTATION_SIMULATED_LOAD, ""))
    except ValueError:
        total_load = default_load_seconds
    started = _parse_time(pod.get("status", {}).get("startTime")) or _parse_time(
        meta.get("creationTimestamp")
    )
    elapsed = max(0.0, now - started) if started is not None else 0.0
    overrides = [
        item.strip()
        for item in annotations.get(ANNOTATION_PROFILE_OVERRIDES, "").split(",")
        if item.strip()
    ]
    if flags.get("max-num-seqs") and not any(o.startswith("max_num_seqs=") for o in overrides):
        overrides.insert(0, f"max_num_seqs={flags['max-num-seqs']}")
    served = flags.get("served-model-name", "")
    try:
        shutdown_timeout = max(0, int(flags.get("shutdown-timeout") or 0))
    except ValueError:
        shutdown_timeout = 0
    grace = spec.get("terminationGracePeriodSeconds")
    return ReplicaSpec(
        namespace=str(meta.get("namespace", "default")),
        pod=str(meta["name"]),
        uid=str(meta.get("uid", "")),
        llmdeployment=str(owner),
        model=model,
        served_names=tuple(n for n in served.split(",") if n) or (model,),
        load_seconds=max(0.0, total_load - elapsed),
        profile=annotations.get(ANNOTATION_PROFILE, DEFAULT_PROFILE) or DEFAULT_PROFILE,
        overrides=tuple(overrides),
        shutdown_timeout=shutdown_timeout,
        pre_stop_seconds=pre_stop_sleep(_vllm_container(pod)),
        grace_seconds=DEFAULT_GRACE_SECONDS if grace is None else max(0.0, float(grace)),
    )


def termination_waits(spec: ReplicaSpec, cap: float) -> tuple[float, float]:
    """(preStop sleep, SIGTERM to SIGKILL) in seconds, as the kubelet spends the grace
    period: the preStop hook first, within the grace; then what is left of it, at least
    the 2 s the kubelet adds when a hook ran the grace out. Each capped at ``cap``."""
    sleep = min(spec.pre_stop_seconds, spec.grace_seconds)
    left = max(spec.grace_seconds - sleep, 2.0)
    return min(sleep, cap), min(left, cap)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's Ready condition is True (what puts it behind a Service)."""
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", []) or []
    )


def scrape_target(spec: ReplicaSpec, port: int) -> ScrapeTarget:
    """The Prometheus target of a replica, labelled as forescale's PodMonitor labels it."""
    return ScrapeTarget(
        address=f"127.0.0.1:{port}",
        namespace=spec.namespace,
        pod=spec.pod,
        llmdeployment=spec.llmdeployment,
    )


def sim_server_argv(
    spec: ReplicaSpec,
    port: int,
    *,
    python: str = sys.executable,
    drain_seconds: float = 30.0,
    cri_log: Path | None = None,
) -> list[str]:
    """The ``forescale sim-server`` command line of a replica (always bound to 127.0.0.1).

    ``drain_seconds`` caps the pod's ``--shutdown-timeout`` so a sandbox never waits long;
    ``cri_log`` is where its vLLM log lines go as a container runtime stores them.
    """
    argv = [
        python,
        "-m",
        "forescale",
        "sim-server",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--model={spec.model}",
        f"--profile={spec.profile}",
        f"--load-seconds={spec.load_seconds:.2f}",
        f"--shutdown-timeout={min(spec.shutdown_timeout, math.ceil(drain_seconds))}",
    ]
    argv += [f"--served-model-name={name}" for name in spec.served_names]
    argv += [f"--set={override}" for override in spec.overrides]
    if cri_log is not None:
        argv.append(f"--cri-log={cri_log}")
    return argv


class TargetSink(Protocol):
    """Where replicas are registered for scraping (a PrometheusServer, or a test double)."""

    def add_target(self, target: ScrapeTarget) -> None: ...

    def remove_target(self, namespace: str, pod: str) -> None: ...


@dataclass
class Replica:
    """A running simulated replica and what the bridge last saw of its pod."""

    spec: ReplicaSpec
    port: int
    process: SupervisedProcess
    pod_ready: bool = False
    serving: bool = False
    """The sim-server accepted a TCP connection (its model load is over)."""
    started_at: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backend(self) -> Backend:
        return Backend(
            namespace=self.spec.namespace,
            llmdeployment=self.spec.llmdeployment,
            pod=self.spec.pod,
            url=self.url,
            models=self.spec.served_names,
        )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class FleetBridge:
    """Sandbox component: keeps one sim-server per scheduled forescale pod (see module doc)."""

    name = "fleet-bridge"

    def __init__(
        self,
        targets: TargetSink | None = None,
        *,
        default_load_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        drain_seconds: float = 30.0,
        python: str = sys.executable,
        api: Callable[[], KubeApi] | None = None,
    ) -> None:
        self.targets = targets
        self.default_load_seconds = default_load_seconds
        self.poll_seconds = poll_seconds
        self.drain_seconds = drain_seconds
        self.python = python
        self._api_factory = api
        self._api: KubeApi | None = None
        self._logs: Path | None = None
        self._pod_logs: Path | None = None
        self._lock = threading.Lock()
        self._replicas: dict[tuple[str, str], Replica] = {}
        self._draining: list[threading.Thread] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.history: list[tuple[float, str, str]] = []
        """(monotonic time, "started"/"stopped", "namespace/pod"): what the bridge did."""

    # -- Component protocol ---------------------------------------------------------------

    def start(self, cluster: Cluster) -> None:
        """List pods once (so a broken apiserver fails here), then poll in a thread."""
        self._api = self._api_factory() if self._api_factory else cluster.admin_api()
        self._logs = cluster.logs_dir / "fleet"
        self._logs.mkdir(parents=True, exist_ok=True)
        pod_logs = cluster.extras.get("pod_logs")
        self._pod_logs = Path(str(pod_logs)) if pod_logs else None
        self._list_pods()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fleet-bridge", daemon=True)
        self._thread.start()
        self._started.wait(timeout=30)

    def stop(self) -> None:
        """Stop polling, then drain and stop every replica (the poll thread does it)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.drain_seconds + 20)
        self._thread = None
        # Whatever the thread could not stop (it died, or is stuck): stop it from here.
        for replica in self._take_all():
            replica.process.stop(timeout=5)

    def processes(self) -> list[SupervisedProcess]:
        with self._lock:
            return [replica.process for replica in self._replicas.values()]

    # -- what others read -------------------------------------------------------------------

    def replicas(self) -> list[Replica]:
        """A snapshot of the running replicas."""
        with self._lock:
            return list(self._replicas.values())

    def backends(self, model: str | None = None) -> list[Backend]:
        """Replicas a router may send ``model`` to: pod Ready and port open (an endpoint)."""
        with self._lock:
            chosen = [r for r in self._replicas.values() if r.pod_ready and r.serving]
        if model is not None:
            chosen = [r for r in chosen if model in r.spec.served_names]
        return [r.backend() for r in chosen]

    def replica(self, namespace: str, pod: str) -> Replica | None:
        with self._lock:
            return self._replicas.get((namespace, pod))

    def check(self) -> None:
        """Raise the poll thread's error, if it died."""
        if self._error is not None:
            raise RuntimeError(f"fleet bridge failed: {self._error}") from self._error

    # -- the poll loop ------------------------------------------------------------------------

    def _list_pods(self) -> list[dict[str, Any]]:
        if self._api is None:
            raise RuntimeError("fleet bridge not started")
        query = urllib.parse.urlencode({"labelSelector": MANAGED_SELECTOR})
        items: list[dict[str, Any]] = self._api.get(f"/api/v1/pods?{query}")["items"]
        return items

    def _run(self) -> None:
        try:
            self._started.set()
            failures = 0
            while not self._stop.is_set():
                try:
                    self.sync(self._list_pods())
                    failures = 0
                except OSError as error:  # apiserver hiccup (or stopping): retry
                    failures += 1
                    if failures in (1, 20):
                        logger.warning("fleet bridge: listing pods failed: %s", error)
                self._stop.wait(self.poll_seconds)
        except BaseException as error:
            self._error = error
            logger.exception("fleet bridge stopped")
        finally:
            self._drain_all()

    def sync(self, pods: list[dict[str, Any]]) -> None:
        """Make the replicas match ``pods`` (one poll); public for tests and the CLI."""
        now = time.time()
        wanted: dict[tuple[str, str], tuple[ReplicaSpec, bool]] = {}
        for pod in pods:
            spec = replica_spec(pod, default_load_seconds=self.default_load_seconds, now=now)
            if spec is not None:
                wanted[spec.key] = (spec, pod_ready(pod))
        with self._lock:
            current = dict(self._replicas)
        for key, replica in current.items():
            if key not in wanted or wanted[key][0].uid != replica.spec.uid:
                self._retire(key)
        for key, (spec, ready) in wanted.items():
            replica = self.replica(*key) or self._launch(spec)
            replica.pod_ready = ready
            if ready and not replica.serving:
                replica.serving = _accepts(replica.port)

    def _launch(self, spec: ReplicaSpec) -> Replica:
        port = free_port()
        logs = self._logs or Path(".")
        cri_log = self._container_log(spec, logs)
        # The bridge's thread drains every replica before it returns, so tying the
        # parent-death signal to it keeps replicas from outliving a SIGKILLed sandbox.
        process = SupervisedProcess(
            f"sim-{spec.namespace}-{spec.pod}",
            sim_server_argv(
                spec, port, python=self.python, drain_seconds=self.drain_seconds, cri_log=cri_log
            ),
            logs / f"{spec.namespace}_{spec.pod}.log",
            die_with_forking_thread=True,
        )
        process.start()
        replica = Replica(spec, port, process)
        with self._lock:
            self._replicas[spec.key] = replica
        if self.targets is not None:
            self.targets.add_target(scrape_target(spec, port))
        self.history.append((time.monotonic(), "started", f"{spec.namespace}/{spec.pod}"))
        logger.info("replica %s/%s on port %d", spec.namespace, spec.pod, port)
        return replica

    def _container_log(self, spec: ReplicaSpec, logs: Path) -> Path | None:
        """Where the replica's vLLM log goes, as the kubelet stores a container's, and
        kwok told to serve it for the pod's ``vllm`` container: ``kubectl logs POD -c
        vllm`` then reads what this replica wrote. None when kwok serves no pod logs (a
        harness without kwok) or the ``Logs`` object cannot be created (then the pod reads
        the shared files, and the bridge says so)."""
        if self._pod_logs is None or self._api is None:
            return None
        path = logs / f"{spec.namespace}_{spec.pod}.{VLLM_CONTAINER}.log"
        path.touch()
        own = {VLLM_CONTAINER: path}
        try:
            self._api.apply(replica_logs(spec.namespace, spec.pod, spec.uid, own, self._pod_logs))
        except (ApiError, OSError) as error:
            logger.warning("no per-pod log for %s/%s: %s", spec.namespace, spec.pod, error)
            return None
        return path

    def _retire(self, key: tuple[str, str], *, pre_stop: bool = True) -> None:
        """The pod is going: out of the router at once, out of Prometheus, then terminate it
        as the kubelet would (``pre_stop=False``: the sandbox itself is stopping, so
        nothing can reach the replica any more and its preStop sleep is skipped)."""
        with self._lock:
            replica = self._replicas.pop(key, None)
        if replica is None:
            return
        if self.targets is not None:
            self.targets.remove_target(*key)
        self.history.append((time.monotonic(), "stopped", f"{key[0]}/{key[1]}"))
        sleep, grace_left = termination_waits(replica.spec, self.drain_seconds)
        thread = threading.Thread(
            target=self._terminate,
            args=(replica, sleep if pre_stop else 0.0, grace_left),
            name=f"drain-{key[1]}",
            daemon=True,
        )
        thread.start()
        self._draining.append(thread)
        self._draining = [t for t in self._draining if t.is_alive()]

    def _terminate(self, replica: Replica, sleep: float, grace_left: float) -> None:
        """preStop sleep (cut short if the bridge stops), SIGTERM, SIGKILL after the grace.

        The SIGKILL comes 5 s after the grace period, not at its end: the sandbox caps the
        sim-server's ``--shutdown-timeout`` and the grace at the same ``drain_seconds``, and
        a replica that drains for all of it must get to exit on its own."""
        self._stop.wait(sleep)
        replica.process.stop(timeout=grace_left + 5)

    def _take_all(self) -> list[Replica]:
        with self._lock:
            replicas = list(self._replicas.values())
            self._replicas.clear()
        return replicas

    def _drain_all(self) -> None:
        """Stop every replica in parallel (each drains its in-flight requests)."""
        keys = [r.spec.key for r in self.replicas()]
        for key in keys:
            self._retire(key, pre_stop=False)
        for thread in self._draining:
            thread.join(timeout=self.drain_seconds + 10)
        self._draining = []

    @contextlib.contextmanager
    def running(self, cluster: Cluster) -> Iterator[FleetBridge]:
        """``with bridge.running(cluster):`` start and always stop."""
        self.start(cluster)
        try:
            yield self
        finally:
            self.stop()
