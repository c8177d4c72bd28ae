"""Run the real inference-image launcher with stand-ins for the programs it starts.

No GPU exists here, so ``vllm`` (and the download CLIs ``hf``, ``aws``) are tiny Python
scripts that record their argv and environment as JSON lines and, for ``vllm``, can keep
serving until SIGTERM and then "drain". Everything else is the launcher as it ships.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
LAUNCHER = REPO / "inference-image" / "launcher.py"
INFERENCE_DOCKERFILE = REPO / "inference-image" / "Dockerfile"
RECORDED_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "FORESCALE_MODEL_URI", "HF_HOME")

# What every stand-in shares: append one JSON event per line to $FAKE_RECORD.
_RECORDING = """\
import json, os, signal, sys, time
record = os.environ["FAKE_RECORD"]
def dump(event):
    with open(record, "a") as f:
        f.write(json.dumps(event) + "\\n")
"""

FAKE_VLLM = (
    _RECORDING
    + """\
def term(signum, frame):
    dump({"signal": signal.Signals(signum).name})
    time.sleep(float(os.environ.get("FAKE_DRAIN_SECONDS", "0.3")))
    dump({"drained": True})
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
dump({"program": "vllm", "argv": sys.argv[1:],
      "env": {k: os.environ.get(k) for k in RECORDED_ENV}})
mode = os.environ.get("FAKE_VLLM_MODE", "exit")
if mode == "exit":
    sys.exit(int(os.environ.get("FAKE_VLLM_EXIT", "0")))
dump({"serving": True})
if mode == "die":
    os.kill(os.getpid(), signal.SIGKILL)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(1)
""".replace("RECORDED_ENV", repr(RECORDED_ENV))
)

FAKE_FETCHER = (
    _RECORDING
    + """\
def term(signum, frame):
    dump({"signal": signal.Signals(signum).name})
    sys.exit(143)
signal.signal(signal.SIGTERM, term)
dump({"program": os.path.basename(sys.argv[0]), "argv": sys.argv[1:]})
if os.environ.get("FAKE_FETCH_MODE") == "hang":
    dump({"serving": True})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
    sys.exit(1)
if os.environ.get("FAKE_FETCH_MODE") == "fail":
    sys.exit(4)
target = os.environ["FORESCALE_MODEL_DIR"]
os.makedirs(target, exist_ok=True)
if os.environ.get("FAKE_FETCH_MODE") == "empty":
    sys.exit(0)
with open(os.path.join(target, "config.json"), "w") as f:
    f.write("{}")
"""
)


def install_fake(directory: Path, name: str, source: str) -> Path:
    """Write an executable stand-in called ``name`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@dataclass
class Sandbox:
    """A PATH of stand-ins and the file they record into."""

    bin: Path
    record: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: only the stand-ins on PATH, plus ``extra``."""
        return {"PATH": str(self.bin), "FAKE_RECORD": str(self.record), **extra}

    def events(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def calls(self, program: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("program") == program]

    def wait_for(self, key: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(key in e for e in self.events()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {key!r} event within {timeout} s: {self.events()}")
            time.sleep(0.05)


def make_sandbox(tmp_path: Path, *, vllm: bool = True, fetchers: tuple[str, ...] = ()) -> Sandbox:
    box = Sandbox(tmp_path / "bin", tmp_path / "record.jsonl")
    box.bin.mkdir(parents=True, exist_ok=True)
    if vllm:
        install_fake(box.bin, "vllm", FAKE_VLLM)
    for name in fetchers:
        install_fake(box.bin, name, FAKE_FETCHER)
    return box


def _workdir(env: dict[str, str]) -> Path:
    """The test's own directory: nothing a child writes lands in the checkout."""
    return Path(env["FAKE_RECORD"]).parent


def run_launcher(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the launcher to completion."""
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *args],
        env=env,
        cwd=_workdir(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_launcher(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the launcher in the background (for signal tests)."""
    return subprocess.Popen(
        [sys.executable, str(LAUNCHER), *args],
        env=env,
        cwd=_workdir(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    """SIGTERM the launcher as the kubelet would; return (exit status, stderr)."""
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"launcher ignored SIGTERM:\n{stderr}") from None
    return process.returncode, stderr


def error_line(stderr: str) -> str:
    """The launcher's single error line."""
    lines = [line for line in stderr.splitlines() if line.startswith("forescale-launcher: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


BASIC_ARGS = [
    "vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--host=0.0.0.0", "--port=8000",
    "--served-model-name=llama-8b", "--tensor-parallel-size=1",
    "--gpu-memory-utilization=0.90", "--max-num-seqs=256", "--dtype=auto",
]  # fmt: skip
