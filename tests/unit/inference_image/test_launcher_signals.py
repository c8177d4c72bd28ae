"""Stop signals: the kubelet's SIGTERM reaches vLLM, which drains before the pod goes."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.unit.inference_image.launcher_support import (
    BASIC_ARGS,
    make_sandbox,
    start_launcher,
    stop,
)


def test_sigterm_is_forwarded_and_vllm_drains_before_the_launcher_exits(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    process = start_launcher(BASIC_ARGS, box.env(FAKE_VLLM_MODE="serve", FAKE_DRAIN_SECONDS="0.5"))
    box.wait_for("serving")
    status, stderr = stop(process)
    events = box.events()
    assert {"signal": "SIGTERM"} in events
    assert events[-1] == {"drained": True}, "the launcher waited for the drain to finish"
    assert status == 0, stderr
    assert "received SIGTERM: forwarding it to vllm" in stderr


def test_sigint_is_forwarded_too(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    process = start_launcher(BASIC_ARGS, box.env(FAKE_VLLM_MODE="serve"))
    box.wait_for("serving")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    # The stand-in does not handle SIGINT, so it dies of it: the launcher reports 128 + 2.
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert "received SIGINT: forwarding it to vllm" in stderr


def test_vllm_killed_by_a_signal_gives_128_plus_the_signal(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    process = start_launcher(BASIC_ARGS, box.env(FAKE_VLLM_MODE="die"))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGKILL, stderr


def test_sigterm_during_the_download_stops_it_and_never_starts_vllm(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("hf",))
    target = tmp_path / "models"
    env = box.env(
        FORESCALE_MODEL_URI="hf://org/model", FORESCALE_MODEL_DIR=str(target),
        FAKE_FETCH_MODE="hang",
    )  # fmt: skip
    process = start_launcher(["vllm", "serve", str(target), "--port=8000"], env)
    box.wait_for("serving")
    status, stderr = stop(process)
    assert status == 128 + signal.SIGTERM, stderr
    assert {"signal": "SIGTERM"} in box.events(), "the download tool was told to stop"
    assert box.calls("vllm") == []
    assert not (target / ".forescale-source").exists(), "an interrupted fetch is not complete"
