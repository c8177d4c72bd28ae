"""Which failed requests the client sends again: client-go's rule, not urllib3's.

client-go (``isErrRetryableFunc`` in ``rest/request.go``) resends a GET whose connection
was reset or closed before the answer (a pooled connection the server had closed), and
nothing that timed out. urllib3's default resends both, an idempotent request up to three
times, each after the whole timeout. A raw socket server on 127.0.0.1 plays the server's
part: it counts connections and, per connection, answers, closes, or never answers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import kubernetes
import pytest

from forescale.handlers.api_client import ApiUnreachableError, ClusterClient
from tests.unit.handlers.api_objects import SERVICE

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

Behaviour = Callable[[socket.socket, threading.Event], None]


def _answer(connection: socket.socket, done: threading.Event) -> None:
    connection.recv(65536)
    connection.sendall(_OK)


def _close(connection: socket.socket, done: threading.Event) -> None:
    connection.recv(65536)  # the request arrived; the server goes away without answering


def _never_answer(connection: socket.socket, done: threading.Event) -> None:
    connection.recv(65536)
    done.wait(10)


@contextmanager
def _server(*behaviours: Behaviour) -> Iterator[tuple[int, list[int]]]:
    """A server whose n-th connection gets ``behaviours[n]`` (the last one from then on);
    yields its port and the list it appends each accepted connection's number to."""
    accepted: list[int] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    done = threading.Event()
    threads: list[threading.Thread] = []

    def handle(connection: socket.socket, behaviour: Behaviour) -> None:
        with connection:
            behaviour(connection, done)

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(len(accepted))
            behaviour = behaviours[min(len(accepted), len(behaviours)) - 1]
            threads.append(threading.Thread(target=handle, args=(connection, behaviour)))
            threads[-1].start()

    threads.append(threading.Thread(target=serve))
    threads[-1].start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=10)
        listener.close()


def _client(port: int, request_timeout: float = 30.0) -> ClusterClient:
    configuration = kubernetes.client.Configuration(host=f"http://127.0.0.1:{port}")
    return ClusterClient(configuration, request_timeout=request_timeout)


def test_a_read_that_timed_out_is_not_sent_again() -> None:
    """A stalled API server: the pass hears of it after one timeout, not four (urllib3's
    three read retries held a worker thread for 2 minutes at the 30 s timeout)."""
    timeout = 0.5
    with _server(_never_answer) as (port, accepted):
        client = _client(port, request_timeout=timeout)
        started = time.monotonic()
        try:
            with pytest.raises(ApiUnreachableError, match="timed out"):
                asyncio.run(client.get("Service", "ns", "llm"))
        finally:
            client.close()
        took = time.monotonic() - started
    assert accepted == [0], accepted
    assert timeout <= took < 2 * timeout, took


def test_a_read_whose_connection_closed_is_sent_again() -> None:
    """A pooled connection the server had closed (an API server restart, an idle timeout
    on a load balancer) costs nothing: the GET goes out again on a new connection."""
    with _server(_close, _answer) as (port, accepted):
        client = _client(port)
        try:
            assert asyncio.run(client.get("Service", "ns", "llm")) == {}
        finally:
            client.close()
    assert accepted == [0, 1], accepted


def test_a_write_whose_connection_closed_is_not_sent_again() -> None:
    """A write may have landed before the connection went: the pass fails and the
    reconciler's next one applies again (server-side apply makes that safe), as client-go
    leaves a write to its caller."""
    with _server(_close, _answer) as (port, accepted):
        client = _client(port)
        try:
            with pytest.raises(ApiUnreachableError, match="PATCH"):
                asyncio.run(client.apply(SERVICE))
        finally:
            client.close()
    assert accepted == [0], accepted
