"""The sim-server's log lines against the pinned vLLM's (``logs`` in the contract check).

The sim-server writes vLLM's lines (:mod:`forescale.sim.server_logging`) so that what
``kubectl logs POD -c vllm`` shows in the sandbox is what a cluster shows. This holds each
of them to the wheel (:mod:`forescale.vllm_contract.wheel_logs`): the line format and date
format, the process names a line starts with, and per message a logger call of the same
method at the same line of the same module whose function holds every piece of the
message (and the separator joining them).
The stats line's ``Engine 000: `` prefix is an f-string property and is not compared.

Only the pin is compared: the sim-server imitates one release's log, and an older release's
lines (0.10.1 had no process names) are not what it claims to write.
"""

from __future__ import annotations

from forescale.sim import server_logging
from forescale.sim.server_logging import LogMessage
from forescale.vllm_contract.check import Finding
from forescale.vllm_contract.release import VLLM_VERSION
from forescale.vllm_contract.wheel import VllmFacts
from forescale.vllm_contract.wheel_logs import LOG_MODULES, LogCall

AREA = "logs"


def _where(message: LogMessage, calls: tuple[LogCall, ...]) -> str:
    lines = [str(c.line) for c in calls if message.parts[0] in c.literals]
    if not lines:
        return "its text is gone"
    return f"logger calls in functions with its text at lines {', '.join(lines)}"


def _message(message: LogMessage, calls: tuple[LogCall, ...] | None) -> Finding:
    name = f"{message.module}:{message.line} {message.parts[0]!r}"
    if message.module not in LOG_MODULES:
        return Finding(AREA, False, f"{name}: not read from the wheel; add it to LOG_MODULES")
    if calls is None:
        return Finding(AREA, False, f"{name}: the module is not in the wheel")
    at = [c for c in calls if c.line == message.line and c.level == message.level]
    if not at:
        return Finding(
            AREA, False, f"{name}: no {message.level} call at that line ({_where(message, calls)})"
        )
    pieces = [*message.parts, message.separator] if len(message.parts) > 1 else message.parts
    missing = [p for p in pieces if p not in at[0].literals]
    if missing:
        return Finding(AREA, False, f"{name}: pieces not in that call's function: {missing}")
    return Finding(AREA, True, f"{name} matches")


def check_logs(facts: VllmFacts) -> list[Finding]:
    if facts.version != VLLM_VERSION:
        return [Finding(AREA, True, f"compared with {VLLM_VERSION}, the release imitated")]
    logs = facts.logs
    found = [
        Finding(
            AREA,
            logs.line_format == server_logging.LINE_FORMAT
            and logs.date_format == server_logging.DATE_FORMAT,
            f"line format {logs.line_format!r} / {logs.date_format!r}",
        )
    ]
    named = sorted({m.process for m in server_logging.MESSAGES})
    unknown = [name for name in named if name not in logs.process_names]
    found.append(
        Finding(
            AREA,
            not unknown,
            f"process names {named} are vLLM's"
            if not unknown
            else f"process names vLLM does not give: {unknown} (it names "
            f"{sorted(logs.process_names)})",
        )
    )
    calls = logs.calls or {}
    found.extend(_message(m, calls.get(m.module)) for m in server_logging.MESSAGES)
    return found
