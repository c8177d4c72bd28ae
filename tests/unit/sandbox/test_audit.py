"""Reading the sandbox API server's audit log: request counts and one record per request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forescale.sandbox.audit import AuditedRequest, audit_lines, audited_requests, count_audit


def _event(verb: str, stage: str, at: str) -> str:
    return json.dumps({"verb": verb, "stage": stage, "stageTimestamp": at})


def test_audit_counts_completed_requests_and_watches_once_inside_the_window() -> None:
    lines = [
        _event("get", "ResponseComplete", "2026-01-01T00:00:01.500000Z"),
        _event("patch", "ResponseComplete", "2026-01-01T00:00:02.000000Z"),
        _event("watch", "ResponseStarted", "2026-01-01T00:00:03.000000Z"),
        _event("watch", "ResponseComplete", "2026-01-01T00:05:00.000000Z"),
        _event("get", "ResponseComplete", "2026-01-01T00:00:09.000000Z"),  # after the window
        "not json",
    ]
    start = 1767225600.0  # 2026-01-01T00:00:00Z
    assert count_audit(lines, start + 1, start + 5) == {"get": 1, "patch": 1, "watch": 1}


def test_audit_counts_by_resource_name_the_subresource() -> None:
    def event(verb: str, resource: str, sub: str | None = None) -> str:
        ref = {"resource": resource, **({"subresource": sub} if sub else {})}
        at = "2026-01-01T00:00:01.000000Z"
        return json.dumps(
            {"verb": verb, "stage": "ResponseComplete", "stageTimestamp": at, "objectRef": ref}
        )

    lines = [
        event("patch", "llmdeployments", "status"),
        event("patch", "deployments"),
        event("patch", "deployments"),
        event("create", "events"),
    ]
    start = 1767225600.0
    assert count_audit(lines, start, start + 5, by_resource=True) == {
        "create events": 1,
        "patch deployments": 2,
        "patch llmdeployments/status": 1,
    }


def _logged(audit_id: str, stage: str, verb: str, code: int | None, **ref: str) -> str:
    event: dict[str, Any] = {
        "auditID": audit_id,
        "stage": stage,
        "verb": verb,
        "user": {"username": "forescale-operator"},
        "requestURI": f"/uri/{audit_id}",
        "objectRef": ref or None,
    }
    if code is not None:
        event["responseStatus"] = {"code": code}
    return json.dumps(event)


def test_requests_are_recorded_once_with_their_last_status() -> None:
    lines = [
        # A watch: logged when it starts and again when it ends.
        _logged("w", "ResponseStarted", "watch", 200, resource="pods"),
        _logged("w", "ResponseComplete", "watch", 200, resource="pods"),
        # A refused request: only its completion.
        _logged("r", "ResponseComplete", "create", 403, resource="leases",
                apiGroup="coordination.k8s.io", namespace="forescale-system"),
        _logged("s", "ResponseComplete", "patch", 200, resource="llmdeployments",
                subresource="status", apiGroup="forescale.io", namespace="a", name="x"),
        _logged("d", "ResponseComplete", "get", 200),  # discovery: no objectRef
        _logged("q", "RequestReceived", "get", None, resource="pods"),  # not a response
        "not json",
    ]  # fmt: skip
    assert audited_requests(lines) == [
        AuditedRequest("forescale-operator", "watch", "", "pods", "", "", 200, "/uri/w"),
        AuditedRequest(
            "forescale-operator", "create", "coordination.k8s.io", "leases",
            "forescale-system", "", 403, "/uri/r",
        ),
        AuditedRequest(
            "forescale-operator", "patch", "forescale.io", "llmdeployments/status", "a", "x",
            200, "/uri/s",
        ),
        AuditedRequest("forescale-operator", "get", "", "", "", "", 200, "/uri/d"),
    ]  # fmt: skip


def test_audit_lines_read_the_rotated_backup_first(tmp_path: Path) -> None:
    (tmp_path / "audit.log").write_text("new\n")
    (tmp_path / "audit-2026-01-01T00-00-00.000.log").write_text("old\n")
    assert list(audit_lines(tmp_path / "audit.log")) == ["old\n", "new\n"]
