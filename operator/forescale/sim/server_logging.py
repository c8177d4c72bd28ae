"""vLLM's own log lines, written by the sim-server as the pinned release writes them.

Why: an SRE reads a replica's log (``kubectl logs POD -c vllm``) for what the runbooks
point at: are the weights still loading, has the server started, is the engine queueing
(its stats line: running, waiting, KV cache usage), did a shutdown drain or abort. A
stand-in that printed its own words would teach them lines no real replica prints. So each
line here is a message of the pinned vLLM, with the level, the process name, the file and
the line its logger call has in the wheel, laid out by vLLM's format (``vllm/logger.py``);
:mod:`forescale.vllm_contract.check` ("logs") reads the wheel and fails when any of that
differs, so a vLLM bump cannot leave the simulator writing an old release's log.

Only what a replica logs at its default ``INFO`` level and that an operator's reader acts
on is written: the load, the start, the engine's stats line every
``VLLM_LOG_STATS_INTERVAL`` (10 s) unless the engine was idle for two intervals (vLLM logs
it at DEBUG then), and the shutdown's mode. Not the logo, the argument dump or the route
table, which say nothing about the replica's state.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import TextIO

from forescale.sim.container_log import cri_log_lines

LINE_FORMAT = (
    "(%(vllm_process_name)s pid=%(process)d) %(levelname)s %(asctime)s "
    "[%(fileinfo)s:%(lineno)d] %(message)s"
)
"""vLLM's ``_FORMAT`` with an empty ``VLLM_LOGGING_PREFIX`` (its default)."""
DATE_FORMAT = "%m-%d %H:%M:%S"
"""vLLM's ``_DATE_FORMAT``."""
STATS_INTERVAL_SECONDS = 10.0
"""``VLLM_LOG_STATS_INTERVAL``'s default: how often the engine's stats line is written."""
API_SERVER = "APIServer"
ENGINE_CORE = "EngineCore"
"""The process names vLLM gives its API server and (one engine, no data parallelism) its
engine core, where a single-GPU replica also loads the weights."""


@dataclass(frozen=True)
class LogMessage:
    """One logger call of the pinned vLLM: where it is and what it writes."""

    module: str
    """Path of the module in the wheel."""
    line: int
    """Line of the logger call in that module (what vLLM's format prints after the file)."""
    level: str
    """The logger method called (``info``, ``info_once``, ...)."""
    process: str
    parts: tuple[str, ...]
    """The message's literal pieces, in order (one for most messages)."""
    separator: str = ""
    """What joins ``parts`` (the stats line joins its pieces with ``", "``)."""
    prefix: str = ""
    """Written before the message (the stats line's ``Engine 000: ``)."""

    @property
    def levelname(self) -> str:
        """The level a written line shows (``log_fn`` is the stats logger's ``logger.info``
        whenever it writes: at ``logger.debug`` nothing shows at vLLM's default level)."""
        if self.level == "log_fn":
            return "INFO"
        return self.level.removesuffix("_once").upper()

    def text(self, *args: object, parts: tuple[str, ...] | None = None) -> str:
        """The message with ``args`` filled in (``parts``: a subset of this message's, in
        its order, for a line whose optional pieces are left out)."""
        chosen = self.parts if parts is None else parts
        if not set(chosen) <= set(self.parts):
            raise ValueError(f"not pieces of {self.parts[0]!r}: {chosen}")
        return self.prefix + (self.separator.join(chosen) % args)


WEIGHTS_LOADED = LogMessage(
    "vllm/model_executor/model_loader/default_loader.py",
    543,
    "info_once",
    ENGINE_CORE,
    ("Loading weights took %.2f seconds",),
)
SERVER_STARTING = LogMessage(
    "vllm/entrypoints/launchers/api_server/entry.py",
    139,
    "info",
    API_SERVER,
    ("Starting vLLM server on %s",),
)
STATS = LogMessage(
    "vllm/v1/metrics/loggers.py",
    335,
    "log_fn",
    API_SERVER,
    (
        "Avg prompt throughput: %.1f tokens/s",
        "Avg generation throughput: %.1f tokens/s",
        "Running: %d reqs",
        "Waiting: %d reqs",
        "Preemptions: %d",
        "%s KV cache usage: %.1f%%",
    ),
    separator=", ",
    prefix="Engine 000: ",
)
"""``log_fn`` is ``logger.info`` unless the engine was idle (then ``logger.debug``)."""
PREEMPTIONS = "Preemptions: %d"
"""The stats line's piece written only when the interval preempted a sequence."""
SHUTDOWN_TRIGGERED = LogMessage(
    "vllm/entrypoints/launchers/launcher.py",
    256,
    "info_once",
    API_SERVER,
    ("[shutdown] API server: shutdown triggered",),
)
SHUTDOWN_MODE = LogMessage(
    "vllm/entrypoints/launchers/launcher.py",
    269,
    "info",
    API_SERVER,
    ("[shutdown] API server: stopping engine client mode=%s timeout=%ss",),
)
ENGINE_STOPPED = LogMessage(
    "vllm/entrypoints/launchers/launcher.py",
    278,
    "info_once",
    API_SERVER,
    ("[shutdown] API server: engine client stopped",),
)
MESSAGES = (
    WEIGHTS_LOADED,
    SERVER_STARTING,
    STATS,
    SHUTDOWN_TRIGGERED,
    SHUTDOWN_MODE,
    ENGINE_STOPPED,
)
"""Every vLLM message the sim-server writes (the contract check reads each)."""

_FORMATTER = logging.Formatter(LINE_FORMAT, DATE_FORMAT)


def format_line(message: LogMessage, text: str, *, pid: int, at: float) -> str:
    """One log line as vLLM's formatter lays it out (``at``: seconds since the epoch)."""
    record = logging.makeLogRecord(
        {
            "vllm_process_name": message.process,
            "process": pid,
            "levelname": message.levelname,
            "created": at,
            "msecs": 0.0,
            "fileinfo": os.path.basename(message.module),
            "lineno": message.line,
            "msg": text,
        }
    )
    return _FORMATTER.format(record)


@dataclass
class StatsInterval:
    """What one stats line reports, from the engine's counters at the interval's ends (as
    vLLM's ``LoggingStatLogger``: throughputs over the interval, the queue as of now)."""

    prompt_tokens: int = 0
    generation_tokens: int = 0
    preemptions: int = 0
    last_prompt_throughput: float = 0.0
    last_generation_throughput: float = 0.0

    def line(
        self,
        seconds: float,
        counters: tuple[int, int, int],
        running: int,
        waiting: int,
        kv_cache_usage: float,
    ) -> str | None:
        """The stats line for an interval of ``seconds`` ending with ``counters`` (prompt
        tokens, generated tokens, preemptions, all totals), or None when vLLM would log it
        at DEBUG: no throughput in this interval nor in the one before."""
        prompt, generated, preempted = counters
        prompt_rate = (prompt - self.prompt_tokens) / seconds if seconds > 0 else 0.0
        generation_rate = (generated - self.generation_tokens) / seconds if seconds > 0 else 0.0
        new_preemptions = preempted - self.preemptions
        idle = not any(
            (prompt_rate, generation_rate, self.last_prompt_throughput,
             self.last_generation_throughput)
        )  # fmt: skip
        self.prompt_tokens, self.generation_tokens, self.preemptions = counters
        self.last_prompt_throughput, self.last_generation_throughput = (
            prompt_rate, generation_rate
        )  # fmt: skip
        if idle:
            return None
        args: list[object] = [prompt_rate, generation_rate, running, waiting]
        parts = [p for p in STATS.parts if p != PREEMPTIONS or new_preemptions > 0]
        if new_preemptions > 0:
            args.append(new_preemptions)
        args += ["GPU", kv_cache_usage * 100]
        return STATS.text(*args, parts=tuple(parts))


class VllmLog:
    """Writes vLLM's lines to the server's output and, when given, to a CRI log file (the
    sandbox's stand-in for the container runtime, which kwok serves to ``kubectl logs``)."""

    def __init__(self, out: TextIO, cri: TextIO | None = None, pid: int | None = None) -> None:
        self._out = out
        self._cri = cri
        self._pid = os.getpid() if pid is None else pid

    def write(self, message: LogMessage, text: str) -> None:
        """``text`` (the message filled in) as one line of ``message``'s, stamped now."""
        now = datetime.datetime.now(datetime.UTC)
        line = format_line(message, text, pid=self._pid, at=now.timestamp())
        self._out.write(line + "\n")
        self._out.flush()
        if self._cri is not None:
            self._cri.write(cri_log_lines([line], now))
            self._cri.flush()

    def log(self, message: LogMessage, *args: object) -> None:
        self.write(message, message.text(*args))
