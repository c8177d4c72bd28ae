"""The sim-server as a real process on loopback, and loadgen against it.

One server process serves the whole module (starting one costs a Python start-up); each
test reads it through plain HTTP like an operator, Prometheus or a client would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from forescale.sandbox.ports import free_port

from .sim_server_support import started_url

ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
LOAD_SECONDS = 1.5
TTFT = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
        20, 40, 80, 160, 640, 2560)  # fmt: skip
LATENCY = (0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960,
           1920, 7680)  # fmt: skip
ITL = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20,
       40, 80)  # fmt: skip


def forescale(*args: str) -> list[str]:
    return [sys.executable, "-m", "forescale", *args]


class Server:
    def __init__(self, port: int, process: subprocess.Popen[str], refused_during_load: bool):
        self.url = f"http://127.0.0.1:{port}"
        self.process = process
        self.refused_during_load = refused_during_load

    def get(self, path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return int(response.status), bytes(response.read())

    def post(self, path: str, body: dict[str, object]) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def connection_refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen(
        forescale("sim-server", "--port", str(port), "--load-seconds", str(LOAD_SECONDS),
                  "--legacy-metric-names", "--max-seconds", "120", "--drain-seconds", "10"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )  # fmt: skip
    with process:
        try:
            time.sleep(0.5)
            refused = connection_refused(port)
            assert process.stdout is not None
            assert started_url(process.stdout) == f"http://127.0.0.1:{port}"
            yield Server(port, process, refused)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            finally:
                process.kill()


def test_port_refuses_connections_while_the_model_loads(server: Server) -> None:
    assert server.refused_during_load


def test_health_and_models(server: Server) -> None:
    assert server.get("/health")[0] == 200
    status, body = server.get("/v1/models")
    assert status == 200
    assert [m["id"] for m in json.loads(body)["data"]] == ["meta-llama/Llama-3.1-8B-Instruct"]


def test_non_streaming_completion_reports_usage(server: Server) -> None:
    status, body = server.post("/v1/completions", {"prompt": [1] * 40, "max_tokens": 7})
    assert status == 200
    reply = json.loads(body)
    assert reply["usage"] == {"prompt_tokens": 40, "completion_tokens": 7, "total_tokens": 47}
    assert reply["choices"][0]["finish_reason"] == "length"


def test_streaming_chat_ends_with_done(server: Server) -> None:
    body = {
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    status, raw = server.post("/v1/chat/completions", body)
    assert status == 200
    events = [line[len("data: ") :] for line in raw.decode().split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c for c in chunks[1:] if c["choices"]]
    assert len(contents) == 5
    assert contents[-1]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 5


def test_unknown_model_is_404(server: Server) -> None:
    status, _ = server.post("/v1/completions", {"prompt": "x", "model": "nope"})
    assert status == 404


def test_metrics_follow_the_vllm_contract(server: Server) -> None:
    _, raw = server.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(raw.decode())}
    expected_types = {
        "vllm:num_requests_running": "gauge",
        "vllm:num_requests_waiting": "gauge",
        "vllm:kv_cache_usage_perc": "gauge",
        "vllm:gpu_cache_usage_perc": "gauge",
        "vllm:request_success": "counter",
        "vllm:prompt_tokens": "counter",
        "vllm:generation_tokens": "counter",
        "vllm:num_preemptions": "counter",
        "vllm:time_to_first_token_seconds": "histogram",
        "vllm:inter_token_latency_seconds": "histogram",
        "vllm:time_per_output_token_seconds": "histogram",
        "vllm:e2e_request_latency_seconds": "histogram",
        "vllm:request_queue_time_seconds": "histogram",
        "vllm:cache_config_info": "gauge",
    }
    vllm = {name: f.type for name, f in families.items() if name.startswith("vllm:")}
    assert {n: t for n, t in vllm.items() if not n.endswith("_created")} == expected_types
    buckets = {
        "vllm:time_to_first_token_seconds": TTFT,
        "vllm:inter_token_latency_seconds": ITL,
        "vllm:time_per_output_token_seconds": ITL,
        "vllm:e2e_request_latency_seconds": LATENCY,
        "vllm:request_queue_time_seconds": LATENCY,
    }
    for name, bounds in buckets.items():
        les = [s.labels["le"] for s in families[name].samples if s.name.endswith("_bucket")]
        assert les == [*(str(float(b)) for b in bounds), "+Inf"], name
    for family in families.values():
        if family.name.startswith("vllm:"):
            for sample in family.samples:
                assert sample.labels["engine"] == "0"
                if family.name != "vllm:cache_config_info":  # vLLM's has the config's alone
                    assert sample.labels["model_name"] == "meta-llama/Llama-3.1-8B-Instruct"
    # --legacy-metric-names: 0.10's 16-token blocks; the profile's 430,000 tokens are whole.
    [info] = families["vllm:cache_config_info"].samples
    assert "model_name" not in info.labels
    assert (info.labels["block_size"], info.labels["num_gpu_blocks"]) == ("16", "26875")
    reasons = {
        s.labels["finished_reason"]
        for s in families["vllm:request_success"].samples
        if s.name.endswith("_total")
    }
    assert reasons == {"stop", "length", "abort"}


def success_total(server: Server) -> float:
    _, raw = server.get("/metrics")
    for family in text_string_to_metric_families(raw.decode()):
        if family.name == "vllm:request_success":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    raise AssertionError("vllm:request_success is missing")


def test_loadgen_records_what_the_server_counts(server: Server, tmp_path: Path) -> None:
    before = success_total(server)
    out = tmp_path / "records.jsonl"
    result = subprocess.run(
        forescale("loadgen", "--target", server.url, "--curve", "step:from=5,to=15,at=1.5",
                  "--max-seconds", "3", "--max-requests", "200", "--output-tokens", "20",
                  "--out", str(out)),
        capture_output=True, text=True, env=ENV, timeout=60, check=True,
    )  # fmt: skip
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) > 10
    assert all(r["status"] == "ok" and r["output_tokens"] == 20 for r in records)
    assert all(0 < r["ttft"] <= r["latency"] for r in records)
    early = sum(1 for r in records if r["scheduled"] < 1.5)
    assert len(records) - early > early  # the step to 15 req/s shows
    assert f"requests={len(records)} ok={len(records)} errors=0" in result.stdout
    assert success_total(server) - before == len(records)


def test_sigterm_drains_in_flight_requests() -> None:
    port = free_port()
    process = subprocess.Popen(
        forescale("sim-server", "--port", str(port), "--load-seconds", "0", "--max-seconds", "60"),
        stdout=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    with process:
        assert process.stdout is not None
        started_url(process.stdout)
        body = json.dumps({"prompt": [1] * 10, "max_tokens": 150}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            time.sleep(0.2)  # the request is decoding (~1.2 s) when SIGTERM arrives
            process.send_signal(signal.SIGTERM)
            reply = json.loads(response.read())
        assert reply["usage"]["completion_tokens"] == 150
        assert process.wait(timeout=15) == 0


def test_non_loopback_host_is_refused() -> None:
    result = subprocess.run(
        forescale("sim-server", "--host", "0.0.0.0", "--load-seconds", "0"),
        capture_output=True, text=True, env=ENV, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "not a loopback address" in result.stderr
