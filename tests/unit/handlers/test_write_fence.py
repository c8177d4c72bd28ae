"""The leader fence: every write is refused while this replica is not the leader, checked
when the request is about to be sent, not when it was prepared.

A real HTTP server on 127.0.0.1 stands in for the API server (what reaches it is what
counts); reads pass the fence, writes do not.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kubernetes
import pytest

from forescale.handlers.api_client import (
    API_THREADS,
    ApiUnreachableError,
    ClusterClient,
    NotLeaderError,
)
from tests.loopback import answer_json, serving
from tests.unit.handlers.api_objects import SERVICE


class _ApiServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str]] = []
        self.release = threading.Event()
        self.slow = threading.Event()
        self.waiting = threading.Semaphore(0)


class _Handler(BaseHTTPRequestHandler):
    server: _ApiServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append((self.command, self.path.split("?")[0]))
        if self.command == "GET" and self.server.slow.is_set():
            self.server.waiting.release()
            self.server.release.wait(10)
        answer_json(self, SERVICE)

    def do_GET(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[_ApiServer]:
    with serving(_ApiServer()) as api:
        try:
            yield api
        finally:
            api.release.set()  # a handler still waiting lets go before the shutdown


def _client(api: _ApiServer, leader: list[bool]) -> ClusterClient:
    configuration = kubernetes.client.Configuration(host=f"http://127.0.0.1:{api.server_port}")
    return ClusterClient(configuration, may_write=lambda: leader[0])


def test_a_standby_reads_but_sends_no_write(server: _ApiServer) -> None:
    leader = [True]
    client = _client(server, leader)

    async def run() -> None:
        await client.apply(SERVICE)
        leader[0] = False
        with pytest.raises(NotLeaderError):
            await client.apply(SERVICE)
        assert await client.get("Service", "ns", "llm") is not None

    try:
        asyncio.run(run())
    finally:
        client.close()
    assert [method for method, _ in server.seen] == ["PATCH", "GET"]


def test_a_write_prepared_while_leading_is_refused_once_the_lease_is_lost(
    server: _ApiServer,
) -> None:
    """Every API thread busy on a slow read, a write queued behind them while leading; the
    Lease lost before a thread is free: the write never reaches the server."""
    leader = [True]
    client = _client(server, leader)
    server.slow.set()

    async def run() -> None:
        reads = [
            asyncio.ensure_future(client.get("Service", "ns", "llm")) for _ in range(API_THREADS)
        ]
        for _ in range(API_THREADS):
            await asyncio.to_thread(server.waiting.acquire, True, 10)
        write = asyncio.ensure_future(client.apply(SERVICE))  # queued: no thread is free
        await asyncio.sleep(0.05)
        leader[0] = False
        server.release.set()
        await asyncio.gather(*reads)
        with pytest.raises(NotLeaderError):
            await write

    try:
        asyncio.run(run())
    finally:
        client.close()
    assert ("PATCH", "/api/v1/namespaces/ns/services/llm") not in server.seen
    assert len(server.seen) == API_THREADS


def _read_from(port: int, request_timeout: float = 30.0) -> ApiUnreachableError:
    """What a read through ClusterClient from 127.0.0.1:``port`` raises (it must raise
    ApiUnreachableError)."""
    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    client = ClusterClient(configuration, request_timeout=request_timeout)
    try:
        with pytest.raises(ApiUnreachableError) as raised:
            asyncio.run(client.get("Service", "ns", "llm"))
    finally:
        client.close()
    return raised.value


def test_an_api_server_that_is_down_is_an_os_error() -> None:
    """A refused connection (an apiserver restarting) comes out of urllib3 as its own
    MaxRetryError, which is no OSError; the client turns it into ``ApiUnreachableError``, a
    ConnectionError, so every handler that rides out an outage catches it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    raised = _read_from(port)
    assert isinstance(raised, OSError)
    assert str(port) in str(raised)


def test_an_api_server_that_stalls_is_an_os_error() -> None:
    """A stalled apiserver (a long pause, a partition) accepts and never answers: urllib3's
    read timeout, no OSError either, becomes ``ApiUnreachableError`` too, and says so
    without urllib3's "Max retries exceeded" (no retry was allowed)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        raised = _read_from(listener.getsockname()[1], request_timeout=0.3)
    assert isinstance(raised, OSError)
    assert "timed out" in str(raised).lower(), raised
    assert "Max retries" not in str(raised), raised
