"""Run the real inference-image fetch script with stand-ins for the download tools.

``aws``, ``s5cmd``, ``gcloud`` and ``gsutil`` are tiny Python scripts that record their argv
as JSON lines and write a model into the directory they are given (or fail, or hang until
signalled). Everything else is the script as the image ships it.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
FETCH_SCRIPT = REPO / "inference-image" / "fetch_model.py"
INFERENCE_DOCKERFILE = REPO / "inference-image" / "Dockerfile"

FAKE_FETCHER = """\
import json, os, signal, sys, time
def dump(event):
    with open(os.environ["FAKE_RECORD"], "a") as f:
        f.write(json.dumps(event) + "\\n")
def term(signum, frame):
    dump({"signal": signal.Signals(signum).name})
    sys.exit(143)
signal.signal(signal.SIGTERM, term)
dump({"program": os.path.basename(sys.argv[0]), "argv": sys.argv[1:]})
mode = os.environ.get("FAKE_FETCH_MODE")
if mode == "hang":
    dump({"fetching": True})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
    sys.exit(1)
if mode == "fail":
    sys.exit(4)
if mode == "gate":  # hold the download until the test opens the gate (a slower replica)
    dump({"gated": True})
    deadline = time.monotonic() + 30
    while not os.path.exists(os.environ["FAKE_GATE"]) and time.monotonic() < deadline:
        time.sleep(0.05)
target = [a for a in sys.argv[1:] if a.startswith("/")][-1]
os.makedirs(target, exist_ok=True)
if mode != "empty":
    with open(os.path.join(target, "config.json"), "w") as f:
        f.write("{}")
"""


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


def make_sandbox(tmp_path: Path, *, fetchers: tuple[str, ...] = ()) -> Sandbox:
    box = Sandbox(tmp_path / "bin", tmp_path / "record.jsonl")
    box.bin.mkdir(parents=True, exist_ok=True)
    for name in fetchers:
        path = box.bin / name
        path.write_text(f"#!{sys.executable}\n{FAKE_FETCHER}")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return box


def run_fetch(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the fetch script to completion, in the test's own directory."""
    return subprocess.run(
        [sys.executable, str(FETCH_SCRIPT)],
        env=env,
        cwd=Path(env["FAKE_RECORD"]).parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_fetch(env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the fetch script in the background (for signal tests)."""
    return subprocess.Popen(
        [sys.executable, str(FETCH_SCRIPT)],
        env=env,
        cwd=Path(env["FAKE_RECORD"]).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def error_line(stderr: str) -> str:
    """The script's single error line."""
    lines = [
        line for line in stderr.splitlines() if line.startswith("forescale-fetch-model: error:")
    ]
    assert len(lines) == 1, stderr
    return lines[0]
