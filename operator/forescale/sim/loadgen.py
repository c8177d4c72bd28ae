"""The open-loop load generator behind ``forescale loadgen``.

Open loop: every planned request is sent at its scheduled time whether or not earlier ones
have finished, because real users do not wait for each other; a closed loop would hide
exactly the queueing an autoscaler must react to. Requests stream (``stream: true`` with
``include_usage``) so the time to first token is measured at the client. Prompts are sent as
token-id lists, which vLLM accepts, so the server sees exactly the planned prompt length.

Bounded twice: nothing is sent after ``max_seconds`` (the plan already holds at most
``max_requests``), and requests still running ``drain_seconds`` after that are cancelled
and recorded as ``cancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import aiohttp

from forescale.sim.load_plan import PlannedRequest
from forescale.sim.loopback import require_loopback_url


@dataclass
class RequestRecord:
    """One request as the client saw it; times in seconds from the run start."""

    id: int
    target: str
    scheduled: float
    prompt_tokens: int
    output_tokens: int = 0
    """Output tokens received (the server's usage figure when it sent one)."""
    sent: float | None = None
    first_token: float | None = None
    end: float | None = None
    status: str = "pending"
    """``ok``, ``http_<code>``, ``error:<ExceptionType>``, ``truncated`` or ``cancelled``."""

    @property
    def ttft(self) -> float | None:
        if self.first_token is None or self.sent is None:
            return None
        return self.first_token - self.sent

    @property
    def latency(self) -> float | None:
        if self.end is None or self.sent is None:
            return None
        return self.end - self.sent

    def as_row(self) -> dict[str, object]:
        return {**asdict(self), "ttft": self.ttft, "latency": self.latency}


class TargetPicker:
    """Chooses the endpoint for each request: round-robin or least outstanding."""

    def __init__(self, targets: Sequence[str], policy: str) -> None:
        if not targets:
            raise ValueError("at least one target is needed")
        if policy not in {"round-robin", "least-outstanding"}:
            raise ValueError(f"unknown balancing policy {policy!r}")
        self._targets = [require_loopback_url(t) for t in targets]
        self._policy = policy
        self._cycle = itertools.cycle(self._targets)
        self.outstanding = dict.fromkeys(self._targets, 0)

    def pick(self) -> str:
        if self._policy == "round-robin":
            return next(self._cycle)
        return min(self._targets, key=lambda t: self.outstanding[t])  # first wins ties


async def _send(
    session: aiohttp.ClientSession,
    record: RequestRecord,
    model: str | None,
    max_tokens: int,
    clock: Callable[[], float],
) -> None:
    body: dict[str, object] = {
        "prompt": [0] * record.prompt_tokens,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if model is not None:
        body["model"] = model
    record.sent = clock()
    async with session.post(f"{record.target.rstrip('/')}/v1/completions", json=body) as response:
        if response.status != 200:
            await response.read()
            record.end = clock()
            record.status = f"http_{response.status}"
            return
        tokens = 0
        done = False
        async for raw in response.content:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            chunk = json.loads(data)
            if chunk.get("choices"):
                if record.first_token is None:
                    record.first_token = clock()
                tokens += 1
            usage = chunk.get("usage")
            if usage:
                tokens = int(usage.get("completion_tokens", tokens))
        record.output_tokens = tokens
        record.end = clock()
        # A stream that ends without [DONE] was cut off (a replica stopped mid-answer and
        # a proxy closed the response cleanly): a failed request, not a short one.
        record.status = "ok" if done else "truncated"


async def run_load(
    plan: Sequence[PlannedRequest],
    targets: Sequence[str],
    *,
    policy: str = "round-robin",
    model: str | None = None,
    max_seconds: float,
    drain_seconds: float = 30.0,
    request_timeout: float = 600.0,
) -> list[RequestRecord]:
    """Send ``plan`` open-loop against ``targets``; return one record per sent request."""
    picker = TargetPicker(targets, policy)
    loop = asyncio.get_running_loop()
    start = loop.time()

    def clock() -> float:
        return loop.time() - start

    records: list[RequestRecord] = []
    tasks: set[asyncio.Task[None]] = set()
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def one(record: RequestRecord, max_tokens: int) -> None:
            picker.outstanding[record.target] += 1
            try:
                await _send(session, record, model, max_tokens, clock)
            except asyncio.CancelledError:
                record.status = "cancelled"
                raise
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                record.status = f"error:{type(error).__name__}"
                record.end = clock()
            finally:
                picker.outstanding[record.target] -= 1

        for index, planned in enumerate(plan):
            if planned.at >= max_seconds:
                break
            delay = planned.at - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            record = RequestRecord(index, picker.pick(), planned.at, planned.prompt_tokens)
            records.append(record)
            task = asyncio.create_task(one(record, planned.output_tokens))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            remaining = max(0.0, max_seconds - clock()) + drain_seconds
            _, pending = await asyncio.wait(set(tasks), timeout=remaining)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return records


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarize(records: Sequence[RequestRecord]) -> dict[str, float | int | None]:
    """Count, achieved send rate, TTFT quantiles of successful requests, errors."""
    ok = [r for r in records if r.status == "ok"]
    ttfts = [r.ttft for r in ok if r.ttft is not None]
    sent = [r.sent for r in records if r.sent is not None]
    span = max(sent) - min(sent) if len(sent) > 1 else 0.0
    return {
        "requests": len(records),
        "ok": len(ok),
        "errors": len(records) - len(ok),
        "achieved_rate": (len(sent) - 1) / span if span > 0 else None,
        "ttft_p50": _quantile(ttfts, 0.50),
        "ttft_p95": _quantile(ttfts, 0.95),
        "ttft_p99": _quantile(ttfts, 0.99),
        "output_tokens": sum(r.output_tokens for r in ok),
    }
