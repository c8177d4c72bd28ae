"""Fixtures for the Prometheus tests: a real Prometheus, and tiny loopback exporters.

Context managers rather than fixtures: each test says what it runs and in which order it
stops, and a missing Prometheus binary fails the test itself (FAILED with the install
command), never a skip: a test that could not run must not look green.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import SupervisedProcess, wait_until
from forescale.sandbox.prometheus_server import (
    INSTALL_HINT,
    PROMETHEUS_BINARY,
    OperatorTarget,
    PrometheusServer,
)
from forescale.sandbox.pytest_plugin import SandboxUnavailableError
from tests.conftest import REPO

SCRAPE_INTERVAL_SECONDS = 1.0


class _QuietServer(http.server.ThreadingHTTPServer):
    """Clients that give up (the reader's timeout test) are expected, not errors to print."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Exporter:
    """An HTTP server on 127.0.0.1 answering every GET with ``respond()``'s text.

    ``delay_seconds`` makes it slow (to stand in for an overloaded Prometheus) and
    ``status`` lets it answer errors.
    """

    def __init__(self, body: str, *, status: int = 200, delay_seconds: float = 0.0) -> None:
        self.body = body
        self.status = status
        self.delay_seconds = delay_seconds
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(exporter.delay_seconds)
                payload = exporter.body.encode()
                self.send_response(exporter.status)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: tests assert on behaviour, not access logs."""

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def serving(body: str, *, status: int = 200, delay_seconds: float = 0.0) -> Iterator[Exporter]:
    """A loopback exporter for the duration of the block."""
    exporter = Exporter(body, status=status, delay_seconds=delay_seconds)
    try:
        yield exporter
    finally:
        exporter.stop()


@contextlib.contextmanager
def running_prometheus(
    workdir: Path,
    *,
    rule_files: Sequence[Path] = (),
    operators: Sequence[OperatorTarget] = (),
) -> Iterator[PrometheusServer]:
    """A real Prometheus on loopback scraping (and evaluating ``rule_files``) every second,
    for the duration of the block; ``operators``: the operator's /metrics scraped too.

    Without the binary the calling test FAILS with the install command: in a test body any
    exception does that, and in a fixture the sandbox plugin reports this error as FAILED.
    """
    if not PROMETHEUS_BINARY.is_file():
        raise SandboxUnavailableError(f"{PROMETHEUS_BINARY} not found: {INSTALL_HINT}")
    server = PrometheusServer(
        workdir,
        scrape_interval_seconds=SCRAPE_INTERVAL_SECONDS,
        rule_files=rule_files,
        operators=operators,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def forescale_argv(*args: str) -> list[str]:
    """``forescale ...`` run by this interpreter (the package may not be installed)."""
    return [sys.executable, "-m", "forescale", *args]


def healthy(url: str) -> bool:
    """True when ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def sim_replica(
    log_dir: Path,
    name: str,
    *,
    model: str = "sim-model",
    legacy_names: bool = False,
    profile_overrides: tuple[str, ...] = (),
) -> Iterator[SimReplica]:
    """``forescale sim-server`` on a free loopback port, until the block ends.

    ``--max-seconds`` bounds its life even if this process is killed before cleanup.
    ``profile_overrides`` are ``field=value`` pairs for ``--set``.
    """
    port = free_port()
    process = SupervisedProcess(
        f"sim-server {name}",
        forescale_argv(
            "sim-server", "--port", str(port), "--model", model, "--load-seconds", "0.5",
            "--max-seconds", "300", "--drain-seconds", "2",
            *(["--legacy-metric-names"] if legacy_names else []),
            *(arg for pair in profile_overrides for arg in ("--set", pair)),
        ),
        log_dir / f"{name}.log",
        env={"PYTHONPATH": str(REPO / "operator")},
    )  # fmt: skip
    replica = SimReplica(name, port, process)
    process.start()
    try:
        wait_until(
            lambda: healthy(f"{replica.url}/health"),
            timeout=60,
            what=f"sim-server {name} healthy",
            watch=[process],
        )
        yield replica
    finally:
        process.stop()


@dataclasses.dataclass(frozen=True)
class SimReplica:
    """A running sim-server: its pod name, port and process."""

    name: str
    port: int
    process: SupervisedProcess

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def complete(replica: SimReplica, prompt_tokens: int, max_tokens: int) -> tuple[int, str]:
    """A completion of a token-id prompt (exact length) on a replica: the HTTP status and
    vLLM's error message (its error object carries it at the top level; "" on success)."""
    request = urllib.request.Request(
        f"{replica.url}/v1/completions",
        data=json.dumps({"prompt": [1] * prompt_tokens, "max_tokens": max_tokens}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body = int(response.status), json.load(response)
    except urllib.error.HTTPError as error:
        status, body = error.code, json.load(error)
    return status, str(body.get("message", ""))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until ``predicate()`` holds; fail the test naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def alerts(prometheus: PrometheusServer, name: str) -> list[dict[str, str]]:
    """The label sets of ``ALERTS`` for one alert, pending or firing, right now."""
    return [series["metric"] for series in prometheus.query(f'ALERTS{{alertname="{name}"}}')]
