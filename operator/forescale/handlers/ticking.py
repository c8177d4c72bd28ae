"""The autoscaler tick: one loop for every LLMDeployment, instead of a timer per object.

A kopf timer per LLMDeployment ran a full reconciliation every few seconds for each one:
read the object, apply four children, read the Deployment, list the pods, write status.
For an idle fleet that is all cost and no news (a fifth of a core at 100 deployments). The
tick replaces it:

* every ``interval`` it looks at the fleet as the watches last reported it
  (:mod:`forescale.handlers.fleet_view`), never at the API server;
* for the LLMDeployments whose control interval is over, it makes **one** batched
  Prometheus read and runs the policy for each;
* it asks the reconciler for a pass only where the decision changes something: the
  replica count, the ``ScalingActive`` condition, the ``status.autoscaling`` figures, or a
  recommendation to announce. A quiet fleet costs no API request at all;
* level-based safety nets stay: an LLMDeployment whose problem watches cannot see (a
  missing Secret, an unknown GPU product: ``Degraded``) is retried every interval, one
  whose status lags its generation (a failed pass) after ``RETRY_BEHIND_SECONDS``, and
  every one gets a full pass every ``resync_seconds`` (spread over ticks, never all at once)
  to repair what no watch reports.

Watch events (spec changes, children edited or deleted, a Deployment's status moving)
still trigger passes directly (``handlers/triggers.py``).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from forescale.api.status import DEGRADED, READY, SCALING_ACTIVE
from forescale.assessment.conditions import find
from forescale.handlers.autoscaling import Autoscaler, AutoscalerDecision
from forescale.handlers.fleet_view import FleetView, Key
from forescale.handlers.telemetry import REGISTRY
from forescale.resources.owner import Owner

logger = logging.getLogger("forescale.tick")

RETRY_BEHIND_SECONDS = 120.0
"""Long enough not to re-queue passes that are merely slow (the 100-deployment benchmark
run on a busy machine asked 143 such retries with 30 s), short enough to repair a failed one."""
_VOLATILE_STATUS = frozenset(
    {"lastDecisionTime", "desiredReplicas", "lastDecisionReason", "policyState"}
)
"""status.autoscaling fields that alone warrant no write: the decision's time, its
free-text reason and the policy state (written with the next pass; the figures and the
condition's reason are what trigger one). Every pass the tick or a watch asks for (a
scale, a new figure, a condition, the resync) writes the policy state, so it is as fresh as
anything worth restoring."""

TICK_SECONDS = Histogram(
    "forescale_autoscaler_tick_seconds",
    "Duration of one autoscaler tick (Prometheus read and every decision)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
    registry=REGISTRY,
)
TICK_PASSES = Counter(
    "forescale_tick_passes_total",
    "Reconciliation passes the tick asked for, by why",
    ("why",),
    registry=REGISTRY,
)
WATCHED = Gauge(
    "forescale_llmdeployments_watched", "LLMDeployments this operator serves", registry=REGISTRY
)


@dataclass(frozen=True)
class TickReport:
    """What one tick did (for logs and tests)."""

    deployments: int
    decided: int
    passes: dict[str, int]
    seconds: float


class Ticker:
    """Runs the autoscaler tick; ``trigger`` asks the reconciler for a pass of one key."""

    def __init__(
        self,
        view: FleetView,
        autoscaler: Autoscaler,
        trigger: Callable[[str, str], None],
        *,
        interval: float,
        resync_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        is_active: Callable[[], bool] = lambda: True,
    ) -> None:
        self.view = view
        self.autoscaler = autoscaler
        self.trigger = trigger
        self.interval = interval
        self.resync_seconds = resync_seconds
        self._clock = clock
        self._is_active = is_active
        self._last_pass: dict[Key, float] = {}

    async def run(self) -> None:
        """Tick forever (cancelled on shutdown); a failed tick is logged, never fatal."""
        while True:
            started = self._clock()
            try:
                if self._is_active():
                    report = await self.tick()
                    if sum(report.passes.values()):
                        logger.debug("tick: %s", report)
            except Exception:
                logger.exception("autoscaler tick failed")
            await asyncio.sleep(max(0.0, self.interval - (self._clock() - started)))

    async def tick(self) -> TickReport:
        """One tick over the whole fleet."""
        started = self._clock()
        now = started
        keys = self.view.llmdeployments()
        WATCHED.set(len(keys))
        for gone in set(self._last_pass) - set(keys):
            del self._last_pass[gone]
        passes: dict[str, int] = {}

        def ask(key: Key, why: str) -> None:
            self._last_pass[key] = now
            passes[why] = passes.get(why, 0) + 1
            TICK_PASSES.labels(why).inc()
            self.trigger(*key)

        due: list[tuple[Key, Owner]] = []
        resync: list[Key] = []
        for key in keys:
            body = self.view.body(key) or {}
            owner = self.view.owner(key)
            last = self._last_pass.setdefault(key, now)
            why = _needs_retry(body, now - last, self.interval)
            if why is not None:
                ask(key, why)
            elif now - last >= self.resync_seconds:
                resync.append(key)
            if (
                owner is not None
                and owner.spec.scaling.policy != "fixed"
                and self.autoscaler.due(owner)
            ):
                due.append((key, owner))
        budget = math.ceil(len(keys) * self.interval / self.resync_seconds) + 1
        for key in resync[:budget]:
            ask(key, "resync")
        if due:
            await self.autoscaler.refresh([f"{ns}/{name}" for (ns, name), _ in due])
            for key, owner in due:
                deployment = self.view.deployment(key)
                body = self.view.body(key) or {}
                try:
                    decision = self.autoscaler.decide_now(
                        owner, body, deployment, self.view.pods(key)
                    )
                    why = self._what_changes(owner, body, deployment, decision)
                except Exception:
                    # One deployment's failure must not stop the tick for those after it.
                    logger.exception("autoscaler step failed for %s/%s", *key)
                    continue
                if why is not None:
                    self.autoscaler.mark_pending(owner)
                    ask(key, why)
        seconds = self._clock() - started
        TICK_SECONDS.observe(seconds)
        return TickReport(len(keys), len(due), passes, seconds)

    def _what_changes(
        self,
        owner: Owner,
        body: dict[str, Any],
        deployment: dict[str, Any] | None,
        decision: AutoscalerDecision,
    ) -> str | None:
        """Why this decision needs a pass (None: it changes nothing anyone can see)."""
        if deployment is None:
            return None  # not watched yet: its creation triggers a pass of its own
        current = deployment.get("spec", {}).get("replicas")
        if decision.desired is not None and decision.desired != current:
            return "scale"
        if decision.recommendation_message is not None:
            return "recommend"
        status = body.get("status") or {}
        wanted = self.autoscaler.condition(owner, decision)
        have = find(status.get("conditions") or [], SCALING_ACTIVE) or {}
        # Status and reason, not the message: a message alone changes when the same hold
        # is explained with another detail (a read that timed out, then one with stale
        # samples); for a fleet without metrics that flip would rewrite every status.
        if (have.get("status"), have.get("reason")) != (wanted.status, wanted.reason):
            return "condition"
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        block = self.autoscaler.status(owner, decision, int(current or 0), stamp).model_dump(
            by_alias=True, exclude_none=True
        )
        written = status.get("autoscaling") or {}
        if _without(block) != _without(written):
            return "status"
        return None


def _without(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k not in _VOLATILE_STATUS}


def _needs_retry(body: dict[str, Any], since_pass: float, interval: float) -> str | None:
    """A level-based retry for what no watch reports (None: the watches suffice)."""
    status = body.get("status") or {}
    conditions = status.get("conditions") or []
    degraded = find(conditions, DEGRADED) or {}
    if degraded.get("status") == "True" and since_pass >= interval:
        return "degraded"
    generation = (body.get("metadata") or {}).get("generation")
    behind = status.get("observedGeneration") != generation or find(conditions, READY) is None
    if behind and since_pass >= RETRY_BEHIND_SECONDS:
        return "behind"
    return None
