"""The sandbox router: an OpenAI reverse proxy on 127.0.0.1 in front of simulated replicas.

In a cluster, clients reach an LLMDeployment through its Service (or an inference
gateway), which only sends traffic to Ready pods. The sandbox has no Service endpoints
(kwok's pod IPs are fake), so this router plays that part: for each request it reads the
``model`` field, finds the Ready replicas serving that model, and forwards the request to
the one with the fewest requests in flight (what a least-request gateway does, and what
keeps a freshly added replica from idling while an old one queues). Responses, streaming
or not, are relayed chunk by chunk, so the client measures time to first token through
the proxy exactly as it would through a gateway.

A replica that refuses the connection (it is stopping) is skipped and the next one tried;
with no Ready replica the answer is 503, as from a Service without endpoints. The router
never dials anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from forescale.sandbox.processes import SupervisedProcess
from forescale.sim.loopback import require_loopback_url

if TYPE_CHECKING:
    from forescale.sandbox.cluster import Cluster

_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
)


@dataclass(frozen=True)
class Backend:
    """One Ready replica: where it listens and what it serves."""

    namespace: str
    llmdeployment: str
    pod: str
    url: str
    """``http://127.0.0.1:PORT``."""
    models: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.pod}"


def least_loaded(
    backends: Sequence[Backend],
    in_flight: Mapping[str, int],
    served: Mapping[str, int] | None = None,
) -> Backend | None:
    """The backend with the fewest requests in flight.

    Ties go to the one that has served fewest requests so far (so an idle fleet is used
    round-robin rather than always the first pod), then to the pod name (deterministic).
    """
    if not backends:
        return None
    counts = served or {}
    return min(backends, key=lambda b: (in_flight.get(b.key, 0), counts.get(b.key, 0), b.key))


@dataclass
class ModelStats:
    """What the router saw for one model; read by the demo's timeline."""

    requests: int = 0
    forwarded: int = 0
    no_backend: int = 0
    upstream_errors: int = 0
    arrivals: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def rate(self, now: float, window: float) -> float:
        """Arrivals per second over the last ``window`` seconds (monotonic clock)."""
        recent = sum(1 for t in self.arrivals if now - t <= window)
        return recent / window if window > 0 else 0.0


def _error(message: str, kind: str, status: int) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return web.json_response(body, status=status)


class Router:
    """Sandbox component: the proxy, served by its own event loop in a thread."""

    name = "router"

    def __init__(
        self,
        backends: Callable[[str | None], list[Backend]],
        *,
        port: int = 0,
        connect_timeout: float = 2.0,
    ) -> None:
        self._backends = backends
        self._requested_port = port
        self.connect_timeout = connect_timeout
        self.port: int | None = None
        self.in_flight: dict[str, int] = {}
        self.served: dict[str, int] = {}
        self.stats: dict[str, ModelStats] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the router has not started")
        return f"http://127.0.0.1:{self.port}"

    # -- Component protocol -------------------------------------------------------------------

    def start(self, cluster: Cluster | None = None) -> None:
        """Serve on 127.0.0.1 (port chosen now if 0); returns once the port accepts."""
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._serve, name="router", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30) or self._error is not None:
            raise RuntimeError(f"router failed to start: {self._error}")

    def stop(self) -> None:
        """Close the listener, end in-flight relays within a few seconds, close the session."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(timeout=30)
        self._thread = None

    def processes(self) -> list[SupervisedProcess]:
        return []  # a thread of the sandbox process, not a child

    def model_stats(self, model: str) -> ModelStats:
        return self.stats.setdefault(model, ModelStats())

    # -- serving ----------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=0)
        ) as session:
            self._session = session
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_post("/v1/completions", self._proxy)
            app.router.add_post("/v1/chat/completions", self._proxy)
            app.router.add_get("/v1/models", self._models)
            app.router.add_get("/health", self._health)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", self._requested_port)
                await site.start()
                self.port = int(runner.addresses[0][1])
                self._ready.set()
                await self._stop.wait()
            finally:
                await runner.cleanup()
            self._session = None

    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _models(self, _: web.Request) -> web.Response:
        names = sorted({m for b in self._backends(None) for m in b.models})
        created = int(time.time())
        data = [{"id": n, "object": "model", "created": created, "owned_by": "vllm"} for n in names]
        return web.json_response({"object": "list", "data": data})

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            model = json.loads(body).get("model")
        except (json.JSONDecodeError, AttributeError):
            return _error("the body is not a JSON object", "BadRequestError", 400)
        if model is not None and not isinstance(model, str):
            return _error("model must be a string", "BadRequestError", 400)
        stats = self.model_stats(model or "")
        stats.requests += 1
        stats.arrivals.append(time.monotonic())
        tried: set[str] = set()
        while True:
            candidates = [b for b in self._backends(model) if b.key not in tried]
            backend = least_loaded(candidates, self.in_flight, self.served)
            if backend is None:
                stats.no_backend += 1
                what = f"model `{model}`" if model else "any model"
                return _error(f"no Ready replica serves {what}", "ServiceUnavailable", 503)
            tried.add(backend.key)
            try:
                return await self._relay(request, backend, body, stats)
            except aiohttp.ClientConnectorError:
                continue  # refused (stopping or not yet listening): next replica

    async def _relay(
        self, request: web.Request, backend: Backend, body: bytes, stats: ModelStats
    ) -> web.StreamResponse:
        session = self._session
        if session is None:
            raise RuntimeError("router session closed")
        url = require_loopback_url(backend.url.rstrip("/") + request.path)
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        key = backend.key
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.served[key] = self.served.get(key, 0) + 1
        try:
            async with session.post(url, data=body, headers=headers) as upstream:
                stats.forwarded += 1
                response = web.StreamResponse(
                    status=upstream.status,
                    headers={
                        k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS
                    },
                )
                await response.prepare(request)
                try:
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
                    stats.upstream_errors += 1  # the replica died mid-answer
                except ConnectionResetError:
                    pass  # the client left (e.g. right after [DONE]); nothing to relay to
                return response
        finally:
            self.in_flight[key] -= 1
