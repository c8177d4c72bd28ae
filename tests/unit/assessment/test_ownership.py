"""Ownership read off metadata: ownerReferences and managedFields as the API server writes."""

from __future__ import annotations

from typing import Any

from forescale.assessment.ownership import (
    conflict_message,
    foreign_template_fields,
    owned_by,
    replicas_writer,
)

OURS = {"forescale", "forescale-scaler"}


def _entry(manager: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": "Apply", "fieldsV1": fields, **extra}


def _template(spec: dict[str, Any]) -> dict[str, Any]:
    return {"f:spec": {"f:template": {"f:spec": spec}}}


VLLM = 'k:{"name":"vllm"}'


def test_owned_only_with_our_uid() -> None:
    obj = {"metadata": {"ownerReferences": [{"uid": "u1", "kind": "LLMDeployment"}]}}
    assert owned_by(obj, "u1")
    assert not owned_by(obj, "u2")
    assert not owned_by({"metadata": {}}, "u1")


def test_conflict_message_names_the_object_and_its_owner() -> None:
    obj = {
        "kind": "Service",
        "metadata": {"name": "victim", "ownerReferences": [{"kind": "Foo", "name": "bar"}]},
    }
    message = conflict_message(obj, "victim")
    assert "Service victim already exists and is owned by Foo/bar" in message


def test_fields_only_others_set_in_the_template_are_foreign() -> None:
    ours = _template({"f:containers": {VLLM: {".": {}, "f:name": {}, "f:image": {}}}})
    theirs = _template(
        {
            "f:hostNetwork": {},
            "f:containers": {
                VLLM: {"f:image": {}, "f:securityContext": {"f:privileged": {}}},
                'k:{"name":"evil"}': {".": {}, "f:name": {}, "f:image": {}},
            },
        }
    )
    obj = {"metadata": {"managedFields": [_entry("forescale", ours), _entry("kubectl", theirs)]}}
    assert foreign_template_fields(obj, OURS) == [
        'template.spec.containers.{"name":"evil"}.image',
        'template.spec.containers.{"name":"vllm"}.securityContext.privileged',
        "template.spec.hostNetwork",
    ]


def test_a_rollout_restart_and_status_writers_are_not_foreign() -> None:
    restart = {
        "f:spec": {
            "f:template": {
                "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/restartedAt": {}}}
            }
        }
    }
    status = {"f:status": {"f:replicas": {}}}
    obj = {
        "metadata": {
            "managedFields": [
                _entry("kubectl-rollout", restart),
                _entry("kube-controller-manager", status, subresource="status"),
            ]
        }
    }
    assert foreign_template_fields(obj, OURS) == []


def test_the_last_writer_of_replicas_is_named() -> None:
    obj = {
        "metadata": {
            "managedFields": [
                _entry("forescale", {"f:spec": {"f:selector": {}}}),
                _entry("hpa", {"f:spec": {"f:replicas": {}}}, subresource="scale", time="t1"),
            ]
        }
    }
    assert replicas_writer(obj) == ("hpa", "t1")
    assert replicas_writer({"metadata": {}}) is None
