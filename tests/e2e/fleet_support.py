"""Helpers of the e2e tests: the test LLMDeployment, polling, reading objects and Events."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from forescale.sandbox.pytest_plugin import Kubectl
from tests import polling
from tests.conftest import SAMPLES

T = TypeVar("T")

NAME = "llama-demo"
MODEL = "llama-demo"
LOAD_SECONDS = 5


def demo_manifest(**scaling: Any) -> dict[str, Any]:
    """The demo sample with a 5 s simulated load (and the cold start seeded to match)."""
    manifest: dict[str, Any] = yaml.safe_load((SAMPLES / "llmdeployment-demo.yaml").read_text())
    spec = manifest["spec"]
    spec["podMetadata"]["annotations"]["forescale.io/simulated-load-seconds"] = str(LOAD_SECONDS)
    spec["scaling"].update(coldStartSeconds=LOAD_SECONDS + 3, maxReplicas=4, **scaling)
    return manifest


def apply(kubectl: Kubectl, namespace: str, manifest: dict[str, Any]) -> None:
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))


def get(kubectl: Kubectl, namespace: str, kind: str, name: str) -> dict[str, Any]:
    """The object as JSON ({} when it does not exist)."""
    result = kubectl("get", kind, name, "-n", namespace, "-o", "json")
    if result.returncode != 0:
        return {}
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def events(kubectl: Kubectl, namespace: str, name: str = NAME) -> list[dict[str, Any]]:
    out = kubectl.ok(
        "get", "events", "-n", namespace, "-o", "json",
        "--field-selector", f"involvedObject.name={name},involvedObject.kind=LLMDeployment",
    )  # fmt: skip
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def eventually(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0
) -> T:
    """:func:`tests.polling.eventually`, polling every second (a fleet settles slowly)."""
    return polling.eventually(probe, timeout, what, interval)


def pod_names(kubectl: Kubectl, namespace: str) -> set[str]:
    out = kubectl.ok(
        "get", "pods", "-n", namespace, "-l", f"forescale.io/llmdeployment={NAME}",
        "-o", "jsonpath={.items[*].metadata.name}",
    )  # fmt: skip
    return set(out.split())


def active_target_pods(prometheus_url: str, namespace: str) -> set[str]:
    """Pods Prometheus currently has as active scrape targets in ``namespace``."""
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/targets?state=active", timeout=5) as r:
        body = json.load(r)
    return {
        t["labels"]["pod"]
        for t in body["data"]["activeTargets"]
        if t["labels"].get("namespace") == namespace
    }


def loadgen(
    router_url: str, curve: str, seconds: float, out: Path, *, output_tokens: int = 64
) -> subprocess.Popen[bytes]:
    """``forescale loadgen`` against the router in the background (bounded)."""
    log = out.with_suffix(".log").open("wb")
    try:
        return subprocess.Popen(
            [
                sys.executable, "-m", "forescale", "loadgen",
                f"--target={router_url}", f"--curve={curve}", f"--model={MODEL}",
                "--prompt-tokens=200", f"--output-tokens={output_tokens}",
                f"--max-seconds={seconds:g}", "--max-requests=2000", "--drain-seconds=20",
                f"--out={out}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    finally:
        log.close()


def records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
