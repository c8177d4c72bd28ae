"""The sim-server stops like the pinned vLLM: SIGTERM aborts in-flight requests unless it
was given ``--shutdown-timeout``, in which case they finish (vLLM 0.33's semantics; the
contract check ties the default to vLLM's). The sandbox's drain tests rely on this."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from .sim_server_support import started_url

ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}


def _stream(url: str, results: list[str]) -> None:
    """One streaming completion of 40 tokens; records 'ok' or the error it ended with."""
    body = {"prompt": "hi", "max_tokens": 40, "stream": True}
    request = urllib.request.Request(
        url + "/v1/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        results.append("ok" if text.rstrip().endswith("data: [DONE]") else "truncated")
    except Exception as error:  # any failure is what we count
        results.append(type(error).__name__)


@pytest.mark.parametrize(
    ("timeout", "all_finish"), [(0, False), (20, True)], ids=["abort", "drain"]
)
def test_sigterm_aborts_unless_given_a_shutdown_timeout(timeout: int, all_finish: bool) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "forescale", "sim-server", "--port=0", "--load-seconds=0",
         "--set=decode_base_seconds=0.05", f"--shutdown-timeout={timeout}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
    )  # fmt: skip
    with process:
        log = _exercise(process, all_finish)
    # What an SRE reads in the replica's log: vLLM's shutdown line, with the mode it took.
    mode = "drain" if timeout else "abort"
    assert any(
        line.endswith(f"stopping engine client mode={mode} timeout={timeout}s") for line in log
    ), log


def _exercise(process: subprocess.Popen[str], all_finish: bool) -> list[str]:
    """Four streams, SIGTERM while they run; the server's log lines."""
    try:
        assert process.stdout is not None
        url = started_url(process.stdout)
        results: list[str] = []
        clients = [threading.Thread(target=_stream, args=(url, results)) for _ in range(4)]
        for client in clients:
            client.start()
        threading.Event().wait(0.8)  # 40 tokens take ~2 s: all are mid-generation now
        process.send_signal(signal.SIGTERM)
        for client in clients:
            client.join(timeout=40)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(results) == 4
    if all_finish:
        assert results == ["ok"] * 4
    else:
        assert "ok" not in results, results
    return process.stdout.read().splitlines()
