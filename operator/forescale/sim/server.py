"""``forescale sim-server``: an HTTP server that behaves like ``vllm serve``, in real time.

The pure replica model runs in virtual seconds; this module is the I/O shell that maps the
event loop's monotonic clock onto it (virtual time = seconds since the server became
ready). One driver task sleeps until the model's next event, a new arrival, or a short
streaming tick while requests are decoding, then advances the model and wakes the handlers
whose requests made progress. Handlers never compute latency themselves.

Like vLLM: nothing listens on the port until the simulated model load is over; ``/health``
is 200 once serving. On SIGTERM it stops accepting connections and then, like the pinned
vLLM (``--shutdown-timeout``, default 0), aborts the requests in flight unless given a
``shutdown_timeout``, in which case they may finish within it: so a drain that forescale
forgets to configure loses requests in the sandbox exactly as it would in a cluster. A
client disconnect does not abort the simulated request (the model has no cancellation), so
it still counts as a success. Its output is vLLM's log lines (:mod:`forescale.sim.server_logging`):
what ``kubectl logs`` of a replica shows in the sandbox, and what a caller waits for
(``Starting vLLM server on http://HOST:PORT``) before it sends requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from forescale.sim import openai_protocol as proto
from forescale.sim import server_logging as vllm_log
from forescale.sim.replica_model import ReplicaEngine, ReplicaProfile, SimRequest
from forescale.sim.server_logging import VllmLog
from forescale.sim.server_metrics import ServerMetrics, cache_config_info

STREAM_TICK_SECONDS = 0.01
"""How often streams are flushed while requests decode (vLLM emits a token per step)."""


@dataclass(frozen=True)
class ServerConfig:
    profile: ReplicaProfile
    host: str = "127.0.0.1"
    port: int = 8000
    model: str = "meta-llama/Llama-3.1-8B-Instruct"
    served_model_names: tuple[str, ...] = ()
    load_seconds: float = 0.0
    max_requests: int | None = None
    max_seconds: float | None = None
    seed: int = 0
    legacy_metric_names: bool = False
    shutdown_timeout: float = 0.0
    """Seconds in-flight requests may take after SIGTERM; 0 aborts them (vLLM's default)."""

    @property
    def names(self) -> tuple[str, ...]:
        return self.served_model_names or (self.model,)


@dataclass(eq=False)
class _Tracked:
    request: SimRequest
    reason: str
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    aborted: bool = False


class RequestAbortedError(Exception):
    """The server is shutting down without a drain: the request is dropped, as vLLM does."""


class RealtimeReplica:
    """Drives a ``ReplicaEngine`` on the event loop's clock and notifies waiting handlers."""

    def __init__(self, engine: ReplicaEngine, metrics: ServerMetrics) -> None:
        self._engine = engine
        self._metrics = metrics
        self._origin = asyncio.get_running_loop().time()
        self._active: dict[int, _Tracked] = {}
        self._awaiting_first: list[_Tracked] = []
        self._ids = itertools.count()
        self._wake = asyncio.Event()
        self.completed = 0
        self.completed_changed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        """Requests submitted and not finished."""
        return len(self._active)

    def abort_all(self) -> int:
        """Drop every in-flight request (their handlers raise RequestAbortedError)."""
        for tracked in self._active.values():
            tracked.aborted = True
            tracked.progress.set()
        return len(self._active)

    def fits(self, prompt_tokens: int, output_tokens: int) -> bool:
        return self._engine.fits(SimRequest(-1, 0.0, prompt_tokens, output_tokens))

    def sync(self) -> None:
        """Advance the model to now and publish what happened (metrics, handler wake-ups)."""
        engine = self._engine
        finished = engine.advance(asyncio.get_running_loop().time() - self._origin)
        if self._awaiting_first:
            still: list[_Tracked] = []
            for tracked in self._awaiting_first:
                if tracked.request.first_token_at is None:
                    still.append(tracked)
                else:
                    self._metrics.first_token(tracked.request)
            self._awaiting_first = still
        for request in finished:
            tracked = self._active.pop(request.id)
            self._metrics.finished(request, tracked.reason)
            tracked.progress.set()
            self.completed += 1
        if finished:
            self.completed_changed.set()
        for tracked in self._active.values():
            if tracked.request.first_token_at is not None:
                tracked.progress.set()
        self._metrics.set_state(
            running=engine.num_running,
            waiting=engine.num_waiting,
            kv_cache_usage=engine.kv_cache_usage,
            prompt_tokens_total=engine.prompt_tokens_total,
            generation_tokens_total=engine.generation_tokens_total,
            preemptions_total=engine.preemptions,
        )

    def stats_line(self, interval: vllm_log.StatsInterval, seconds: float) -> str | None:
        """The engine's stats line for the last ``seconds`` (None: idle, logged at DEBUG)."""
        self.sync()
        engine = self._engine
        counters = (engine.prompt_tokens_total, engine.generation_tokens_total,
                    engine.preemptions)  # fmt: skip
        return interval.line(
            seconds, counters, engine.num_running, engine.num_waiting, engine.kv_cache_usage
        )

    async def run(self) -> None:
        """The driver loop; runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            self.sync()
            self._wake.clear()
            timeout: float | None = None
            event = self._engine.next_event_time()
            if event is not None:
                timeout = max(0.0, event - (loop.time() - self._origin))
            if self._active:
                timeout = (
                    min(timeout, STREAM_TICK_SECONDS)
                    if timeout is not None
                    else STREAM_TICK_SECONDS
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def generate(
        self, prompt_tokens: int, output_tokens: int, reason: str
    ) -> AsyncIterator[int]:
        """Submit a request; yield its cumulative output token count as tokens appear."""
        self.sync()
        request = SimRequest(next(self._ids), self._engine.now, prompt_tokens, output_tokens)
        tracked = _Tracked(request, reason)
        self._active[request.id] = tracked
        self._awaiting_first.append(tracked)
        self._engine.submit(request, self._engine.now)
        self._wake.set()
        sent = 0
        while request.finished_at is None:
            await tracked.progress.wait()
            tracked.progress.clear()
            if tracked.aborted:
                raise RequestAbortedError(f"request {request.id} aborted by shutdown")
            count = self._engine.tokens_generated(request)
            if count > sent:
                sent = count
                yield count
        if sent < output_tokens:
            yield output_tokens


def _json_error(message: str, kind: str, status: int) -> web.Response:
    return web.json_response(proto.error_body(message, kind, status), status=status)


class _Api:
    """The HTTP handlers, bound to one replica and configuration."""

    def __init__(
        self, config: ServerConfig, replica: RealtimeReplica, metrics: ServerMetrics
    ) -> None:
        self._config = config
        self._replica = replica
        self._metrics = metrics
        self._rng = random.Random(config.seed)
        self._ids = itertools.count()
        self._created = int(time.time())

    async def health(self, _: web.Request) -> web.Response:
        return web.Response(status=200)

    async def metrics(self, _: web.Request) -> web.Response:
        self._replica.sync()
        return web.Response(
            body=self._metrics.exposition(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def models(self, _: web.Request) -> web.Response:
        data = [
            {
                "id": name,
                "object": "model",
                "created": self._created,
                "owned_by": "vllm",
                "root": self._config.model,
                "parent": None,
            }
            for name in self._config.names
        ]
        return web.json_response({"object": "list", "data": data})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=False)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=True)

    async def _generate(self, http: web.Request, *, chat: bool) -> web.StreamResponse:
        try:
            spec = proto.parse_request(await http.json(), chat=chat)
        except (json.JSONDecodeError, proto.ProtocolError) as error:
            return _json_error(str(error), "BadRequestError", 400)
        if spec.model is not None and spec.model not in self._config.names:
            return _json_error(f"The model `{spec.model}` does not exist.", "NotFoundError", 404)
        output = spec.max_tokens or proto.sample_output_tokens(self._rng)
        reason = "length" if spec.max_tokens else "stop"
        if not self._replica.fits(spec.prompt_tokens, output):
            return _json_error(
                f"{spec.prompt_tokens} prompt + {output} output tokens exceed the KV cache",
                "BadRequestError",
                400,
            )
        prefix = "chatcmpl" if chat else "cmpl"
        base = proto.envelope(
            f"{prefix}-{next(self._ids)}",
            spec.model or self._config.names[0],
            int(time.time()),
            chat=chat,
            chunk=spec.stream,
        )
        tokens = self._replica.generate(spec.prompt_tokens, output, reason)
        try:
            return await self._respond(http, spec, base, tokens, output, reason=reason, chat=chat)
        except RequestAbortedError:
            # vLLM's abort on shutdown: the connection ends, with no (or half a) response.
            if http.transport is not None:
                http.transport.abort()
            return web.Response(status=503)  # never reaches the client: the transport is gone

    async def _respond(
        self,
        http: web.Request,
        spec: proto.GenerationRequest,
        base: dict[str, Any],
        tokens: AsyncIterator[int],
        output: int,
        *,
        reason: str,
        chat: bool,
    ) -> web.StreamResponse:
        if not spec.stream:
            async for _ in tokens:
                pass
            text = "".join(proto.token_text(i) for i in range(output))
            body = proto.full_response(
                base,
                chat=chat,
                text=text,
                finish_reason=reason,
                prompt_tokens=spec.prompt_tokens,
                completion_tokens=output,
            )
            return web.json_response(body)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(http)

        async def send(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            await response.write(f"data: {data}\n\n".encode())

        if chat:
            await send(proto.role_chunk(base))
        sent = 0
        async for count in tokens:
            for index in range(sent, count):
                finish = reason if index == output - 1 else None
                await send(
                    proto.stream_chunk(
                        base, chat=chat, text=proto.token_text(index), finish_reason=finish
                    )
                )
            sent = count
        if spec.include_usage:
            await send(proto.usage_chunk(base, spec.prompt_tokens, output))
        await send("[DONE]")
        await response.write_eof()
        return response


ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/health", "health"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/v1/models", "models"),
    ("POST", "/v1/completions", "completions"),
    ("POST", "/v1/chat/completions", "chat_completions"),
)
"""(method, path, handler): vLLM's routes the simulator serves (the contract check verifies
each against the pinned vLLM)."""


def build_app(
    config: ServerConfig, replica: RealtimeReplica, metrics: ServerMetrics
) -> web.Application:
    api = _Api(config, replica, metrics)
    app = web.Application()
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, getattr(api, handler))
    return app


async def _first(*waits: Any) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _until_completed(replica: RealtimeReplica, count: int) -> None:
    while replica.completed < count:
        replica.completed_changed.clear()
        await replica.completed_changed.wait()


async def _log_stats(replica: RealtimeReplica, log: VllmLog) -> None:
    """The engine's stats line every ``VLLM_LOG_STATS_INTERVAL``, as vLLM's stat logger
    writes it (nothing after two idle intervals: vLLM logs those at DEBUG)."""
    loop = asyncio.get_running_loop()
    interval = vllm_log.StatsInterval()
    last = loop.time()
    while True:
        await asyncio.sleep(vllm_log.STATS_INTERVAL_SECONDS)
        now = loop.time()
        line = replica.stats_line(interval, now - last)
        last = now
        if line is not None:
            log.write(vllm_log.STATS, line)


async def _shut_down(
    config: ServerConfig, replica: RealtimeReplica, site: web.TCPSite, log: VllmLog
) -> None:
    """Stop accepting; let in-flight requests finish within shutdown_timeout; abort the rest."""
    timeout = int(config.shutdown_timeout)
    log.log(vllm_log.SHUTDOWN_TRIGGERED)
    log.log(vllm_log.SHUTDOWN_MODE, "abort" if timeout == 0 else "drain", timeout)
    await site.stop()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.shutdown_timeout
    while replica.in_flight and loop.time() < deadline:
        replica.completed_changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(replica.completed_changed.wait(), deadline - loop.time())
    replica.abort_all()
    await asyncio.sleep(0)  # let the aborted handlers close their connections
    log.log(vllm_log.ENGINE_STOPPED)


async def serve(config: ServerConfig, log: VllmLog) -> None:
    """Load, listen, serve until SIGTERM/SIGINT or a self-stop limit, then stop like vLLM.

    What it logs is vLLM's lines (:mod:`forescale.sim.server_logging`): the weights loaded,
    then ``Starting vLLM server on http://HOST:PORT`` once the port accepts connections
    (the line a caller waits for), the stats line, and the shutdown's mode."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), config.load_seconds)  # the port stays closed
    if stop.is_set():
        return
    log.log(vllm_log.WEIGHTS_LOADED, config.load_seconds)
    # Like vLLM, the replica holds whole KV blocks; its cache_config_info shows that size.
    legacy = config.legacy_metric_names
    profile = cache_config_info(legacy_names=legacy).whole_blocks(config.profile)
    metrics = ServerMetrics(
        config.names[0], kv_cache_tokens=profile.kv_cache_tokens, legacy_names=legacy
    )
    replica = RealtimeReplica(ReplicaEngine(profile), metrics)
    runner = web.AppRunner(
        build_app(config, replica, metrics), shutdown_timeout=1.0, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    driver = asyncio.create_task(replica.run())
    port = runner.addresses[0][1]
    log.log(vllm_log.SERVER_STARTING, f"http://{config.host}:{port}")
    stats = asyncio.create_task(_log_stats(replica, log))
    try:
        waits: list[Any] = [stop.wait()]
        if config.max_seconds is not None:
            waits.append(asyncio.sleep(config.max_seconds))
        if config.max_requests is not None:
            waits.append(_until_completed(replica, config.max_requests))
        await _first(*waits)
        await _shut_down(config, replica, site, log)
    finally:
        await runner.cleanup()
        for task in (stats, driver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
