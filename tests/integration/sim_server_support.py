"""Reading a sim-server's output as one reads a vLLM replica's: its log lines."""

from __future__ import annotations

from typing import IO

from forescale.sim import server_logging

STARTING = "Starting vLLM server on "


def started_url(stdout: IO[str]) -> str:
    """The URL of ``Starting vLLM server on URL`` (the replica listens from then on), read
    off ``stdout`` line by line. A line that is not vLLM's layout, or an exit before the
    line, fails with what was read."""
    seen: list[str] = []
    for line in stdout:
        seen.append(line.rstrip("\n"))
        message = line.rstrip("\n").partition("] ")[2]
        assert line.startswith(("(APIServer pid=", "(EngineCore pid=")), seen
        if message.startswith(STARTING):
            assert server_logging.SERVER_STARTING.text(message.removeprefix(STARTING)) == message
            return message.removeprefix(STARTING)
    raise AssertionError(f"the server stopped before it started: {seen}")
