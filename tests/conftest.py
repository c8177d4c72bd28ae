"""Shared test configuration: paths every tier uses, and how a terminated run stops."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "manifests" / "samples"
CRD_FILE = REPO / "crds" / "forescale.io_llmdeployments.yaml"
SHARED = REPO.parent / "shared"


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM and SIGHUP (a CI runner cancelling the job, ``kill``) interrupt the whole
    run as Ctrl-C does: fixtures tear their sandboxes down and pytest exits.

    Without this the sandbox's own handler (``processes.install_signal_handlers``, there
    so that ``forescale sandbox up`` cleans up) turned the signal into ``SystemExit``
    inside the test under way; pytest counts that as the test's failure and starts the
    next test and its control plane (seen: a terminated run kept going).
    """
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _interrupt)
