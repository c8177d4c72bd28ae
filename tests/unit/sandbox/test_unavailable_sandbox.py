"""A control plane that cannot start fails its tests with the reason; it never skips them."""

from __future__ import annotations

import pytest

from forescale.sandbox.binaries import BIN_CACHE_ENV, BIN_DIR_ENV

pytest_plugins = ["pytester"]

#: A fixture whose cluster's one component fails to start, as etcd does on a taken port.
BROKEN = """
import pytest

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.processes import ComponentError
from forescale.sandbox.pytest_plugin import started


class Broken:
    name = "etcd"

    def start(self, cluster):
        raise ComponentError("etcd exited: listen tcp 127.0.0.1:2379: address already in use")

    def stop(self):
        pass

    def processes(self):
        return []


@pytest.fixture
def plane():
    with started(Cluster([Broken()]), "the broken plane") as cluster:
        yield cluster


def test_needs_the_plane(plane):
    pass
"""


#: What ``binaries.find_all()`` asks for: the control plane, and kubectl beside it.
CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]


#: The integration and e2e tiers' conftests take the plugin's fixtures and hooks this way.
WITH_THE_PLUGIN = "from forescale.sandbox.pytest_plugin import *  # noqa: F403\n"


def _run(pytester: pytest.Pytester, conftest: str) -> pytest.RunResult:
    pytester.makeconftest(conftest)
    pytester.makepyfile(BROKEN)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfE")


@pytest.fixture
def no_binaries(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """No directory given, and an empty cache."""
    monkeypatch.delenv(BIN_DIR_ENV, raising=False)
    monkeypatch.setenv(BIN_CACHE_ENV, str(pytester.mkdir("no-cache")))


@pytest.fixture
def stand_in_binaries(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executables under the control plane's names, so the start itself is what fails."""
    directory = pytester.mkdir("bin")
    for name in [*CONTROL_PLANE, "kubectl"]:
        path = directory / name
        path.write_text("#!/bin/sh\nexit 1\n")
        path.chmod(0o755)
    monkeypatch.setenv(BIN_DIR_ENV, str(directory))


@pytest.mark.usefixtures("stand_in_binaries")
def test_a_failed_start_is_a_failure_with_its_reason(pytester: pytest.Pytester) -> None:
    result = _run(pytester, WITH_THE_PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*the broken plane failed to start: etcd exited: listen tcp*address already in use*"]
    )


@pytest.mark.usefixtures("no_binaries")
def test_missing_binaries_are_a_failure_naming_the_build(pytester: pytest.Pytester) -> None:
    result = _run(pytester, WITH_THE_PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*control-plane binaries missing:*",
            "*etcd * not found at *; build it with `hack/build-binaries.sh etcd`*",
        ]
    )


@pytest.mark.usefixtures("stand_in_binaries")
def test_without_the_plugin_it_would_be_an_error_not_a_failure(pytester: pytest.Pytester) -> None:
    """What the plugin's report hook is for: the same run without it counts an error."""
    result = _run(pytester, "")
    result.assert_outcomes(errors=1)


@pytest.mark.usefixtures("stand_in_binaries")
def test_a_component_that_fails_to_start_on_a_running_cluster_is_a_failure(
    pytester: pytest.Pytester,
) -> None:
    """``components_started``: the same rule for parts added to a cluster that runs."""
    pytester.makeconftest(WITH_THE_PLUGIN)
    pytester.makepyfile(
        BROKEN.replace(
            'with started(Cluster([Broken()]), "the broken plane") as cluster:\n'
            "        yield cluster",
            "from forescale.sandbox.pytest_plugin import components_started\n"
            '    with components_started(Cluster([]), [Broken()], "the broken fleet"):\n'
            "        yield",
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfE")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the broken fleet failed to start: etcd exited*"])
