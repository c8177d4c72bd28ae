"""Runbook commands run as an SRE runs them: by bash, with the sandbox's kubectl first on
PATH and the admin kubeconfig, from the repository root (so ``-k manifests/...`` works).
Quoting and pipes are part of what the tests check."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from forescale.sandbox.pytest_plugin import Kubectl
from tests.conftest import REPO


def in_bash(
    kubectl: Kubectl, command: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``command`` run by ``bash -o pipefail -c`` (60 s at most)."""
    env = {
        **os.environ,
        "PATH": f"{kubectl.binary.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubectl.kubeconfig),
    }
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False, cwd=REPO,
    )  # fmt: skip


def fenced_lines(markdown: Path, languages: tuple[str, ...] = ("",)) -> list[str]:
    """The non-empty lines of ``markdown``'s fenced blocks tagged with one of
    ``languages`` ("" for an untagged block), stripped."""
    text = markdown.read_text()
    return [
        line.strip()
        for language, body in re.findall(r"```([a-z]*)\n(.*?)```", text, flags=re.DOTALL)
        if language in languages
        for line in body.splitlines()
        if line.strip()
    ]
