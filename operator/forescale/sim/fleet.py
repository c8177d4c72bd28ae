"""The fleet simulator: replicas, a router, Prometheus scrapes and an autoscaler, in virtual time.

Discrete events on one heap (replica engine events, pods becoming Ready, scrapes, the
1-second concurrency sampler, autoscaler ticks) and a sorted arrival stream merged into it.
Each replica is the shared event-driven :class:`ReplicaEngine`, so the benchmark measures
the same replica the sim-server serves. Design choices:

* **Pods** are created Loading and become Ready after a cold start drawn (seeded) from a
  log-normal distribution around the configured median; loading pods cost GPUs and serve
  nothing. Scale-down follows the ReplicaSet's deletion order: Loading pods first, then the
  newest Ready ones. A removed Ready pod **drains**: it takes no new requests, finishes
  what it holds (running and queued), and then disappears.
* **Router**: each request goes to the Ready replica with the fewest requests in flight
  (ties: oldest pod). With no Ready replica it waits in a router queue (counted as
  waiting), flushed when a replica becomes Ready.
* **GPU-hours**: the integral over [``account_from``, trace end] of the pods that exist
  (loading, Ready or draining) times GPUs per replica.
* A request still unfinished ``drain_limit_seconds`` after the trace ends, or one too
  large for a replica's KV cache, is **dropped** (and counted as missing its SLO).

Performance: engine events use lazy invalidation on the heap (a pod's newest scheduled
time is the valid one), the router's least-loaded choice is a C-level ``min`` over the
Ready list, latency histograms are filled once per scrape (only scrapes read them), and
:meth:`FleetSimulator.run` inlines the per-request path (arrival, dispatch, completion),
which a million-request run takes millions of times. The inlined code does what
routing, ``_dispatch``, ``_complete`` and ``_schedule`` do, in the same order, so that a
run's figures do not change (``tests/unit/sim/test_fleet_equivalence.py`` pins them).
"""

from __future__ import annotations

import gc
import heapq
import math
from dataclasses import dataclass, field
from enum import IntEnum
from operator import attrgetter

import numpy as np

from forescale.policy.parameters import ReplicaCounts
from forescale.sim.prometheus_view import LatencyHistograms, PrometheusView, Scrape
from forescale.sim.replica_model import ReplicaEngine, ReplicaProfile, SimRequest
from forescale.sim.scaler import PodSample, Scaler, ScalerInput
from forescale.sim.traces import FloatArray, Trace

_INFLIGHT = attrgetter("inflight")


@dataclass(frozen=True)
class ColdStart:
    """Pod creation to Ready: log-normal with this median and shape (0: always the median)."""

    median_seconds: float = 180.0
    sigma: float = 0.1

    def draw(self, rng: np.random.Generator) -> float:
        if self.sigma == 0:
            return self.median_seconds
        return float(self.median_seconds * math.exp(self.sigma * rng.standard_normal()))

    def quantile(self, z: float) -> float:
        """The cold start at ``z`` standard deviations of its log (e.g. 2.33 for p99)."""
        return self.median_seconds * math.exp(self.sigma * z)


@dataclass(frozen=True)
class FleetConfig:
    profile: ReplicaProfile
    cold_start: ColdStart = field(default_factory=ColdStart)
    initial_replicas: int = 1
    max_replicas: int = 64
    """Hard cap the simulated cluster enforces whatever a scaler asks."""
    gpus_per_replica: int = 1
    scrape_interval_seconds: float = 15.0
    rate_window_seconds: float = 60.0
    drain_limit_seconds: float = 1800.0
    seed: int = 0
    account_from: float = 0.0
    """GPU-hours are counted from this time on (the end of an unscored warm-up)."""
    deployment: str = "bench/llm"
    abort_after_misses: int | None = None
    """Stop the run once more scored requests than this have missed ``miss_ttft_seconds``
    (checked at each scrape): a search that only asks "does this plan meet the target?"
    learns "no" without replaying the rest of the trace. None: always run to the end."""
    miss_ttft_seconds: float = math.inf


class PodState(IntEnum):
    LOADING = 0
    READY = 1
    DRAINING = 2
    GONE = 3


class Pod:
    __slots__ = ("created", "engine", "inflight", "name", "ready_at", "scheduled", "state")

    def __init__(self, name: str, engine: ReplicaEngine, created: float, ready_at: float) -> None:
        self.name = name
        self.engine = engine
        self.created = created
        self.ready_at = ready_at
        self.state = PodState.LOADING
        self.inflight = 0
        self.scheduled: float | None = None


# Timeline and RunResult cross process boundaries (bench --jobs) and are not frozen: a
# frozen dataclass compiled by mypyc (``sim.bench_compile``) cannot be unpickled.
@dataclass
class Timeline:
    """One row per autoscaler tick."""

    time: FloatArray
    desired: FloatArray
    existing: FloatArray
    ready: FloatArray
    forecast: FloatArray
    """The scaler's planned demand (req/s), NaN when it has none."""


@dataclass
class RunResult:
    scaler: str
    ttft: FloatArray
    """Per request, in trace order; NaN for dropped requests."""
    dropped: int
    gpu_seconds: float
    scale_events: int
    peak_waiting: float
    timeline: Timeline
    aborted: bool = False
    """The run stopped early (``FleetConfig.abort_after_misses``): its figures are partial."""


# Event kinds, in the order simultaneous events are handled.
_ENGINE, _READY, _SAMPLE, _SCRAPE, _TICK = range(5)


class FleetSimulator:
    """One run: a trace replayed against a fleet driven by one scaler."""

    def __init__(self, trace: Trace, scaler: Scaler, config: FleetConfig) -> None:
        self.trace = trace
        self.scaler = scaler
        self.config = config
        self.end = trace.duration
        self.rng = np.random.default_rng(config.seed)
        self.view = PrometheusView(
            config.deployment, config.rate_window_seconds, config.scrape_interval_seconds
        )
        self.histograms = LatencyHistograms()
        self.heap: list[tuple[float, int, int, object]] = []
        self.sequence = 0
        self.pods: list[Pod] = []
        self.ready: list[Pod] = []
        self.router_queue: list[SimRequest] = []
        self.desired = 0
        self.pods_created = 0
        self.existing = 0
        self.gpu_seconds = 0.0
        self.accounted_until = config.account_from
        self.completed = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.dropped = 0
        self.finished = 0
        self.scale_events = 0
        self.peak_waiting = 0.0
        self.concurrency: list[float] = []
        self.startups: list[float] = []
        self.startups_reported = 0
        self.ttft: list[float] = [math.nan] * len(trace)
        # Latencies finished since the last scrape, binned into ``histograms`` at the next.
        self.pending_ttft: list[float] = []
        self.pending_e2e: list[float] = []
        self.pending_queue: list[float] = []
        self.pending_arrival: list[float] = []
        self.misses = 0
        self.rows: list[tuple[float, int, int, int, float]] = []

    # ------------------------------------------------------------------ plumbing

    def _push(self, time: float, kind: int, payload: object = None) -> None:
        self.sequence += 1
        heapq.heappush(self.heap, (time, kind, self.sequence, payload))

    def _schedule(self, pod: Pod) -> None:
        upcoming = pod.engine.next_at
        if upcoming is not None and upcoming != pod.scheduled:
            self._push(upcoming, _ENGINE, pod)
        pod.scheduled = upcoming

    def _account(self, now: float) -> None:
        until = min(now, self.end)
        if until > self.accounted_until:
            self.gpu_seconds += (
                self.existing * (until - self.accounted_until) * self.config.gpus_per_replica
            )
            self.accounted_until = until

    def _waiting(self) -> float:
        return float(sum(p.engine.num_waiting for p in self.pods) + len(self.router_queue))

    # ------------------------------------------------------------------ requests

    def _dispatch(self, pod: Pod, request: SimRequest, now: float) -> None:
        engine = pod.engine
        upcoming = engine.next_event_time()
        if upcoming is not None and upcoming <= now:
            for done in engine.advance(now):
                self._complete(pod, done)
        engine.submit(request, now)
        pod.inflight += 1
        self._schedule(pod)

    def _complete(self, pod: Pod, request: SimRequest) -> None:
        pod.inflight -= 1
        self.finished += 1
        arrival = request.arrival
        first = request.first_token_at or arrival
        ttft = first - arrival
        self.ttft[request.id] = ttft
        self.completed += 1
        self.prompt_tokens += request.prompt_tokens
        self.generation_tokens += request.output_tokens
        admitted = request.admitted_at or arrival
        self.pending_ttft.append(ttft)
        self.pending_e2e.append((request.finished_at or first) - arrival)
        self.pending_queue.append(admitted - arrival)
        self.pending_arrival.append(arrival)
        if pod.state is PodState.DRAINING and pod.inflight == 0:
            self._remove(pod, request.finished_at or first)

    # ------------------------------------------------------------------ pods

    def _create(self, now: float, ready_at: float) -> None:
        self._account(now)
        self.pods_created += 1
        pod = Pod(
            f"pod-{self.pods_created}", ReplicaEngine(self.config.profile, now), now, ready_at
        )
        self.pods.append(pod)
        self.existing += 1
        if ready_at <= now:
            self._make_ready(pod, now, record=False)
        else:
            self._push(ready_at, _READY, pod)

    def _make_ready(self, pod: Pod, now: float, record: bool = True) -> None:
        pod.state = PodState.READY
        pod.engine.advance(now)
        self.ready.append(pod)
        if record:
            self.startups.append(now - pod.created)
        queued, self.router_queue = self.router_queue, []
        for request in queued:
            self._dispatch(min(self.ready, key=_INFLIGHT), request, now)

    def _remove(self, pod: Pod, now: float) -> None:
        self._account(now)
        pod.state = PodState.GONE
        self.pods.remove(pod)
        self.existing -= 1

    def _scale(self, desired: int, now: float) -> None:
        active = [p for p in self.pods if p.state in (PodState.LOADING, PodState.READY)]
        if desired > len(active):
            for _ in range(desired - len(active)):
                self._create(now, now + self.config.cold_start.draw(self.rng))
            return
        excess = len(active) - desired
        # ReplicaSet deletion order: not-ready before ready, then the newest first.
        victims = sorted(active, key=lambda p: (p.state is PodState.READY, -p.created))[:excess]
        for pod in victims:
            if pod.state is PodState.LOADING:
                self._remove(pod, now)
                continue
            pod.state = PodState.DRAINING
            self.ready.remove(pod)
            if pod.inflight == 0:
                self._remove(pod, now)

    # ------------------------------------------------------------------ periodic

    def _flush_histograms(self) -> None:
        self.histograms.observe_many(self.pending_ttft, self.pending_e2e, self.pending_queue)
        if self.config.abort_after_misses is not None and self.pending_ttft:
            ttft = np.asarray(self.pending_ttft)
            scored = np.asarray(self.pending_arrival) >= self.config.account_from
            self.misses += int(np.count_nonzero(scored & (ttft > self.config.miss_ttft_seconds)))
        self.pending_ttft, self.pending_e2e, self.pending_queue = [], [], []
        self.pending_arrival = []

    def _scrape(self, now: float) -> None:
        self._flush_histograms()
        reporting = [p for p in self.pods if p.state in (PodState.READY, PodState.DRAINING)]
        samples = tuple(
            PodSample(
                p.name,
                float(p.engine.num_running),
                float(p.engine.num_waiting),
                terminating=p.state is PodState.DRAINING,
            )
            for p in reporting
        )
        kv = sum(p.engine.kv_cache_usage for p in reporting) / len(reporting) if reporting else 0.0
        self.view.record(
            Scrape(
                time=now,
                completed=self.completed,
                prompt_tokens=self.prompt_tokens,
                generation_tokens=self.generation_tokens,
                waiting=sum(s.waiting for s in samples) + len(self.router_queue),
                running=sum(s.running for s in samples),
                kv_cache_usage=kv,
                ttft_buckets=tuple(self.histograms.ttft),
                e2e_buckets=tuple(self.histograms.e2e),
                queue_buckets=tuple(self.histograms.queue),
                pods=samples,
            )
        )

    def _sample(self, now: float) -> None:
        self.concurrency.append(float(sum(p.inflight for p in self.pods) + len(self.router_queue)))
        if now >= self.config.account_from:
            self.peak_waiting = max(self.peak_waiting, self._waiting())

    def mean_concurrency(self, window: float) -> float:
        count = max(1, round(window))
        recent = self.concurrency[-count:]
        return sum(recent) / len(recent) if recent else 0.0

    def _tick(self, now: float) -> None:
        ready = len(self.ready)
        loading = sum(1 for p in self.pods if p.state is PodState.LOADING)
        startups = tuple(self.startups[self.startups_reported :])
        self.startups_reported = len(self.startups)
        view = ScalerInput(
            now=now,
            counts=ReplicaCounts(
                desired=self.desired, ready=ready, pending=loading, startup_seconds=startups
            ),
            observation=self.view.observe(now),
            pods=self.view.latest.pods if self.view.latest else (),
            mean_concurrency=self.mean_concurrency,
        )
        output = self.scaler.decide(view)
        desired = min(max(output.desired_replicas, 1), self.config.max_replicas)
        if desired != self.desired:
            self.scale_events += 1
            self.desired = desired
            self._scale(desired, now)
        forecast = output.forecast_requests_per_second
        self.rows.append(
            (
                now,
                desired,
                self.existing,
                len(self.ready),
                math.nan if forecast is None else forecast,
            )
        )

    # ------------------------------------------------------------------ run

    def run(self) -> RunResult:
        """Replay the trace (the per-request path is inlined, see the module doc)."""
        config = self.config
        self.desired = config.initial_replicas
        for _ in range(config.initial_replicas):
            self._create(0.0, 0.0)
        self._push(0.0, _SCRAPE)
        self._push(1.0, _SAMPLE)
        self._push(self.scaler.interval_seconds, _TICK)
        trace = self.trace
        arrivals = trace.arrivals.tolist()
        prompts = trace.prompt_tokens.tolist()
        outputs = trace.output_tokens.tolist()
        fits = (
            (trace.prompt_tokens + trace.output_tokens) <= config.profile.kv_cache_tokens
        ).tolist()
        total = len(arrivals)
        deadline = self.end + config.drain_limit_seconds
        heap = self.heap
        ready = self.ready
        ttfts = self.ttft
        pop, push = heapq.heappop, heapq.heappush
        engine_kind, draining, gone = _ENGINE, PodState.DRAINING, PodState.GONE
        index = 0
        abort_after = config.abort_after_misses
        aborted = False
        while index < total or self.finished + self.dropped < total:
            next_arrival = arrivals[index] if index < total else math.inf
            if heap and heap[0][0] <= next_arrival:
                now, kind, _, payload = pop(heap)
                if now > deadline:
                    break
                if kind == engine_kind:
                    pod = payload
                    assert isinstance(pod, Pod)
                    if pod.scheduled != now or pod.state is gone:
                        continue
                    pod.scheduled = None
                    engine = pod.engine
                    for done in engine.advance(now):
                        # _complete, inlined.
                        pod.inflight -= 1
                        self.finished += 1
                        arrival = done.arrival
                        first = done.first_token_at or arrival
                        ttft = first - arrival
                        ttfts[done.id] = ttft
                        self.completed += 1
                        self.prompt_tokens += done.prompt_tokens
                        self.generation_tokens += done.output_tokens
                        self.pending_ttft.append(ttft)
                        self.pending_e2e.append((done.finished_at or first) - arrival)
                        self.pending_queue.append((done.admitted_at or arrival) - arrival)
                        self.pending_arrival.append(arrival)
                        if pod.state is draining and pod.inflight == 0:
                            self._remove(pod, done.finished_at or first)
                    if pod.state is not gone:
                        # _schedule, inlined.
                        upcoming = engine.next_at
                        if upcoming is not None:
                            self.sequence += 1
                            push(heap, (upcoming, engine_kind, self.sequence, pod))
                        pod.scheduled = upcoming
                elif kind == _READY:
                    pod = payload
                    assert isinstance(pod, Pod)
                    if pod.state is PodState.LOADING:
                        self._make_ready(pod, now)
                elif kind == _SAMPLE:
                    self._sample(now)
                    self._push(now + 1.0, _SAMPLE)
                elif kind == _SCRAPE:
                    self._scrape(now)
                    if abort_after is not None and self.misses > abort_after:
                        aborted = True
                        break
                    self._push(now + config.scrape_interval_seconds, _SCRAPE)
                else:
                    self._tick(now)
                    self._push(now + self.scaler.interval_seconds, _TICK)
                continue
            now = next_arrival
            # Routing to the least-loaded Ready pod and _dispatch, inlined.
            if not fits[index]:
                self.dropped += 1
            elif not ready:
                self.router_queue.append(SimRequest(index, now, prompts[index], outputs[index]))
            else:
                # min(ready, key=inflight) as a loop (the first least-loaded pod, like
                # min): compiled, it reads a native attribute instead of an attrgetter.
                pod = ready[0]
                least = pod.inflight
                for other in ready:
                    if other.inflight < least:
                        pod, least = other, other.inflight
                engine = pod.engine
                upcoming = engine.next_at
                if upcoming is not None and upcoming <= now:
                    for done in engine.advance(now):
                        self._complete(pod, done)
                engine.submit(SimRequest(index, now, prompts[index], outputs[index]), now)
                pod.inflight += 1
                upcoming = engine.next_at
                if upcoming is not None and upcoming != pod.scheduled:
                    self.sequence += 1
                    push(heap, (upcoming, engine_kind, self.sequence, pod))
                pod.scheduled = upcoming
            index += 1
        self._account(self.end)
        self.dropped = total - self.finished
        columns = np.array(self.rows, dtype=np.float64).reshape(-1, 5)
        return RunResult(
            scaler=self.scaler.name,
            ttft=np.array(self.ttft, dtype=np.float64),
            dropped=self.dropped,
            gpu_seconds=self.gpu_seconds,
            scale_events=self.scale_events,
            peak_waiting=self.peak_waiting,
            aborted=aborted,
            timeline=Timeline(
                time=columns[:, 0],
                desired=columns[:, 1],
                existing=columns[:, 2],
                ready=columns[:, 3],
                forecast=columns[:, 4],
            ),
        )


def pod_fits(profile: ReplicaProfile, request: SimRequest) -> bool:
    return request.prompt_tokens + request.output_tokens <= profile.kv_cache_tokens


def simulate(trace: Trace, scaler: Scaler, config: FleetConfig) -> RunResult:
    """Replay ``trace`` against a fleet driven by ``scaler``.

    The cyclic garbage collector is paused for the run: a run allocates millions of
    short-lived request objects and heap entries, none in a reference cycle, and the
    collector's generation scans cost a measurable share of the run (reference counting
    still frees them).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return FleetSimulator(trace, scaler, config).run()
    finally:
        if enabled:
            gc.enable()
