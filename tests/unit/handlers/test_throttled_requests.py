"""A request the API server asks to send again later is sent again, as client-go does.

client-go's rule (``k8s.io/client-go/rest/with_retry.go``): an answer of 429, or of any
5xx, that carries ``Retry-After`` is waited on and the request sent again, up to ten
times, whatever the verb. API Priority and Fairness rejects that way before running
anything. A real HTTP server on 127.0.0.1 answers from a script; the waits are recorded,
not slept.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kubernetes
import pytest

from forescale.handlers.api_client import (
    ApiError,
    ApiUnreachableError,
    ClientClosedError,
    ClusterClient,
    NotLeaderError,
)
from forescale.handlers.leader_election import LeaseTimings, lease_client
from tests.loopback import answer_json, serving
from tests.unit.handlers.api_objects import SERVICE

FLOW_SCHEMA = "9b1d-flow-schema-uid"
THROTTLED = (429, {"Retry-After": "2", "X-Kubernetes-PF-FlowSchema-UID": FLOW_SCHEMA})


class _ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next (status, headers) of ``script`` (200 once it
    runs out, or ``forever`` when set) and records the methods it saw."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[tuple[int, dict[str, str]]] = []
        self.forever: tuple[int, dict[str, str]] | None = None
        self.seen: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _ScriptedServer

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(self.command)
        status, headers = (
            self.server.script.pop(0) if self.server.script else self.server.forever or (200, {})
        )
        body = SERVICE if status == 200 else {"kind": "Status", "code": status}
        answer_json(self, body, status, headers)

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server names

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[_ScriptedServer]:
    with serving(_ScriptedServer()) as api:
        yield api


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's waits, recorded instead of waited."""
    waited: list[float] = []

    def pause(_: ClusterClient, seconds: float) -> bool:
        waited.append(seconds)
        return False

    monkeypatch.setattr(ClusterClient, "_pause", pause)
    return waited


def _client(api: _ScriptedServer, may_write: Any = None) -> ClusterClient:
    configuration = kubernetes.client.Configuration(host=f"http://127.0.0.1:{api.server_port}")
    return ClusterClient(configuration, may_write=may_write)


def _call(client: ClusterClient, method: str, **kwargs: Any) -> Any:
    try:
        return client._call(method, "/api/v1/namespaces/ns/services/llm", body={}, **kwargs)
    finally:
        client.close()


@pytest.mark.parametrize("method", ["GET", "PATCH", "POST", "PUT", "DELETE"])
def test_every_verb_waits_out_a_throttle_and_is_sent_again(
    server: _ScriptedServer, waits: list[float], method: str
) -> None:
    server.script = [THROTTLED, THROTTLED]
    assert _call(_client(server), method) == SERVICE
    assert server.seen == [method] * 3
    assert waits == [2.0, 2.0]


@pytest.mark.parametrize(
    ("status", "headers", "sent"),
    [
        (503, {"Retry-After": "1"}, 2),  # the apiserver going away, an etcd timeout
        (500, {}, 1),  # no Retry-After: the server did not ask
        (409, {"Retry-After": "1"}, 1),  # not 429 nor 5xx: an answer, not a "later"
        (429, {}, 1),
    ],
)
def test_only_a_429_or_5xx_with_retry_after_is_sent_again(
    server: _ScriptedServer, waits: list[float], status: int, headers: dict[str, str], sent: int
) -> None:
    server.script = [(status, headers)]
    if sent == 2:
        assert _call(_client(server), "PATCH") == SERVICE
    else:
        with pytest.raises(ApiError):
            _call(_client(server), "PATCH")
    assert len(server.seen) == sent


def test_ten_resends_at_most_then_the_throttle_is_raised_with_its_flow_schema(
    server: _ScriptedServer, waits: list[float]
) -> None:
    server.forever = (429, {"Retry-After": "1", "X-Kubernetes-PF-FlowSchema-UID": FLOW_SCHEMA})
    with pytest.raises(ApiError) as raised:
        _call(_client(server), "PATCH")
    assert len(server.seen) == 11 and waits == [1.0] * 10
    assert raised.value.status == 429 and raised.value.flow_schema == FLOW_SCHEMA
    assert str(raised.value).endswith(
        f"(sent again 10 times over 10 s as the API server asked; FlowSchema {FLOW_SCHEMA})"
    )


def test_no_more_waiting_than_the_patience_in_all(
    server: _ScriptedServer, waits: list[float]
) -> None:
    """Retry-After doubles while a priority level keeps rejecting (up to 32 s): the call
    gives up rather than wait past its patience."""
    server.script = [(429, {"Retry-After": "16"}), (429, {"Retry-After": "32"})]
    with pytest.raises(ApiError):
        _call(_client(server), "GET")
    assert waits == [16.0] and len(server.seen) == 2


def test_a_lease_write_is_not_held_past_its_round(
    server: _ScriptedServer, waits: list[float]
) -> None:
    """The elector tries again every retry period; a wait could outlast the renew deadline."""
    server.script = [THROTTLED]
    client = _client(server)
    lease = {"metadata": {"name": "forescale", "namespace": "ns"}}
    try:
        with pytest.raises(ApiError):
            asyncio.run(client.write_lease(lease, create=False))
    finally:
        client.close()
    assert server.seen == ["PUT"] and waits == []


def test_a_write_that_waited_is_not_sent_once_the_lease_is_lost(
    server: _ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    leader = [True]

    def lose_the_lease(_: ClusterClient, seconds: float) -> bool:
        leader[0] = False
        return False

    monkeypatch.setattr(ClusterClient, "_pause", lose_the_lease)
    server.script = [THROTTLED]
    with pytest.raises(NotLeaderError):
        _call(_client(server, may_write=lambda: leader[0]), "PATCH")
    assert server.seen == ["PATCH"]


def test_urllib3_sends_nothing_again_by_itself(server: _ScriptedServer) -> None:
    """Its default resent a throttled GET or PUT three times and a PATCH never."""
    server.script = [THROTTLED] * 4
    with pytest.raises(ApiError):
        _call(_client(server), "GET", patience=0.0)
    assert server.seen == ["GET"]


def test_closing_the_client_ends_a_wait_on_a_throttle(server: _ScriptedServer) -> None:
    """A stopping operator does not sit out a Retry-After of 30 s in a worker thread."""
    server.forever = (429, {"Retry-After": "30"})
    client = _client(server)
    threading.Timer(0.2, client.close).start()
    started = time.monotonic()
    with pytest.raises(ClientClosedError, match="dropped while waiting on a throttle"):
        client._call("GET", "/api/v1/namespaces/ns/services/llm")
    assert time.monotonic() - started < 5 and server.seen == ["GET"]


def test_a_closed_client_sends_nothing_more(server: _ScriptedServer) -> None:
    """A pass that goes on after the stop began ends at its next request, as after a lost
    Lease (``ClientClosedError`` is a ``NotLeaderError``): nothing counted as a failure."""
    client = _client(server)
    client.close()
    with pytest.raises(NotLeaderError, match="not sent"):
        asyncio.run(client.get("Service", "ns", "llm"))
    assert server.seen == []


def test_the_lease_client_gives_up_on_a_hung_request_within_half_the_renew_deadline() -> None:
    """client-go's ``NewFromKubeconfig``: a hung request (a dead pooled connection, a
    stalled API server) must not hold a round to the shared client's 30 s timeout, past
    the renew deadline; at half of it one more try fits before the deadline."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        configuration = kubernetes.client.Configuration(host=f"http://127.0.0.1:{port}")
        timings = LeaseTimings(lease_duration=6, renew_deadline=4, retry_period=1)
        client = lease_client(timings, configuration)
        started = time.monotonic()
        try:
            with pytest.raises(ApiUnreachableError, match="timed out"):
                asyncio.run(client.get_lease("ns", "forescale"))
        finally:
            client.close()
        took = time.monotonic() - started
    assert timings.renew_deadline / 2 <= took < timings.renew_deadline, took
