"""A terminated test run stops, even while a sandbox's signal handler is installed."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

pytest_plugins = ["pytester"]

#: A run of two tests; the first installs the sandbox's handlers (as a cluster's start
#: does) and is terminated while it runs.
TERMINATED = """
import os
import signal
import time
from pathlib import Path

import pytest

from forescale.sandbox.processes import install_signal_handlers


@pytest.fixture
def sandbox():
    yield
    Path("torn-down").write_text("the fixture's teardown ran")


def test_terminated_while_a_sandbox_runs(sandbox):
    install_signal_handlers()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)


def test_never_started():
    pass
"""


def test_sigterm_interrupts_the_whole_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(TERMINATED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.assert_outcomes()  # nothing passed: the second test never ran
    assert (pytester.path / "torn-down").exists()  # the sandbox's fixture tore it down


def test_without_the_hook_a_terminated_run_goes_on(pytester: pytest.Pytester) -> None:
    """What the hook is for (the same run with an empty conftest)."""
    pytester.makeconftest("")
    pytester.makepyfile(TERMINATED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
