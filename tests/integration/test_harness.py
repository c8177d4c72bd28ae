"""The harness's own promises: explained failures and no process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from forescale.sandbox import binaries
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.controlplane import Etcd
from forescale.sandbox.processes import ComponentError, SupervisedProcess, live_processes

pytestmark = pytest.mark.integration


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(")")[-1].split()[0] != "Z"


class _Broken:
    """A component whose process exits at once with a telltale message."""

    name = "broken"

    def __init__(self) -> None:
        self.process: SupervisedProcess | None = None

    def processes(self) -> list[SupervisedProcess]:
        return [self.process] if self.process else []

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def start(self, cluster: Cluster) -> None:
        self.process = SupervisedProcess(
            self.name,
            [str(binaries.find("etcd")), "--no-such-flag-forescale"],
            cluster.logs_dir / "broken.log",
        )
        self.process.start()
        from forescale.sandbox.processes import wait_until  # noqa: PLC0415

        wait_until(lambda: False, timeout=30, what="never", watch=[self.process])


def test_a_failing_component_raises_with_its_log_tail_and_stops_the_rest(tmp_path: Path) -> None:
    etcd = Etcd()
    cluster = Cluster([etcd, _Broken()], workdir=tmp_path)
    with pytest.raises(ComponentError) as error:
        cluster.start()
    message = str(error.value)
    assert "broken: exited with code" in message
    assert "no-such-flag-forescale" in message  # from the log tail
    assert etcd.process is not None
    assert not etcd.process.running()
    # (The session cluster may be running too: look only at this cluster's processes.)
    mine = {id(p) for c in cluster.components for p in c.processes()}
    assert not [p for p in live_processes() if id(p) in mine]


def test_stopping_leaves_no_process_behind(tmp_path: Path) -> None:
    with Cluster([Etcd()], workdir=tmp_path) as cluster:
        pids = [p.pid for p in cluster.running_processes()]
        assert all(pid and _pid_alive(pid) for pid in pids)
    time.sleep(0.2)
    assert not any(pid and _pid_alive(pid) for pid in pids)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_children_die_with_the_harness_process(tmp_path: Path, how: signal.Signals) -> None:
    """Even a SIGKILLed harness leaves nothing behind (parent-death signal)."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from forescale.sandbox.cluster import Cluster
        from forescale.sandbox.controlplane import Etcd
        cluster = Cluster([Etcd()], workdir=Path({str(tmp_path)!r}))
        cluster.start()
        print(cluster.running_processes()[0].pid, flush=True)
        time.sleep(120)
        """
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert harness.stdout is not None
        etcd_pid = int(harness.stdout.readline())
        assert _pid_alive(etcd_pid)
        harness.send_signal(how)
        harness.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _pid_alive(etcd_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _pid_alive(etcd_pid)
    finally:
        harness.kill()
        harness.wait()
        if harness.stdout:
            harness.stdout.close()
