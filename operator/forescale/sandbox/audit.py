"""The sandbox API server's audit log of the operator's requests, and reading it back.

Why the audit log: it is what the API server says the operator really sent, not what the
code is supposed to send. Two readers need that record: the scale benchmark counts the
operator's requests per second (``count_audit``), and the RBAC test
(tests/integration/test_operator_rbac_audit.py) checks every request against the grants
of manifests/rbac and every grant against the requests (``audited_requests``). The policy
records only the operator's user, at ``Metadata`` level (no bodies), so the log stays
small next to the controllers' own traffic and holds nothing of the objects' contents.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forescale.sandbox.cluster import Cluster
from forescale.sandbox.controlplane import OPERATOR_USER, KubeApiserver, control_plane
from forescale.sandbox.processes import SupervisedProcess

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata", "users": [OPERATOR_USER]}, {"level": "None"}],
}


class AuditedApiserver(KubeApiserver):
    """The sandbox's kube-apiserver with an audit log of the operator's requests only."""

    def start(self, cluster: Cluster) -> None:
        self.audit_log = cluster.workdir / "audit.log"
        self._policy = cluster.workdir / "audit-policy.json"
        self._policy.write_text(json.dumps(AUDIT_POLICY))
        super().start(cluster)

    def _launch(self, cluster: Cluster, argv: list[str]) -> SupervisedProcess:
        return super()._launch(
            cluster,
            [
                *argv,
                f"--audit-policy-file={self._policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-maxsize=2000",
                "--audit-log-maxbackup=1",
            ],
        )

    def lines(self) -> Iterator[str]:
        """Every line logged so far, rotated backups first (the log backend's default
        ``blocking`` mode writes each event as the request is served, not in batches)."""
        return audit_lines(self.audit_log)


def audited_control_plane(
    operator_role_file: Path | None = None, *, scheduling: bool = True
) -> tuple[list[Any], AuditedApiserver]:
    """:func:`~forescale.sandbox.controlplane.control_plane`, its apiserver audited."""
    apiserver = AuditedApiserver(operator_role_file)
    components = [
        apiserver if isinstance(component, KubeApiserver) else component
        for component in control_plane(operator_role_file, scheduling=scheduling)
    ]
    return components, apiserver


def audit_lines(path: Path) -> Iterator[str]:
    """The lines of an audit log and of its rotated backups (``audit-<time>.log``)."""
    for candidate in sorted(path.parent.glob(path.stem + "*" + path.suffix)):
        with candidate.open() as handle:
            yield from handle


def count_audit(
    lines: Iterable[str], start: float, end: float, *, by_resource: bool = False
) -> dict[str, int]:
    """Requests by verb whose response completed (or a watch started) in [start, end).

    ``lines`` are the API server's JSON audit events; times are Unix seconds. With
    ``by_resource`` the keys are ``verb resource[/subresource]`` (``patch deployments``),
    which says which part of a pass the requests come from.
    """
    counts: Counter[str] = Counter()
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        stage = event.get("stage")
        verb = event.get("verb", "?")
        if stage != "ResponseComplete" and not (stage == "ResponseStarted" and verb == "watch"):
            continue
        if stage == "ResponseComplete" and verb == "watch":
            continue  # counted when it started
        at = _rfc3339(event.get("stageTimestamp", ""))
        if at is None or not start <= at < end:
            continue
        if by_resource:
            ref = event.get("objectRef") or {}
            sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
            counts[f"{verb} {ref.get('resource', '?')}{sub}"] += 1
        else:
            counts[verb] += 1
    return dict(sorted(counts.items()))


def _rfc3339(text: str) -> float | None:
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", text)
    if match is None:
        return None
    whole = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    return whole + float(match.group(2) or 0)


@dataclass(frozen=True)
class AuditedRequest:
    """One request as the audit log recorded it (``Metadata`` level: no bodies)."""

    user: str
    verb: str
    """The authorization verb: ``get list watch create update patch delete``; a list
    with ``watch=true`` is ``watch``."""
    group: str
    """API group, ``""`` for the core group."""
    resource: str
    """``deployments``, ``llmdeployments/status``; ``""`` for a non-resource URL
    (discovery: ``/apis/...`` without a resource)."""
    namespace: str
    name: str
    code: int
    """The response's HTTP status (0 if the log has none, e.g. a watch still open that
    never logged its start)."""
    uri: str


def audited_requests(lines: Iterable[str]) -> list[AuditedRequest]:
    """Every request in the log, once, in the order they were first logged.

    A request is logged once per stage: a watch when its response starts and again when
    it ends; a request refused before it started (403) only when it completes. Records are
    keyed by ``auditID`` and the latest stage's status wins.
    """
    found: dict[str, AuditedRequest] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("stage") not in ("ResponseStarted", "ResponseComplete", "Panic"):
            continue
        ref = event.get("objectRef") or {}
        resource = str(ref.get("resource") or "")
        if resource and ref.get("subresource"):
            resource += f"/{ref['subresource']}"
        found[str(event.get("auditID"))] = AuditedRequest(
            user=str((event.get("user") or {}).get("username", "")),
            verb=str(event.get("verb", "")),
            group=str(ref.get("apiGroup") or ""),
            resource=resource,
            namespace=str(ref.get("namespace") or ""),
            name=str(ref.get("name") or ""),
            code=int((event.get("responseStatus") or {}).get("code") or 0),
            uri=str(event.get("requestURI", "")),
        )
    return list(found.values())
