"""A supervised child process: own process group, log file, clean and certain shutdown.

Why so careful: a leaked kube-apiserver or etcd keeps its port and its memory, and on a
2-core machine a few of them ruin every later test run. So every child

- runs in its own session/process group, and stop() signals the whole group;
- gets PR_SET_PDEATHSIG=SIGKILL on Linux, so it dies even if this Python process is
  SIGKILLed and has no chance to clean up;
- is registered in a module-level registry that an ``atexit`` hook stops, and
  :func:`install_signal_handlers` turns SIGTERM/SIGHUP into a normal exit so context
  managers and atexit run on ``kill`` too;
- writes stdout and stderr to a log file, whose tail is put into every error.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

_PR_SET_PDEATHSIG = 1


class ComponentError(RuntimeError):
    """A component failed to start or died; the message carries its log tail."""


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """preexec hook: ask the kernel to SIGKILL this child when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class SupervisedProcess:
    """One long-running child process of the sandbox."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        *,
        die_with_forking_thread: bool = False,
    ) -> None:
        """``die_with_forking_thread``: the caller's thread outlives the child (e.g. a
        worker that stops its children before it returns), so the parent-death signal,
        which fires when the *forking thread* exits, is right even off the main thread.
        """
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.die_with_forking_thread = die_with_forking_thread
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id (also its process-group id), or None before start."""
        return self._popen.pid if self._popen is not None else None

    def start(self) -> None:
        """Launch the process; output goes to ``log_path``."""
        if self._popen is not None:
            raise RuntimeError(f"{self.name} already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            # Only the main thread may be the "parent" for PDEATHSIG purposes: the signal
            # fires when the forking *thread* exits, so skip it from worker threads unless
            # the caller vouches that its thread outlives the child.
            on_main = threading.current_thread() is threading.main_thread()
            preexec = (
                _die_with_parent
                if sys.platform == "linux" and (on_main or self.die_with_forking_thread)
                else None
            )
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=preexec,  # noqa: PLW1509
            )
        _REGISTRY.add(self)

    def poll(self) -> int | None:
        """Exit code if the process has exited, else None."""
        return self._popen.poll() if self._popen is not None else None

    def running(self) -> bool:
        """True while the process is alive."""
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """Tail of this process's log, for error messages."""
        return tail(self.log_path, lines)

    def failure(self, what: str) -> ComponentError:
        """An error about this component that shows its log tail."""
        return ComponentError(
            f"{self.name}: {what}\n--- last lines of {self.log_path} ---\n{self.log_tail()}"
        )

    def ensure_running(self) -> None:
        """Raise ComponentError (with the log tail) if the process has exited."""
        code = self.poll()
        if self._popen is None:
            raise ComponentError(f"{self.name}: not started")
        if code is not None:
            raise self.failure(f"exited with code {code}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it after ``timeout`` seconds."""
        popen = self._popen
        if popen is None:
            return
        try:
            if popen.poll() is None:
                _signal_group(popen.pid, signal.SIGTERM)
                try:
                    popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(popen.pid, signal.SIGKILL)
                    popen.wait(timeout=10)
            # Children of the child (if any) share the group: make sure they are gone too.
            _signal_group(popen.pid, signal.SIGKILL)
        finally:
            _REGISTRY.discard(self)

    def __repr__(self) -> str:
        return f"SupervisedProcess({self.name!r}, pid={self.pid})"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    watch: Sequence[SupervisedProcess] = (),
    interval: float = 0.2,
) -> None:
    """Poll ``predicate`` until true; fail fast, with the log tail, if a watched process dies.

    Why watch processes: a crashed apiserver otherwise shows up as a 60 s timeout with no
    hint; checking liveness on every poll turns it into an immediate, explained error.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        for process in watch:
            process.ensure_running()
        try:
            if predicate():
                return
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            message = f"timed out after {timeout:.0f}s waiting for {what}{detail}"
            if watch:
                raise watch[-1].failure(message)
            raise ComponentError(message)
        time.sleep(interval)


class _Registry:
    """Every started, not yet stopped process, so exit paths can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: list[SupervisedProcess] = []

    def add(self, process: SupervisedProcess) -> None:
        with self._lock:
            self._live.append(process)

    def discard(self, process: SupervisedProcess) -> None:
        with self._lock:
            if process in self._live:
                self._live.remove(process)

    def live(self) -> list[SupervisedProcess]:
        with self._lock:
            return list(self._live)

    def stop_all(self) -> None:
        # Reverse start order: clients (kwok, scheduler) before apiserver before etcd.
        for process in reversed(self.live()):
            with contextlib.suppress(Exception):
                process.stop(timeout=5)


_REGISTRY = _Registry()
atexit.register(_REGISTRY.stop_all)


def live_processes() -> list[SupervisedProcess]:
    """Processes started by this Python process and not yet stopped."""
    return _REGISTRY.live()


def stop_all() -> None:
    """Stop every supervised process (last resort; normal code uses Cluster.stop)."""
    _REGISTRY.stop_all()


def install_signal_handlers() -> None:
    """Make SIGTERM and SIGHUP exit Python normally so cleanup code runs.

    Only replaces default handlers, and only in the main thread, so a host program
    (pytest, a CLI) that installed its own keeps it.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _exit)
