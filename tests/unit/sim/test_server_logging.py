"""The sim-server's log lines: vLLM's layout, and its stats line's rules (what is logged
when, and which pieces), from the same counters vLLM's stat logger reads."""

from __future__ import annotations

import datetime
import io
import re

from forescale.sim import server_logging as vllm_log
from forescale.sim.server_logging import StatsInterval, VllmLog, format_line
from tests.conftest import REPO

LINE = re.compile(
    r"^\((?P<process>\w+) pid=(?P<pid>\d+)\) (?P<level>[A-Z]+) (?P<date>\d\d-\d\d \d\d:\d\d:\d\d) "
    r"\[(?P<file>[\w.]+):(?P<line>\d+)\] (?P<message>.*)$"
)


def test_a_line_is_laid_out_as_vllm_lays_it_out() -> None:
    at = datetime.datetime(2026, 12, 7, 9, 5, 3).timestamp()  # local time, as vLLM's
    line = format_line(vllm_log.SERVER_STARTING, "Starting vLLM server on http://x:1", pid=7, at=at)
    assert line == (
        "(APIServer pid=7) INFO 12-07 09:05:03 [entry.py:139] Starting vLLM server on http://x:1"
    )


def test_each_message_logs_at_info() -> None:
    """What a replica writes at vLLM's default level: every message is at INFO (the stats
    line's ``log_fn`` included, which is ``logger.info`` whenever a line is written)."""
    assert {m.levelname for m in vllm_log.MESSAGES} == {"INFO"}
    stats = LINE.match(format_line(vllm_log.STATS, "m", pid=1, at=0.0))
    assert stats is not None
    assert stats["level"] == "INFO"
    match = LINE.match(format_line(vllm_log.WEIGHTS_LOADED, "m", pid=1, at=0.0))
    assert match is not None
    assert (match["process"], match["file"], match["line"]) == (
        "EngineCore", "default_loader.py", "543"
    )  # fmt: skip


def test_the_stats_line_reports_the_interval_s_throughput_and_the_queue_now() -> None:
    interval = StatsInterval()
    line = interval.line(10.0, (4_000, 1_500, 0), running=12, waiting=3, kv_cache_usage=0.4567)
    assert line == (
        "Engine 000: Avg prompt throughput: 400.0 tokens/s, Avg generation throughput: 150.0"
        " tokens/s, Running: 12 reqs, Waiting: 3 reqs, GPU KV cache usage: 45.7%"
    )
    # The next interval counts from where this one ended.
    line = interval.line(5.0, (4_500, 1_600, 0), running=1, waiting=0, kv_cache_usage=0.01)
    assert line is not None
    assert "Avg prompt throughput: 100.0 tokens/s, Avg generation throughput: 20.0" in line


def test_preemptions_appear_only_in_an_interval_that_had_some() -> None:
    interval = StatsInterval()
    line = interval.line(10.0, (100, 100, 2), running=5, waiting=4, kv_cache_usage=1.0)
    assert line is not None
    assert "Waiting: 4 reqs, Preemptions: 2, GPU KV cache usage: 100.0%" in line
    line = interval.line(10.0, (200, 200, 2), running=5, waiting=4, kv_cache_usage=1.0)
    assert line is not None
    assert "Preemptions" not in line


def test_an_engine_idle_for_two_intervals_logs_nothing() -> None:
    """vLLM logs the stats line at DEBUG when neither this interval nor the one before had
    throughput; the first quiet interval after work is still logged (with zeros)."""
    interval = StatsInterval()
    assert interval.line(10.0, (0, 0, 0), running=0, waiting=0, kv_cache_usage=0.0) is None
    assert interval.line(10.0, (50, 10, 0), running=1, waiting=0, kv_cache_usage=0.1)
    quiet = interval.line(10.0, (50, 10, 0), running=0, waiting=0, kv_cache_usage=0.0)
    assert quiet is not None
    assert "Avg prompt throughput: 0.0 tokens/s" in quiet
    assert interval.line(10.0, (50, 10, 0), running=0, waiting=0, kv_cache_usage=0.0) is None


def test_the_log_goes_to_the_output_and_the_container_log_file() -> None:
    out, cri = io.StringIO(), io.StringIO()
    log = VllmLog(out, cri, pid=42)
    log.log(vllm_log.SHUTDOWN_MODE, "abort", 0)
    (line,) = out.getvalue().splitlines()
    assert LINE.match(line)
    assert line.endswith(
        "[launcher.py:269] [shutdown] API server: stopping engine client mode=abort timeout=0s"
    )
    (stored,) = cri.getvalue().splitlines()
    stamp, stream, tag, rest = stored.split(" ", 3)
    assert datetime.datetime.fromisoformat(stamp).tzinfo is not None
    assert (stream, tag, rest) == ("stdout", "F", line)


def _pattern(message: vllm_log.LogMessage) -> re.Pattern[str]:
    """A message with its placeholders as wildcards (a runbook writes ``N`` or ``...``)."""
    pieces = re.split(r"%[-#0 +]?\d*(?:\.\d+)?[sdf]", message.separator.join(message.parts))
    return re.compile("^" + ".+".join(re.escape(p) for p in pieces) + "$")


def test_what_the_runbooks_quote_of_vllm_s_log_is_what_a_replica_writes() -> None:
    """Where a runbook bullet reads vLLM's log, what it quotes from there on is its lines;
    each quote must be one of the messages the contract check holds to the pinned wheel
    (placeholders aside)."""
    patterns = [_pattern(m) for m in vllm_log.MESSAGES]
    quoted = []
    for runbook in sorted((REPO / "docs" / "runbooks").glob("*.md")):
        for bullet in re.split(r"\n(?=- )", runbook.read_text()):
            _, says, read = bullet.replace("\n  ", " ").partition("vLLM's log")
            if says:
                quoted += re.findall(r"`([^`]+)`", read)
    assert quoted, "no runbook quotes vLLM's log"
    for quote in quoted:
        assert any(p.match(quote) for p in patterns), quote
