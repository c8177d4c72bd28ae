"""Who owns the replica count: the user (fixed), the autoscaler (auto), nobody (recommend)."""

from __future__ import annotations

from typing import Any

from forescale.api.spec import LLMDeploymentSpec
from forescale.assessment.replica_target import ReplicaTarget, choose_replicas


def _spec(**scaling: Any) -> LLMDeploymentSpec:
    replicas = scaling.pop("replicas", None)
    raw: dict[str, Any] = {"model": {"name": "m"}, "scaling": {"maxReplicas": 10, **scaling}}
    if replicas is not None:
        raw["replicas"] = replicas
    return LLMDeploymentSpec.model_validate(raw)


def test_fixed_follows_spec_replicas() -> None:
    choice = choose_replicas(_spec(policy="fixed", replicas=4), ReplicaTarget(2, 2, None))
    assert choice.replicas == 4
    assert choice.events == []


def test_fixed_without_replicas_uses_min() -> None:
    choice = choose_replicas(_spec(policy="fixed", minReplicas=3), ReplicaTarget(None, None, None))
    assert choice.replicas == 3


def test_autoscaler_decision_is_clipped() -> None:
    assert choose_replicas(_spec(), ReplicaTarget(2, 2, 50)).replicas == 10


def test_no_decision_holds_last_applied() -> None:
    assert choose_replicas(_spec(), ReplicaTarget(5, 5, None)).replicas == 5
    assert choose_replicas(_spec(minReplicas=2), ReplicaTarget(None, None, None)).replicas == 2


def test_external_spec_replicas_is_reported_not_obeyed() -> None:
    choice = choose_replicas(_spec(replicas=7), ReplicaTarget(3, 3, 3))
    assert choice.replicas == 3
    ((kind, reason, message),) = choice.events
    assert (kind, reason) == ("Warning", "ExternalScaleIgnored")
    assert "spec.replicas was set to 7" in message


def test_another_writer_of_deployment_replicas_is_handed_the_count() -> None:
    """No tug-of-war: an HPA's count stays, with one ExternalScaler Warning to post."""
    choice = choose_replicas(_spec(), ReplicaTarget(6, 2, 3, external_writer="hpa"))
    assert choice.replicas == 6
    assert [e[:2] for e in choice.events] == [("Warning", "ExternalScaler")]
    assert "hpa set the Deployment's replicas to 6" in choice.events[0][2]


def test_recommend_mode_keeps_count() -> None:
    choice = choose_replicas(_spec(mode="recommend"), ReplicaTarget(4, 4, 9))
    assert choice.replicas == 4


def test_a_bound_that_moves_the_count_is_named_in_the_why() -> None:
    """An apiserver-restart test showed "Scaled from 1 to 2: holding the last decision"
    after a minReplicas edit: the Event must name the bound that moved the count."""
    raised = choose_replicas(_spec(minReplicas=2), ReplicaTarget(1, 1, None))
    assert (raised.replicas, raised.why) == (
        2,
        "holding the last decision 1, raised to minReplicas 2",
    )
    lowered = choose_replicas(_spec(maxReplicas=3), ReplicaTarget(5, None, None))
    assert (lowered.replicas, lowered.why) == (
        3,
        "holding the current count 5, lowered to maxReplicas 3",
    )
    capped = choose_replicas(_spec(), ReplicaTarget(2, 2, 50))
    assert capped.why == "autoscaler decision 50, lowered to maxReplicas 10"
    recommend = choose_replicas(_spec(mode="recommend", minReplicas=3), ReplicaTarget(1, 1, None))
    assert recommend.why == "recommend mode: keeping the current count 1, raised to minReplicas 3"
    assert choose_replicas(_spec(), ReplicaTarget(5, 5, None)).why == "holding the last decision"
