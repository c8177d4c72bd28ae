"""The one model of a vLLM replica, shared by the sim-server and the fleet simulator.

Pure and event-driven: virtual time in float seconds, no clock reads, no I/O. Between two
events (arrival, prefill step end, completion) the batch composition is constant, so the
engine advances decode progress analytically instead of looping per token or per step;
that keeps a million-request benchmark fast.

What it models (vLLM V1 continuous batching, simplified):

* FIFO waiting queue. The head is admitted when fewer than ``max_num_seqs`` requests are
  running and the KV cache has room for its prompt (and for the tokens the running
  sequences add during its prefill), as vLLM V1 admits on the prompt's blocks. A request
  larger than the whole cache is refused at submit.
* Preemption, as vLLM V1's FCFS scheduler: when the next decode step's tokens no longer
  fit, the sequence admitted last is preempted (its KV freed, back to the head of the
  queue) until they do; it resumes by prefilling its prompt and the output it had
  generated (recompute), then decodes the rest. Its first token (TTFT) stays the first.
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
# KV-cache token counts within this distance of full are full (float rounding only).
_FIT_EPSILON = 1e-6


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
    """Engine step counter when the request's latest prefill emitted a token (engine
    bookkeeping)."""
    recomputed: int = 0
    """Output tokens emitted before the request's latest preemption: its resume prefills
    them with the prompt, and only the rest are decoded."""
    preempted: bool = False
    """Preempted and not yet resumed (waiting, or in its recompute prefill)."""

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
    """One replica's scheduler and GPU timeline, advanced event by event.

    The hot paths (``submit``, ``advance`` and the event handlers) read the profile's
    figures from slots copied at construction and inline the step-time formula, because a
    benchmark run calls them millions of times. One decode step takes
    ``base + per_seq x batch + per_kv x cached tokens`` (cached tokens as in
    :meth:`_cache_tokens`); the three inlined copies write it in exactly that order, so
    the results do not change by a rounding.
    """

    __slots__ = (
        "_base",
        "_batched_tokens",
        "_completed_generation",
        "_decoding",
        "_full_at_step",
        "_kv_tokens",
        "_max_seqs",
        "_per_kv",
        "_per_seq",
        "_prefill_chunks",
        "_prefill_end",
        "_prefill_per_token",
        "_prefilling",
        "_sequence",
        "_step",
        "_sum_join",
        "_sum_prompt",
        "_waiting",
        "finished_count",
        "kv_blocked",
        "next_at",
        "now",
        "preemptions",
        "profile",
        "prompt_tokens_total",
    )

    def __init__(self, profile: ReplicaProfile, now: float = 0.0) -> None:
        self.profile = profile
        self._base = profile.decode_base_seconds
        self._per_seq = profile.decode_per_seq_seconds
        self._per_kv = profile.decode_per_kv_token_seconds
        self._prefill_per_token = profile.prefill_seconds_per_token
        self._kv_tokens = profile.kv_cache_tokens
        self._max_seqs = profile.max_num_seqs
        self._batched_tokens = profile.max_num_batched_tokens
        self.now = now
        self.finished_count = 0
        self.kv_blocked = 0
        """Admission attempts the KV cache stopped while a sequence slot was free."""
        self.preemptions = 0
        """Sequences preempted so far (vLLM ``num_preemptions``)."""
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
        self._full_at_step: float | None = None
        """When the next event is a preemption: the step at which it happens."""
        self.next_at: float | None = None
        """When the engine state next changes by itself (read only; the fleet's hot loop
        reads it directly rather than through :meth:`next_event_time`)."""

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
        prefill = sum(r.prompt_tokens + r.recomputed for r in self._prefilling)
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
        if request.preempted:
            return request.recomputed
        done = 1 + math.floor(self._step - request.decode_start_step + _STEP_EPSILON)
        return min(request.recomputed + done, request.output_tokens)

    def next_event_time(self) -> float | None:
        """When the engine state next changes by itself (None when idle or blocked)."""
        return self.next_at

    def fits(self, request: SimRequest) -> bool:
        """Whether the request could ever be admitted (prompt + output within the KV cache)."""
        return request.prompt_tokens + request.output_tokens <= self._kv_tokens

    # ----------------------------------------------------------------------- input

    def submit(self, request: SimRequest, now: float) -> None:
        """Queue ``request`` at ``now`` (after ``advance(now)``); prefill starts if it fits."""
        if request.prompt_tokens < 0 or request.output_tokens < 1:
            raise ValueError(f"request {request.id}: needs prompt >= 0 and output >= 1 tokens")
        if request.prompt_tokens + request.output_tokens > self._kv_tokens:
            raise ValueError(
                f"request {request.id}: {request.prompt_tokens + request.output_tokens} tokens "
                f"exceed the KV cache of {self.profile.kv_cache_tokens} tokens"
            )
        upcoming = self.next_at
        if upcoming is not None and upcoming < now - 1e-12:
            raise ValueError(f"advance({now}) before submitting: an event is pending at {upcoming}")
        self._move_to(now)
        self._waiting.append(request)
        if self._prefill_end is None:
            self._start_prefill()
            self._schedule()

    def advance(self, until: float) -> list[SimRequest]:
        """Process every event up to ``until``; return the requests that finished."""
        finished: list[SimRequest] = []
        while self.next_at is not None and self.next_at <= until:
            event_time = self.next_at
            if self._prefill_end is not None:
                self._end_prefill(event_time, finished)
            elif self._full_at_step is not None:
                # Like vLLM, no admission in a step that preempted.
                self._preempt(event_time)
                self._schedule()
                continue
            else:
                self._complete_decodes(event_time, finished)
            if self._prefill_end is None and self._waiting:
                self._start_prefill()
            self._schedule()
        self._move_to(until)
        return finished

    # -------------------------------------------------------------------- internals

    def _cache_tokens(self) -> float:
        batch = len(self._decoding)
        return self._sum_prompt + batch * (1.0 + self._step) - self._sum_join

    def _move_to(self, now: float) -> None:
        """Advance decode progress continuously to ``now`` (no event crossed)."""
        if now < self.now:
            raise ValueError(f"time goes forward only: {now} < {self.now}")
        batch = len(self._decoding)
        if batch and self._prefill_end is None:
            step = self._step
            per_kv = self._per_kv
            # Steps decoded in (now - self.now): the step time grows with the KV cache.
            c = (
                self._base
                + self._per_seq * batch
                + per_kv * (self._sum_prompt + batch * (1.0 + step) - self._sum_join)
            )
            a = per_kv * batch
            seconds = now - self.now
            # Root of a x^2 / 2 + c x = seconds, in the form that is stable when a -> 0.
            self._step = step + 2.0 * seconds / (c + math.sqrt(c * c + 2.0 * a * seconds))
        self.now = now

    def _start_prefill(self) -> None:
        """Admit the FIFO head group that fits and start its mixed prefill step."""
        waiting = self._waiting
        if not waiting:
            return
        batch = len(self._decoding)
        slots = self._max_seqs - batch
        batched = self._batched_tokens
        # Free now; the prefill's steps also add a token to every decoding sequence.
        free = self._kv_tokens - self._cache_tokens()
        group: list[SimRequest] = []
        prompt = 0
        now = self.now
        while waiting and len(group) < slots:
            head = waiting[0]
            taken = prompt + head.prompt_tokens + head.recomputed
            if group and taken > batched:
                break
            if taken + batch * max(1, -(-taken // batched)) > free:
                self.kv_blocked += 1
                break
            waiting.popleft()
            group.append(head)
            if head.admitted_at is None:
                head.admitted_at = now
            prompt = taken
        if not group:
            return
        chunks = max(1, -(-prompt // batched))
        # Seconds for ``chunks`` steps, the step time growing with the KV cache.
        per_kv = self._per_kv
        step_time = (
            self._base
            + self._per_seq * batch
            + per_kv * (self._sum_prompt + batch * (1.0 + self._step) - self._sum_join)
        )
        a = per_kv * batch
        duration = step_time * chunks + 0.5 * a * chunks * chunks
        duration += self._prefill_per_token * prompt
        self._prefilling = group
        self._prefill_chunks = chunks
        self._prefill_end = now + duration

    def _end_prefill(self, now: float, finished: list[SimRequest]) -> None:
        self.now = now
        decoding = self._decoding
        if decoding:
            self._step += self._prefill_chunks
        step = self._step
        sequence = self._sequence
        sum_prompt = self._sum_prompt
        sum_join = self._sum_join
        for request in self._prefilling:
            if request.preempted:
                request.preempted = False  # resumed: its first token came long ago
            else:
                request.first_token_at = now
                self.prompt_tokens_total += request.prompt_tokens
            left = request.output_tokens - request.recomputed
            if left == 1:
                self._finish(request, now, finished)
                continue
            request.decode_start_step = step
            sum_prompt += request.prompt_tokens + request.recomputed
            sum_join += step
            sequence += 1
            heapq.heappush(decoding, (step + left - 1, sequence, request))
        self._sequence = sequence
        self._sum_prompt = sum_prompt
        self._sum_join = sum_join
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
        if decoding and decoding[0][0] <= limit:
            sum_prompt = self._sum_prompt
            sum_join = self._sum_join
            pop = heapq.heappop
            while decoding and decoding[0][0] <= limit:
                request = pop(decoding)[2]
                sum_prompt -= request.prompt_tokens + request.recomputed
                sum_join -= request.decode_start_step
                request.finished_at = now
                self._completed_generation += request.output_tokens - request.recomputed
                self.finished_count += 1
                finished.append(request)
            self._sum_prompt = sum_prompt
            self._sum_join = sum_join
        if not decoding:  # drop accumulated rounding once the batch empties
            self._sum_prompt = 0
            self._sum_join = 0.0

    def _finish(self, request: SimRequest, now: float, finished: list[SimRequest]) -> None:
        request.finished_at = now
        self._completed_generation += request.output_tokens - request.recomputed
        self.finished_count += 1
        finished.append(request)

    def _preempt(self, now: float) -> None:
        """The next decode step's tokens do not fit: preempt the sequences admitted last
        until they do (vLLM V1's ``self.running.pop()``), each back to the queue's head."""
        step = self._full_at_step
        assert step is not None
        self._full_at_step = None
        self._step = max(self._step, step)
        self.now = now
        decoding = self._decoding
        # At the event the next step exactly fills the cache (up to rounding): it does not fit.
        limit = self._kv_tokens - _FIT_EPSILON
        while len(decoding) > 1 and self._cache_tokens() + len(decoding) >= limit:
            entry = max(decoding, key=lambda item: item[1])
            decoding.remove(entry)
            victim = entry[2]
            self._sum_prompt -= victim.prompt_tokens + victim.recomputed
            self._sum_join -= victim.decode_start_step
            emitted = 1 + math.floor(self._step - victim.decode_start_step + _STEP_EPSILON)
            # A victim at its last step keeps that token to emit when it resumes.
            emitted = min(emitted, victim.output_tokens - victim.recomputed - 1)
            self._completed_generation += emitted
            victim.recomputed += emitted
            victim.preempted = True
            self._waiting.appendleft(victim)
            self.preemptions += 1
        heapq.heapify(decoding)

    def _schedule(self) -> None:
        self._full_at_step = None
        if self._prefill_end is not None:
            self.next_at = self._prefill_end
        elif self._decoding:
            decoding = self._decoding
            batch = len(decoding)
            step = self._step
            remaining = max(0.0, decoding[0][0] - step)
            cached = self._sum_prompt + batch * (1.0 + step) - self._sum_join
            # Steps until the next one's tokens no longer fit: a preemption comes first.
            room = (self._kv_tokens - cached) / batch - 1.0
            if room < remaining and batch > 1:
                remaining = max(0.0, room)
                self._full_at_step = step + remaining
            # Seconds until the next event, ``remaining`` steps away.
            per_kv = self._per_kv
            step_time = self._base + self._per_seq * batch + per_kv * cached
            a = per_kv * batch
            self.next_at = self.now + (step_time * remaining + 0.5 * a * remaining * remaining)
        else:
            self.next_at = None
