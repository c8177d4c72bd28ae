"""The autoscaler step of a reconciliation: read metrics, run the pure policy, explain.

This is orchestration only. The numbers come from the Prometheus reader (one batched read
per autoscaler tick serves every LLMDeployment, see ``handlers/ticking.py``), the decision
from ``forescale.policy``; this
module keeps the per-LLMDeployment memory (observation history, policy state, pod start
times already learned) and turns a decision into an Event message, a condition and the
``status.autoscaling`` block. A Prometheus outage or a missing metric is a *hold* with the
reason in the ``ScalingActive`` condition: never a crash, never a scale to zero.

Three accounting rules keep the numbers honest: a pod the scheduler cannot place is neither
capacity nor "loading" (it will not become Ready by waiting, so it must not block a
scale-down); a reading of 0 req/s right after a gap in the samples is not trusted until
the rate window has refilled (a rate over a window with a hole in it reads low); and no
metrics while the first replica is still loading is expected, not an alarm. The policy
state is persisted in ``status.autoscaling.policyState`` and restored on start, so a
restarted operator keeps its forecaster, learned capacity and cold start.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forescale.api.status import SCALING_ACTIVE, AutoscalingStatus
from forescale.assessment.conditions import ConditionUpdate
from forescale.handlers import telemetry
from forescale.metrics.errors import PrometheusError
from forescale.metrics.observation import Observation
from forescale.metrics.reader import PrometheusReader
from forescale.policy import (
    Action,
    Decision,
    PolicyState,
    ReplicaCounts,
    ScalingParameters,
    decide,
    hold,
)
from forescale.policy.spec_mapping import parameters_from_spec
from forescale.resources.owner import Owner

logger = logging.getLogger("forescale.autoscaler")

HISTORY = 64


_DONE_TO_ADVICE = (
    ("Scaled up from ", "Would scale up from "),
    ("Scaled down from ", "Would scale down from "),
)


def as_advice(reason: str) -> str:
    """The policy's reason as ``recommend`` mode reports it: nothing was scaled, so
    "Scaled up from 1 to 5: forecast ..." reads "Would scale up from 1 to 5: forecast ...".
    A hold ("Holding at 3: ...") is already true in either mode."""
    for done, advice in _DONE_TO_ADVICE:
        if reason.startswith(done):
            return advice + reason.removeprefix(done)
    return reason


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
    starved: bool = False
    """The hold is for lack of trustworthy metrics (not a policy choice)."""
    ready: int = 0
    """Ready pods when it was decided (none ready: no metrics yet is expected)."""
    first_metrics_pending: bool = False
    """Replicas are Ready but metrics never arrived yet, within the first read's grace."""
    policy_error: str | None = None
    """The policy raised (a bug): the count is held and the condition says so."""
    state_reset: str | None = None
    """The learned state was dropped: the policy kept raising on it, or the persisted one
    could not be read (a Warning)."""


@dataclass
class _Track:
    """Per-LLMDeployment autoscaler memory."""

    state: PolicyState = field(default_factory=PolicyState)
    history: deque[Observation] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last_decided_at: float | None = None
    last: AutoscalerDecision | None = None
    learned_pods: set[str] = field(default_factory=set)
    last_scale_time: str | None = None
    last_usable_at: float | None = None
    gap_since: float | None = None
    refill_until: float = 0.0
    first_ready_at: float | None = None
    pending: bool = False
    """The tick decided and asked for a pass: the next pass applies this decision."""
    failing_since: float | None = None
    """When the policy began raising on every decision (None: it decides)."""
    refused: str | None = None
    """Why the persisted state was not read, until the first decision says so."""


def _decide_or_hold(  # noqa: PLR0917 (the policy's own arguments, and whose they are)
    history: list[Observation],
    state: PolicyState,
    params: ScalingParameters,
    counts: ReplicaCounts,
    now: float,
    key: str,
) -> tuple[Decision, str | None]:
    """The policy's decision, or a hold at the current count when the policy raises.

    The policy is pure and should not raise; if a bug makes it, this deployment keeps its
    replicas and its state, and says why in ``ScalingActive`` (``PolicyFailed``), while
    the tick goes on to the others. Re-raising would stop every deployment's autoscaling
    behind it in the tick and leave this one's status silent.
    """
    try:
        return decide(history, state, params, counts, now), None
    except Exception as error:  # any bug in the policy: hold here, the log has the trace
        logger.exception("policy failed for %s; holding %d replicas", key, counts.desired)
        why = f"the policy raised {type(error).__name__}: {error}"
        message = f"holding {counts.desired} replicas: {why} (a bug; the log has the trace)"
        return hold(counts.desired, why, state, params), message


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _unschedulable(pod: dict[str, Any]) -> bool:
    """The scheduler said it cannot place the pod (no GPU free): neither supply nor loading."""
    return any(
        c.get("type") == "PodScheduled"
        and c.get("status") == "False"
        and c.get("reason") == "Unschedulable"
        for c in pod.get("status", {}).get("conditions", []) or []
    )


def read_state(body: dict[str, Any]) -> tuple[PolicyState | None, str | None]:
    """The policy state persisted in the object's status, or None (absent, other version,
    malformed: then the policy starts fresh rather than acting on garbage), and why a
    persisted state was refused (None: read, or absent)."""
    text = ((body.get("status") or {}).get("autoscaling") or {}).get("policyState")
    if not text:
        return None, None
    try:
        data = json.loads(
            text, parse_constant=_non_finite, parse_float=_finite, parse_int=_finite_int
        )
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return PolicyState.from_dict(data), None
    except ValueError as err:
        logger.warning("persisted policy state ignored, starting fresh: %s", err)
        return None, str(err)


# The operator writes strict JSON, but the text is anyone's to edit, and Python's reader takes
# NaN and Infinity and reads 1e999 as infinity: no learned quantity is ever infinite, and one
# such number (saturated_ready: Infinity) raised OverflowError out of the restore.
def _non_finite(name: str) -> float:
    raise ValueError(f"{name} is not a number the policy state holds")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _finite_int(text: str) -> int:
    _finite(text)
    return int(text)


def _encode_state(state: PolicyState) -> str:
    """Compact JSON, rounded: what ``status.autoscaling.policyState`` holds."""
    return json.dumps(_rounded(state.to_dict()), separators=(",", ":"), sort_keys=True)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


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
                "no Prometheus configured (forescale run --prometheus-url)",
            )
            return
        try:
            self._reading = await self._reader.read_async(deployments)
            self._read_error = None
        except PrometheusError as err:
            telemetry.READ_ERRORS.inc()
            self._reading, self._read_error = {}, f"Prometheus unavailable: {err}"
        except Exception as err:  # a bug in reading an answer: hold all, say so, go on
            # Raised out of the tick, it would stop every decision with nothing in any
            # deployment's status; as a failed read each one holds and its condition says why.
            logger.exception("reading Prometheus failed")
            telemetry.READ_ERRORS.inc()
            self._reading = {}
            self._read_error = (
                f"reading Prometheus failed: {type(err).__name__}: {err} (a bug; the log has"
                " the trace)"
            )

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

    def _distrust_after_gap(
        self, track: _Track, observation: Observation | None, now: float
    ) -> str | None:
        """A 0 req/s read right after a gap is a half-empty rate window, not idleness."""
        usable = observation is not None and observation.usable
        if not usable:
            if track.gap_since is None and track.last_usable_at is not None:
                track.gap_since = now
            return None
        assert observation is not None
        if track.gap_since is not None:
            track.refill_until = now + self.window_seconds
            track.gap_since = None
        track.last_usable_at = now
        if now < track.refill_until and not observation.arrival_rate:
            left = track.refill_until - now
            return (
                f"read 0 req/s right after a gap in the samples; not trusted until the "
                f"{self.window_seconds:.0f} s rate window has refilled ({left:.0f} s)"
            )
        return None

    @property
    def window_seconds(self) -> float:
        """The rate window of the reader (what a gap must be refilled over)."""
        return float(getattr(self._reader, "window_seconds", 60.0))

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
        body: dict[str, Any],
        deployment: dict[str, Any] | None,
        pods: list[dict[str, Any]],
    ) -> AutoscalerDecision:
        """One autoscaler step on the tick's read (``refresh``), from watched objects.

        The first step for an LLMDeployment restores the policy state persisted in its
        status (``body``), so a restarted operator continues where it stopped.
        """
        spec = owner.spec
        key = f"{owner.namespace}/{owner.name}"
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        track = self._tracks.get((owner.namespace, owner.name))
        if track is None:
            track = self._tracks[(owner.namespace, owner.name)] = _Track()
            restored, track.refused = read_state(body)
            if restored is not None:
                track.state = restored
                # Pods already running were learned before the restart.
                track.learned_pods = {p["metadata"]["name"] for p in live}
        now = self._clock()
        observation, problem = self._observation(key)
        gap = self._distrust_after_gap(track, observation if problem is None else None, now)
        problem = problem or gap
        if observation is not None and problem is None:
            track.history.append(observation)
        desired_now = int((deployment or {}).get("spec", {}).get("replicas") or 0)
        ready = sum(1 for p in live if _pod_ready_since(p) is not None)
        placeable = [p for p in live if not _unschedulable(p)]
        startups = []
        for pod in placeable:
            name = pod["metadata"]["name"]
            ready_at = _pod_ready_since(pod)
            created = _parse_time(pod["metadata"].get("creationTimestamp"))
            if ready_at is not None and created is not None and name not in track.learned_pods:
                track.learned_pods.add(name)
                startups.append(max(0.0, ready_at - created))
        counts = ReplicaCounts(
            desired=desired_now or spec.scaling.min_replicas,
            ready=ready,
            pending=max(0, len(placeable) - ready),
            startup_seconds=tuple(startups),
        )
        history = list(track.history) if problem is None else []
        params = parameters_from_spec(spec, rate_window_seconds=self.window_seconds)

        def decide_from(state: PolicyState) -> tuple[Decision, str | None]:
            return _decide_or_hold(history, state, params, counts, now, key)

        telemetry.deciding(owner.namespace, owner.name)
        policy, policy_error = decide_from(track.state)
        state_reset = None
        if policy_error is None:
            track.failing_since = None
        else:
            telemetry.policy_failed(owner.namespace, owner.name)
            fresh, state_reset = self._start_fresh(track, now, policy_error, decide_from)
            if fresh is not None:
                logger.warning("%s: %s", key, state_reset)
                policy, policy_error = fresh, None
        if track.refused is not None:
            state_reset = state_reset or (
                f"Discarded the persisted policy state: {track.refused}; a fresh state decides"
                " instead and learns again"
            )
            track.refused = None
        track.state = policy.state
        track.last_decided_at = now
        telemetry.record_decision(owner.namespace, owner.name, policy, observation)
        hold_reason = policy_error or problem
        if hold_reason is None and policy.action is Action.HOLD:
            hold_reason = policy.reason
        result = self._explain(spec.scaling.mode, policy, observation, counts.desired, hold_reason)
        starved = problem is not None or observation is None or not observation.usable
        if ready and track.first_ready_at is None:
            track.first_ready_at = now
        grace = 2 * self.window_seconds + spec.scaling.interval_seconds
        pending = (
            self._reader is not None  # no Prometheus configured is a problem, not a wait
            and track.last_usable_at is None
            and track.first_ready_at is not None
            and now - track.first_ready_at < grace
        )
        result = dataclasses.replace(
            result,
            starved=starved,
            ready=ready,
            first_metrics_pending=pending,
            policy_error=policy_error,
            state_reset=state_reset,
        )
        awaiting = self._reader is not None and (ready == 0 or pending)
        if starved and awaiting and track.last_usable_at is None:
            telemetry.awaiting_metrics(owner.namespace, owner.name)
        if result.scaled_message is not None:
            track.last_scale_time = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        track.last = result
        return result

    def _start_fresh(
        self,
        track: _Track,
        now: float,
        error: str,
        decide_from: Callable[[PolicyState], tuple[Decision, str | None]],
    ) -> tuple[Decision | None, str | None]:
        """A fresh state's decision and the Warning that says so, once the policy has raised
        on the learned state for one rate window; (None, None) until then.

        A hold keeps the state, so a state the policy cannot decide on (a persisted one
        edited by hand, or written by a version with a bug) would hold the count for good:
        no scale-up for the next spike. After one rate window a reading that made it raise
        has left the window; what still raises is the state. Losing it costs what an
        unreadable persisted state costs (``read_state``): the policy learns again and
        holds its scale-down for a horizon. If a fresh state raises too, the bug is the
        policy's and the hold stays.
        """
        if track.failing_since is None:
            track.failing_since = now
        if now - track.failing_since < self.window_seconds or track.state == PolicyState():
            return None, None
        fresh, fresh_error = decide_from(PolicyState())
        if fresh_error is not None:
            return None, None
        reset = (
            "Discarded the learned policy state: the policy raised on it for"
            f" {now - track.failing_since:.0f} s ({error}); a fresh state decides instead"
            " and learns again"
        )
        track.failing_since = None
        return fresh, reset

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
            message = as_advice(policy.reason) if changes else None
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
        if last.policy_error is not None and last.policy is not None:
            return ConditionUpdate(SCALING_ACTIVE, "False", "PolicyFailed", last.policy_error)
        if last.hold_reason is not None and last.policy is not None and last.starved:
            if self._reader is not None and (last.ready == 0 or last.first_metrics_pending):
                why = (
                    "no replica is Ready yet, so there are no metrics to scale on (expected "
                    "while the model loads)"
                    if last.ready == 0
                    else "waiting for the first metrics of the Ready replicas"
                )
                return ConditionUpdate(
                    SCALING_ACTIVE,
                    "False",
                    "AwaitingMetrics",
                    f"holding {last.policy.desired_replicas} replicas: {why}",
                )
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
    ) -> AutoscalingStatus:
        """The ``status.autoscaling`` block, with the policy state to restore from."""
        return AutoscalingStatus.model_validate(self._status(owner, replicas))

    def _status(self, owner: Owner, replicas: int) -> dict[str, Any]:
        track = self._tracks.get((owner.namespace, owner.name))
        last = track.last if track is not None else None
        out: dict[str, Any] = {"desiredReplicas": replicas}
        if track is not None and track.last_decided_at is not None:
            out["policyState"] = _encode_state(track.state)
        if last is None or last.policy is None:
            return out
        policy, obs = last.policy, last.observation
        out["lastDecision"] = str(policy.action)
        advice = owner.spec.scaling.mode == "recommend"
        out["lastDecisionReason"] = last.hold_reason or (
            as_advice(policy.reason) if advice else policy.reason
        )
        if advice:
            out["recommendedReplicas"] = policy.desired_replicas
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
        if policy.capacity_tokens_per_second is not None:
            out["capacityOutputTokensPerSecond"] = f"{policy.capacity_tokens_per_second:.0f}"
        if track is not None and track.state.startup_seconds:
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
