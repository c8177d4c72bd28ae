"""The one model of a vLLM replica, shared by the sim-server and the fleet simulator.

Pure and event-driven: virtual time in float seconds, no clock reads, no I/O. Between two
events (arrival, prefill step end, completion) the batch composition is constant, so the
engine advances decode progress analytically instead of looping per token or per step;
that keeps a million-request benchmark fast.

What it models (vLLM V1 continuous batching, simplified):

* FIFO waiting queue. The head is admitted when fewer than ``max_num_seqs`` requests are
  running and the KV cache has room for its prompt + output tokens (reserved up front, so
  there are no preemptions; a request never larger than the cache is refused at submit).
* Prefill runs as one *mixed* engine step that also advances every decoding sequence by one
  token per chunk (chunked prefill): its length is ``chunks * step(batch)`` plus
  ``prefill_seconds_per_token * prompt tokens``, where the admitted group's prompt tokens
  are split into chunks of ``max_num_batched_tokens``. The step emits each admitted
  request's first token (TTFT ends here). Requests arriving meanwhile wait for the step end.
* Decode step time grows with the batch:
  ``step = decode_base + decode_per_seq * batch + decode_per_kv_token * tokens_in_cache``.
  Tokens in cache grow by ``batch`` per step, so time over ``x`` steps is quadratic,
  ``T(x) = c x + a x^2 / 2``, and is inverted in closed form.

Usage::

    engine = ReplicaEngine(get_profile("llama-3.1-8b-h100"))
    engine.submit(SimRequest(id=1, arrival=0.0, prompt_tokens=200, output_tokens=100), now=0.0)
    while (t := engine.next_event_time()) is not None:
        for request in engine.advance(t):
            print(request.id, request.ttft, request.latency)

Callers must ``advance(now)`` before ``submit(..., now)`` (an event left pending before
``now`` is an error), and may ``advance`` to any time to read gauges at that moment.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

from forescale.sim.replica_profiles import PROFILES, ReplicaProfile, get_profile

__all__ = ["PROFILES", "ReplicaEngine", "ReplicaProfile", "SimRequest", "get_profile"]

# Decode-step counts within this distance are the same step (float rounding only).
_STEP_EPSILON = 1e-9


@dataclass(slots=True, eq=False)
class SimRequest:
    """One request; the engine fills the timestamps (virtual seconds)."""

    id: int
    arrival: float
    prompt_tokens: int
    output_tokens: int
    admitted_at: float | None = None
    """When a prefill step took the request out of the waiting queue."""
    first_token_at: float | None = None
    finished_at: float | None = None
    decode_start_step: float = field(default=0.0, repr=False)
    """Engine step counter when the first token was emitted (engine bookkeeping)."""

    @property
    def ttft(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.arrival

    @property
    def latency(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.arrival

    @property
    def queue_time(self) -> float | None:
        return None if self.admitted_at is None else self.admitted_at - self.arrival


class ReplicaEngine:
    """One replica's scheduler and GPU timeline, advanced event by event."""

    __slots__ = (
        "_completed_generation",
        "_decoding",
        "_next",
        "_prefill_chunks",
        "_prefill_end",
        "_prefilling",
        "_reserved",
        "_sequence",
        "_step",
        "_sum_join",
        "_sum_prompt",
        "_waiting",
        "finished_count",
        "now",
        "profile",
        "prompt_tokens_total",
    )

    def __init__(self, profile: ReplicaProfile, now: float = 0.0) -> None:
        self.profile = profile
        self.now = now
        self.finished_count = 0
        self.prompt_tokens_total = 0
        self._completed_generation = 0
        self._waiting: deque[SimRequest] = deque()
        self._prefilling: list[SimRequest] = []
        self._prefill_end: float | None = None
        self._prefill_chunks = 0
        # (target step, tie-breaker, request): a request finishes when _step reaches target.
        self._decoding: list[tuple[float, int, SimRequest]] = []
        self._sequence = 0
        self._step = 0.0
        self._sum_prompt = 0
        self._sum_join = 0.0
        self._reserved = 0
        self._next: float | None = None

    # ----------------------------------------------------------------- observation

    @property
    def num_running(self) -> int:
        return len(self._prefilling) + len(self._decoding)

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    @property
    def kv_cache_tokens_used(self) -> float:
        """Tokens held in the KV cache now (prompts being prefilled + decoding contexts)."""
        prefill = sum(r.prompt_tokens for r in self._prefilling)
        return prefill + self._cache_tokens()

    @property
    def kv_cache_usage(self) -> float:
        """Fraction 0..1 of the KV cache holding tokens (vLLM ``kv_cache_usage_perc``)."""
        return min(1.0, self.kv_cache_tokens_used / self.profile.kv_cache_tokens)

    @property
    def generation_tokens_total(self) -> int:
        """Output tokens emitted so far, including those of unfinished requests."""
        batch = len(self._decoding)
        in_flight = batch * (1.0 + self._step) - self._sum_join
        return self._completed_generation + math.floor(in_flight + _STEP_EPSILON)

    def tokens_generated(self, request: SimRequest) -> int:
        """Output tokens of ``request`` emitted by ``now`` (for streaming)."""
        if request.finished_at is not None:
            return request.output_tokens
        if request.first_token_at is None:
            return 0
        done = 1 + math.floor(self._step - request.decode_start_step + _STEP_EPSILON)
        return min(done, request.output_tokens)

    def next_event_time(self) -> float | None:
        """When the engine state next changes by itself (None when idle or blocked)."""
        return self._next

    def fits(self, request: SimRequest) -> bool:
        """Whether the request could ever be admitted (prompt + output within the KV cache)."""
        return request.prompt_tokens + request.output_tokens <= self.profile.kv_cache_tokens

    # ----------------------------------------------------------------------- input

    def submit(self, request: SimRequest, now: float) -> None:
        """Queue ``request`` at ``now`` (after ``advance(now)``); prefill starts if it fits."""
        if request.prompt_tokens < 0 or request.output_tokens < 1:
            raise ValueError(f"request {request.id}: needs prompt >= 0 and output >= 1 tokens")
        if not self.fits(request):
            raise ValueError(
                f"request {request.id}: {request.prompt_tokens + request.output_tokens} tokens "
                f"exceed the KV cache of {self.profile.kv_cache_tokens} tokens"
            )
        if self._next is not None and self._next < now - 1e-12:
            raise ValueError(
                f"advance({now}) before submitting: an event is pending at {self._next}"
            )
        self._move_to(now)
        self._waiting.append(request)
        if self._prefill_end is None:
            self._start_prefill()
            self._schedule()

    def advance(self, until: float) -> list[SimRequest]:
        """Process every event up to ``until``; return the requests that finished."""
        finished: list[SimRequest] = []
        while self._next is not None and self._next <= until:
            event_time = self._next
            if self._prefill_end is not None:
                self._end_prefill(event_time, finished)
            else:
                self._complete_decodes(event_time, finished)
            if self._prefill_end is None:
                self._start_prefill()
            self._schedule()
        self._move_to(until)
        return finished

    # -------------------------------------------------------------------- internals

    def _step_time_now(self) -> float:
        profile = self.profile
        return (
            profile.decode_base_seconds
            + profile.decode_per_seq_seconds * len(self._decoding)
            + profile.decode_per_kv_token_seconds * self._cache_tokens()
        )

    def _cache_tokens(self) -> float:
        batch = len(self._decoding)
        return self._sum_prompt + batch * (1.0 + self._step) - self._sum_join

    def _move_to(self, now: float) -> None:
        """Advance decode progress continuously to ``now`` (no event crossed)."""
        if now < self.now:
            raise ValueError(f"time goes forward only: {now} < {self.now}")
        if self._decoding and self._prefill_end is None:
            self._step += self._steps_in(now - self.now)
        self.now = now

    def _steps_in(self, seconds: float) -> float:
        c = self._step_time_now()
        a = self.profile.decode_per_kv_token_seconds * len(self._decoding)
        # Root of a x^2 / 2 + c x = seconds, in the form that is stable when a -> 0.
        return 2.0 * seconds / (c + math.sqrt(c * c + 2.0 * a * seconds))

    def _seconds_for(self, steps: float) -> float:
        a = self.profile.decode_per_kv_token_seconds * len(self._decoding)
        return self._step_time_now() * steps + 0.5 * a * steps * steps

    def _start_prefill(self) -> None:
        """Admit the FIFO head group that fits and start its mixed prefill step."""
        waiting = self._waiting
        if not waiting:
            return
        profile = self.profile
        slots = profile.max_num_seqs - len(self._decoding)
        free = profile.kv_cache_tokens - self._reserved
        group: list[SimRequest] = []
        prompt = 0
        while waiting and len(group) < slots:
            head = waiting[0]
            need = head.prompt_tokens + head.output_tokens
            if need > free:
                break
            if group and prompt + head.prompt_tokens > profile.max_num_batched_tokens:
                break
            waiting.popleft()
            group.append(head)
            head.admitted_at = self.now
            free -= need
            prompt += head.prompt_tokens
        if not group:
            return
        self._reserved = profile.kv_cache_tokens - free
        chunks = max(1, -(-prompt // profile.max_num_batched_tokens))
        duration = self._seconds_for(chunks) + profile.prefill_seconds_per_token * prompt
        self._prefilling = group
        self._prefill_chunks = chunks
        self._prefill_end = self.now + duration

    def _end_prefill(self, now: float, finished: list[SimRequest]) -> None:
        self.now = now
        if self._decoding:
            self._step += self._prefill_chunks
        step = self._step
        for request in self._prefilling:
            request.first_token_at = now
            self.prompt_tokens_total += request.prompt_tokens
            if request.output_tokens == 1:
                self._finish(request, now, finished)
                continue
            request.decode_start_step = step
            self._sum_prompt += request.prompt_tokens
            self._sum_join += step
            self._sequence += 1
            heapq.heappush(
                self._decoding, (step + request.output_tokens - 1, self._sequence, request)
            )
        self._prefilling = []
        self._prefill_end = None
        self._complete_decodes(now, finished, snap=False)

    def _complete_decodes(self, now: float, finished: list[SimRequest], snap: bool = True) -> None:
        decoding = self._decoding
        if snap and decoding:
            # This event is defined as the moment the earliest target step is reached.
            self._step = max(self._step, decoding[0][0])
        self.now = now
        limit = self._step + _STEP_EPSILON
        while decoding and decoding[0][0] <= limit:
            _, _, request = heapq.heappop(decoding)
            self._sum_prompt -= request.prompt_tokens
            self._sum_join -= request.decode_start_step
            self._finish(request, now, finished)
        if not decoding:  # drop accumulated rounding once the batch empties
            self._sum_prompt = 0
            self._sum_join = 0.0

    def _finish(self, request: SimRequest, now: float, finished: list[SimRequest]) -> None:
        request.finished_at = now
        self._reserved -= request.prompt_tokens + request.output_tokens
        self._completed_generation += request.output_tokens
        self.finished_count += 1
        finished.append(request)

    def _schedule(self) -> None:
        if self._prefill_end is not None:
            self._next = self._prefill_end
        elif self._decoding:
            remaining = max(0.0, self._decoding[0][0] - self._step)
            self._next = self.now + self._seconds_for(remaining)
        else:
            self._next = None
