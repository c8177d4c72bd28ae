"""The autoscaler step of a reconciliation: read metrics, run the pure policy, explain.

This is orchestration only. The numbers come from the Prometheus reader (one batched read
per autoscaler tick serves every LLMDeployment, see ``handlers/ticking.py``), the decision
from ``forescale.policy``; this
module keeps the per-LLMDeployment memory (observation history, policy state, pod start
times already learned) and turns a decision into an Event message, a condition and the
``status.autoscaling`` block. A Prometheus outage or a missing metric is a *hold* with the
reason in the ``ScalingActive`` condition: never a crash, never a scale to zero.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forescale.api.status import SCALING_ACTIVE
from forescale.assessment.conditions import ConditionUpdate
from forescale.handlers import telemetry
from forescale.metrics.errors import PrometheusError
from forescale.metrics.observation import Observation
from forescale.metrics.reader import PrometheusReader
from forescale.policy import Action, Decision, PolicyState, ReplicaCounts, decide
from forescale.policy.spec_mapping import parameters_from_spec
from forescale.resources.owner import Owner

logger = logging.getLogger("forescale.autoscaler")

HISTORY = 64


@dataclass(frozen=True)
class AutoscalerDecision:
    """What the reconciler needs from one autoscaler step."""

    desired: int | None
    """Replicas to apply (None: no opinion, keep what is there)."""
    policy: Decision | None
    observation: Observation | None
    event_reason: str = ""
    scaled_message: str | None = None
    recommendation_message: str | None = None
    hold_reason: str | None = None


@dataclass
class _Track:
    """Per-LLMDeployment autoscaler memory."""

    state: PolicyState = field(default_factory=PolicyState)
    history: deque[Observation] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last_decided_at: float | None = None
    last: AutoscalerDecision | None = None
    learned_pods: set[str] = field(default_factory=set)
    last_scale_time: str | None = None
    pending: bool = False
    """The tick decided and asked for a pass: the next pass applies this decision."""


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _pod_ready_since(pod: dict[str, Any]) -> float | None:
    for cond in pod.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return _parse_time(cond.get("lastTransitionTime"))
    return None


class Autoscaler:
    """Runs the policy for every LLMDeployment the reconciler visits."""

    def __init__(
        self, reader: PrometheusReader | None, clock: Callable[[], float] = time.time
    ) -> None:
        self._reader = reader
        self._clock = clock
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._reading: dict[str, Observation] = {}
        self._read_error: str | None = "no read yet"

    def forget(self, namespace: str, name: str) -> None:
        """Drop the memory of a deleted LLMDeployment."""
        self._tracks.pop((namespace, name), None)

    async def refresh(self, deployments: list[str]) -> None:
        """One batched Prometheus read for every deployment the tick is about to decide."""
        if self._reader is None:
            self._reading, self._read_error = (
                {},
                ("no Prometheus configured (forescale run --prometheus-url)"),
            )
            return
        try:
            self._reading = await self._reader.read_async(deployments)
            self._read_error = None
        except PrometheusError as err:
            telemetry.READ_ERRORS.inc()
            self._reading, self._read_error = {}, f"Prometheus unavailable: {err}"

    def _observation(self, key: str) -> tuple[Observation | None, str | None]:
        if self._read_error is not None:
            return None, self._read_error
        return self._reading.get(key), None

    def due(self, owner: Owner) -> bool:
        """True when the control interval since this deployment's last decision is over."""
        track = self._tracks.get((owner.namespace, owner.name))
        if track is None or track.last_decided_at is None:
            return True
        return self._clock() - track.last_decided_at >= owner.spec.scaling.interval_seconds

    def mark_pending(self, owner: Owner) -> None:
        """The tick asked for a pass to apply its decision: that pass must see it whole."""
        track = self._tracks.get((owner.namespace, owner.name))
        if track is not None:
            track.pending = True

    async def decide(
        self,
        owner: Owner,
        body: dict[str, Any],
        deployment: dict[str, Any] | None,
        pods: list[dict[str, Any]],
    ) -> AutoscalerDecision | None:
        """The autoscaler's part of a reconciliation pass (None: autoscaling does not apply).

        Passes never decide: the tick does, for every deployment at once, and asks for a
        pass only when its decision changes something. A pass returns that decision once
        (``pending``), otherwise the last decision without a replica opinion, so a pass
        triggered by a watch event holds what is there and keeps the last reasons.
        """
        del body, deployment, pods
        if owner.spec.scaling.policy == "fixed":
            telemetry.forget_autoscaling(owner.namespace, owner.name)
            return None
        track = self._tracks.get((owner.namespace, owner.name))
        if track is None or track.last is None:
            return None
        if track.pending:
            track.pending = False
            return track.last
        return dataclasses.replace(
            track.last, desired=None, scaled_message=None, recommendation_message=None
        )

    def decide_now(
        self,
        owner: Owner,
        deployment: dict[str, Any] | None,
        pods: list[dict[str, Any]],
    ) -> AutoscalerDecision:
        """One autoscaler step on the tick's read (``refresh``), from watched objects."""
        spec = owner.spec
        key = f"{owner.namespace}/{owner.name}"
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        track = self._tracks.setdefault((owner.namespace, owner.name), _Track())
        now = self._clock()
        observation, problem = self._observation(key)
        if observation is not None:
            track.history.append(observation)
        desired_now = int((deployment or {}).get("spec", {}).get("replicas") or 0)
        ready = sum(1 for p in live if _pod_ready_since(p) is not None)
        startups = []
        for pod in live:
            name = pod["metadata"]["name"]
            ready_at = _pod_ready_since(pod)
            created = _parse_time(pod["metadata"].get("creationTimestamp"))
            if ready_at is not None and created is not None and name not in track.learned_pods:
                track.learned_pods.add(name)
                startups.append(max(0.0, ready_at - created))
        counts = ReplicaCounts(
            desired=desired_now or spec.scaling.min_replicas,
            ready=ready,
            pending=max(0, len(live) - ready),
            startup_seconds=tuple(startups),
        )
        history = list(track.history) if problem is None else []
        policy = decide(history, track.state, parameters_from_spec(spec), counts, now)
        track.state = policy.state
        track.last_decided_at = now
        telemetry.record_decision(owner.namespace, owner.name, policy, observation)
        hold_reason = problem or (policy.reason if policy.action is Action.HOLD else None)
        result = self._explain(spec.scaling.mode, policy, observation, counts.desired, hold_reason)
        if result.scaled_message is not None:
            track.last_scale_time = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        track.last = result
        return result

    @staticmethod
    def _explain(
        mode: str,
        policy: Decision,
        observation: Observation | None,
        current: int,
        hold_reason: str | None,
    ) -> AutoscalerDecision:
        changes = policy.action is not Action.HOLD and policy.desired_replicas != current
        if mode == "recommend":
            message = (
                f"Would scale from {current} to {policy.desired_replicas}: {policy.reason}"
                if changes
                else None
            )
            return AutoscalerDecision(
                desired=None,
                policy=policy,
                observation=observation,
                recommendation_message=message,
                hold_reason=hold_reason,
            )
        reason = "ScaledUp" if policy.action is Action.SCALE_UP else "ScaledDown"
        return AutoscalerDecision(
            desired=policy.desired_replicas,
            policy=policy,
            observation=observation,
            event_reason=reason,
            scaled_message=policy.reason if changes else None,
            hold_reason=hold_reason,
        )

    def condition(self, owner: Owner, decision: AutoscalerDecision | None) -> ConditionUpdate:
        """The ScalingActive condition for this pass."""
        if owner.spec.scaling.policy == "fixed":
            return ConditionUpdate(
                SCALING_ACTIVE, "False", "ScalingDisabled", "policy fixed: spec.replicas rules"
            )
        track = self._tracks.get((owner.namespace, owner.name))
        last = decision if decision is not None and decision.policy is not None else None
        if last is None and track is not None:
            last = track.last
        if last is None:
            return ConditionUpdate(SCALING_ACTIVE, "Unknown", "Starting", "no decision yet")
        if (
            last.hold_reason is not None
            and last.policy is not None
            and (last.observation is None or not last.observation.usable)
        ):
            return ConditionUpdate(
                SCALING_ACTIVE,
                "False",
                "MetricsUnavailable",
                f"holding {last.policy.desired_replicas} replicas: {last.hold_reason}",
            )
        if owner.spec.scaling.mode == "recommend":
            return ConditionUpdate(
                SCALING_ACTIVE, "True", "RecommendOnly", "mode recommend: decisions are not applied"
            )
        return ConditionUpdate(
            SCALING_ACTIVE, "True", "ValidMetrics", last.policy.reason if last.policy else ""
        )

    def status(
        self, owner: Owner, decision: AutoscalerDecision | None, replicas: int, now: str
    ) -> dict[str, Any]:
        """The ``status.autoscaling`` block."""
        track = self._tracks.get((owner.namespace, owner.name))
        last = track.last if track is not None else None
        out: dict[str, Any] = {"desiredReplicas": replicas}
        if last is None or last.policy is None:
            return out
        policy, obs = last.policy, last.observation
        out["lastDecision"] = str(policy.action)
        out["lastDecisionReason"] = last.hold_reason or policy.reason
        if track is not None and track.last_decided_at is not None:
            out["lastDecisionTime"] = datetime.datetime.fromtimestamp(
                track.last_decided_at, datetime.UTC
            ).strftime("%Y-%m-%dT%H:%M:%SZ")
        if track is not None and track.last_scale_time is not None:
            out["lastScaleTime"] = track.last_scale_time
        out["forecastHorizonSeconds"] = round(policy.horizon_seconds)
        if policy.forecast_requests_per_second is not None:
            out["forecastRequestsPerSecond"] = f"{policy.forecast_requests_per_second:.2f}"
        if policy.capacity_requests_per_second is not None:
            out["capacityRequestsPerSecond"] = f"{policy.capacity_requests_per_second:.2f}"
        if track is not None:
            tps = track.state.capacity_tokens_per_second
            if tps is not None:
                out["capacityOutputTokensPerSecond"] = f"{tps:.0f}"
            if track.state.startup_seconds:
                out["coldStartSeconds"] = round(max(track.state.startup_seconds))
        if obs is not None:
            if obs.arrival_rate is not None:
                out["observedRequestsPerSecond"] = f"{obs.arrival_rate:.2f}"
            if obs.generation_token_rate is not None:
                out["observedOutputTokensPerSecond"] = f"{obs.generation_token_rate:.0f}"
            if obs.waiting is not None:
                out["waitingRequests"] = round(obs.waiting)
            if obs.ttft_p95 is not None:
                out["ttftP95Milliseconds"] = round(obs.ttft_p95 * 1000)
            if obs.e2e_p95 is not None:
                out["e2eP95Milliseconds"] = round(obs.e2e_p95 * 1000)
        return out
