"""What a pod-template apply changed, as the PodTemplateChanged Event says it.

The templates come from the real builder, rendered twice with one thing changed, so the
phrases are checked against the Deployment forescale actually applies."""

from __future__ import annotations

import copy
from typing import Any

from forescale.assessment.pod_template_changes import (
    MAX_SHOWN,
    describe_pod_template_changes,
    pod_template_changes,
)
from forescale.resources.deployment import CONTAINER_NAME, build_deployment
from forescale.resources.settings import RenderSettings
from tests.unit.resources.builders_support import owner_from

A, B = "mirror.test/vllm:v0.34.0", "mirror.test/vllm:v0.34.1"


def _template(settings: RenderSettings | None = None, **spec: Any) -> dict[str, Any]:
    owner = owner_from("llmdeployment.yaml", **spec)
    template: dict[str, Any] = build_deployment(owner, settings or RenderSettings())["spec"][
        "template"
    ]
    return template


def _container(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(
        c for c in template["spec"]["containers"] if c["name"] == CONTAINER_NAME
    )
    return found


def test_equal_templates_change_nothing() -> None:
    assert pod_template_changes(_template(), _template()) == []


def test_a_new_default_image_is_named_with_both_values() -> None:
    before = _template(RenderSettings(default_image=A))
    after = _template(RenderSettings(default_image=B))
    assert pod_template_changes(before, after) == [f"{CONTAINER_NAME} image {A} -> {B}"]


def test_an_engine_flag_names_the_arguments_that_left_and_came() -> None:
    before, after = _template(), _template(engine={"maxNumSeqs": 512})
    (change,) = pod_template_changes(before, after)
    assert change.startswith(f"{CONTAINER_NAME} args ")
    assert "-['--max-num-seqs=256']" not in change  # one argument at a time, not the list
    assert "---max-num-seqs=256" in change and "+--max-num-seqs=512" in change


def test_env_is_named_never_shown() -> None:
    before = _template()
    after = copy.deepcopy(before)
    _container(after).setdefault("env", []).append({"name": "API_KEY", "value": "s3cr3t"})
    changed = copy.deepcopy(after)
    next(e for e in _container(changed)["env"] if e["name"] == "API_KEY")["value"] = "0th3r"
    assert pod_template_changes(before, after) == [f"{CONTAINER_NAME} env API_KEY added"]
    assert pod_template_changes(after, changed) == [f"{CONTAINER_NAME} env API_KEY changed"]
    assert pod_template_changes(after, before) == [f"{CONTAINER_NAME} env API_KEY removed"]
    text = " ".join(pod_template_changes(before, after) + pod_template_changes(after, changed))
    assert "s3cr3t" not in text and "0th3r" not in text


def test_resources_grace_period_and_pod_annotations_name_their_keys() -> None:
    before = _template()
    after = copy.deepcopy(before)
    limits = _container(after)["resources"].setdefault("limits", {})
    was = limits.get("memory", "unset")
    limits["memory"] = "99Gi"
    after["spec"]["terminationGracePeriodSeconds"] = 999
    after["metadata"].setdefault("annotations", {})["team"] = "ml"
    changes = pod_template_changes(before, after)
    assert f"{CONTAINER_NAME} limits memory {was} -> 99Gi" in changes
    assert any(
        c.startswith("terminationGracePeriodSeconds ") and c.endswith("-> 999") for c in changes
    )
    assert "pod annotation team unset -> ml" in changes
    assert len(changes) == 3, changes


def test_containers_added_and_removed_and_other_fields_by_name() -> None:
    before = _template()
    after = copy.deepcopy(before)
    after["spec"]["containers"].append({"name": "sidecar", "image": "x"})
    _container(after)["readinessProbe"] = {"httpGet": {"path": "/other", "port": 1}}
    changes = pod_template_changes(before, after)
    assert "container sidecar added" in changes
    assert f"{CONTAINER_NAME} readinessProbe changed" in changes
    assert pod_template_changes(after, before)[0] == "container sidecar removed"


def test_a_long_list_is_cut_and_counted() -> None:
    changes = [f"change {i}" for i in range(MAX_SHOWN + 3)]
    text = describe_pod_template_changes(changes)
    assert text.endswith("(+3 more)")
    assert f"change {MAX_SHOWN - 1}" in text and f"change {MAX_SHOWN}" not in text
