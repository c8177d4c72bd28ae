"""The operator's RBAC grants, checked against what the API server recorded it doing.

test_operator_rbac.py asks the authorizer about hand-written lists, and the other
integration tests run the operator bound to exactly these roles, so a *missing* grant
fails them; nothing there notices a grant that no code uses, and manifests/rbac/role.yaml
promises there is none. Here the real operator (``forescale run`` in its own process, as
the ``forescale-operator`` user bound to manifests/rbac/role.yaml and
leader_election_role.yaml) runs against an API server that audits that user's requests,
through a scenario that takes every path needing a grant. Then, from the audit log: no
request was refused, every request is within the grants read from the YAML files, and
every grant was used at least once.

The control plane is the test's own, etcd and kube-apiserver only (nothing here needs a
pod to run: no controller manager, scheduler or kwok), so the log holds this scenario
alone and the session cluster of the other tests is left as it is.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from forescale.api import identity
from forescale.handlers.reconciler import COALESCE_SECONDS
from forescale.sandbox import upstream
from forescale.sandbox.audit import (
    AuditedApiserver,
    AuditedRequest,
    audited_control_plane,
    audited_requests,
)
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.controlplane import OPERATOR_USER
from forescale.sandbox.demo import install_crds
from forescale.sandbox.kubeapi import ApiError, KubeApi
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import ComponentError, SupervisedProcess, wait_until
from forescale.sandbox.pytest_plugin import started
from tests.conftest import REPO

from .operator_support import sample

pytestmark = pytest.mark.integration

RBAC = REPO / "manifests" / "rbac"
ROLE_FILES = (RBAC / "role.yaml", RBAC / "leader_election_role.yaml")
"""The roles checked; the sandbox's API server binds the operator user to the ClusterRole
of the first, and :func:`_prepare` to the Role of the second."""
SHIPPED_DEPLOYMENT = REPO / "manifests" / "manager" / "deployment.yaml"
NAMESPACE = "audit"
LISTED_NAMESPACE = "audit-listed"
"""Served by name in the second run (``--namespace``), which is what makes kopf list and
watch namespaces: serving every namespace, it needs no namespace discovery."""
LLMDS = f"/apis/{identity.API_VERSION}/namespaces/{NAMESPACE}/{identity.PLURAL}"
OLD_FINALIZER = kopf.OperatorSettings().persistence.finalizer
"""kopf's default finalizer, which forescale < 0.2 (kopf timers) put on every object."""
STEP_SECONDS = 45.0
DISCOVERY_PATHS = ("/api", "/apis", "/version", "/openapi")
"""Non-resource URLs the operator may read: discovery, which the bootstrap
``system:discovery`` ClusterRole allows every authenticated user; no operator role
names a non-resource URL, so these are outside the grants checked here."""

Requests = Callable[[], list[AuditedRequest]]


# -- the grants and what a request needs ------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One (verb, group, resource) a role of manifests/rbac grants, and where."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    """The Role's namespace; None for a ClusterRole (bound cluster-wide)."""
    names: frozenset[str]
    """``resourceNames``; empty: any object."""
    source: str

    def allows(self, verb: str, request: AuditedRequest) -> bool:
        """Whether RBAC lets ``request`` do ``verb`` through this grant.

        A ``create`` POSTed to a collection carries no name for the authorizer (which is
        why leader_election_role.yaml grants ``create`` apart from its ``resourceNames``);
        the ``create`` a server-side apply needs does carry the object's name."""
        name = "" if request.verb == "create" else request.name
        return (
            (verb, request.group, request.resource) == (self.verb, self.group, self.resource)
            and self.namespace in (None, request.namespace)
            and (not self.names or name in self.names)
        )

    def __str__(self) -> str:
        names = f" named {sorted(self.names)}" if self.names else ""
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.group or 'core'}/{self.resource}{names}{where} ({self.source})"


def read_grants(paths: tuple[Path, ...] = ROLE_FILES) -> list[Grant]:
    """Every (verb, group, resource) of the ClusterRoles and Roles in ``paths``."""
    grants = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("ClusterRole", "Role"):
                continue
            meta = doc["metadata"]
            namespace = meta.get("namespace") if doc["kind"] == "Role" else None
            source = f"{doc['kind']} {meta['name']}, {path.relative_to(REPO)}"
            for rule in doc.get("rules") or []:
                names = frozenset(rule.get("resourceNames") or ())
                grants += [
                    Grant(verb, group, resource, namespace, names, source)
                    for verb in rule["verbs"]
                    for group in rule["apiGroups"]
                    for resource in rule["resources"]
                ]
    return grants


def needed_verbs(request: AuditedRequest) -> list[str]:
    """The RBAC verbs a request needed: its own, and ``create`` when a patch or an update
    created the object (201). A server-side apply of a new child is audited as ``patch``
    only, but the API server authorizes ``create`` for it too."""
    if request.verb in ("patch", "update") and request.code == 201:
        return [request.verb, "create"]
    return [request.verb]


def show(request: AuditedRequest) -> str:
    """The request in one line (its path without the query: retries of a watch differ
    only there)."""
    path = request.uri.split("?", 1)[0]
    if not request.resource:
        return f"{request.verb} {path} -> {request.code}"
    what = f"{request.group or 'core'}/{request.resource}"
    return f"{request.verb} {what} -> {request.code} ({path})"


def listing(lines: list[str]) -> str:
    return "\n  ".join(["", *dict.fromkeys(lines)])


# -- the scenario -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """What the scenario left: the operator's requests, and why a step failed, if one did."""

    requests: list[AuditedRequest] = field(repr=False)
    incomplete: str | None


class Operator:
    """``forescale run ARGS`` as the operator user, every listener on 127.0.0.1."""

    def __init__(self, cluster: Cluster, name: str, args: list[str]) -> None:
        self.process = SupervisedProcess(
            name,
            [
                sys.executable, "-m", "forescale", "run", *args,
                f"--liveness-endpoint=http://127.0.0.1:{free_port()}/healthz",
                "--metrics-host=127.0.0.1",
                f"--metrics-port={free_port()}",
            ],
            cluster.logs_dir / f"{name}.log",
            env={
                "KUBECONFIG": str(cluster.require_access().operator_kubeconfig),
                "PYTHONUNBUFFERED": "1",
            },
        )  # fmt: skip

    def __enter__(self) -> Operator:
        self.process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.process.stop(timeout=20)

    def until(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait for ``predicate``; on a timeout or the operator's death, its log tail."""
        wait_until(predicate, timeout=STEP_SECONDS, what=what, watch=[self.process])


def shipped_args() -> list[str]:
    """``forescale run``'s arguments in manifests/manager/deployment.yaml, without its
    listeners (0.0.0.0 in a pod; :class:`Operator` puts them on loopback)."""
    deployment = yaml.safe_load(SHIPPED_DEPLOYMENT.read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    listeners = ("--liveness-endpoint", "--metrics-host", "--metrics-port")
    return [str(arg) for arg in container["args"] if not str(arg).startswith(listeners)]


def shipped_lease() -> tuple[str, str]:
    """Namespace and name of the Lease the shipped Deployment elects its leader on."""
    (lease,) = [a.split("=", 1)[1] for a in shipped_args() if a.startswith("--leader-elect=")]
    namespace, name = lease.split("/")
    return namespace, name


def _found(api: KubeApi, path: str) -> dict[str, Any]:
    """The object, or {} when it does not exist."""
    try:
        return api.get(path)
    except ApiError as error:
        if error.status == 404:
            return {}
        raise


def _send(api: KubeApi, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    content = "application/merge-patch+json" if method == "PATCH" else "application/json"
    api.request(method, path, json.dumps(body).encode() if body else None, content)


def _prepare(cluster: Cluster) -> KubeApi:
    """The LLMDeployment and PodMonitor APIs, the namespaces, and the Lease's Role as it
    ships, bound to the operator user (the manifest binds the operator's ServiceAccount)."""
    api = cluster.admin_api()
    install_crds(cluster, REPO)
    api.apply(upstream.monitoring_crd("PodMonitor"))
    wait_until(
        lambda: "items" in api.get("/apis/monitoring.coreos.com/v1/podmonitors"),
        timeout=STEP_SECONDS,
        what="the PodMonitor API to be served",
    )
    for namespace in (shipped_lease()[0], NAMESPACE, LISTED_NAMESPACE):
        api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    role, binding = yaml.safe_load_all((RBAC / "leader_election_role.yaml").read_text())
    binding["subjects"] = [
        {"kind": "User", "name": OPERATOR_USER, "apiGroup": "rbac.authorization.k8s.io"}
    ]
    api.apply(role)
    api.apply(binding)
    return api


def audited_llmdeployment() -> dict[str, Any]:
    """An LLMDeployment whose passes need every grant on the way.

    A PVC as the model source (``get persistentvolumeclaims``: its existence is checked),
    a GPU product (``list nodes``: some node must carry it), the fixed policy (its replica
    count changes on request, with ``Scaled`` Events), and kopf's old finalizer, which
    kopf removes (``patch llmdeployments``) since no handler of forescale >= 0.2 needs it.
    """
    manifest = sample("llmdeployment-minimal.yaml")
    manifest["metadata"].update(name="audited", finalizers=[OLD_FINALIZER])
    spec = manifest["spec"]
    spec["model"]["source"] = {"pvc": {"claimName": "model-weights"}}
    spec["resources"] = {"gpuProduct": "NVIDIA-H100-80GB-HBM3"}
    spec["scaling"] = {"policy": "fixed"}
    spec["replicas"] = 1
    return manifest


def _used(requests: Requests, verb: str, resource: str, name: str = "") -> Callable[[], bool]:
    """Whether the operator has sent such a request (to the object ``name``, if given)."""
    return lambda: any(
        (r.verb, r.resource) == (verb, resource) and (not name or r.name == name)
        for r in requests()
    )


def _scaled(api: KubeApi, deployment: str, replicas: int) -> Callable[[], bool]:
    """Whether the Deployment asks for ``replicas`` replicas."""
    return lambda: _found(api, deployment).get("spec", {}).get("replicas") == replicas


def _shipped_configuration(api: KubeApi, operator: Operator, requests: Requests) -> None:
    """All namespaces and leader election, as shipped, through one LLMDeployment's life:
    the Lease taken and renewed, children applied, status, Events, scaling, the old
    finalizer removed; then a pass that finds its LLMDeployment deleted."""
    lease_namespace, lease_name = shipped_lease()
    lease = f"/apis/coordination.k8s.io/v1/namespaces/{lease_namespace}/leases/{lease_name}"
    operator.until(
        lambda: bool((_found(api, lease).get("spec") or {}).get("holderIdentity")),
        "the operator to take the Lease",
    )
    _send(api, "POST", LLMDS, audited_llmdeployment())
    llmd = f"{LLMDS}/audited"
    deployment = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/audited"
    monitor = f"/apis/monitoring.coreos.com/v1/namespaces/{NAMESPACE}/podmonitors/audited"

    def settled() -> bool:
        body = _found(api, llmd)
        meta = body.get("metadata") or {}
        current = (body.get("status") or {}).get("observedGeneration") == meta.get("generation")
        return current and not meta.get("finalizers") and bool(_found(api, monitor))

    operator.until(settled, "children and status written, the old finalizer removed")
    # 1 -> 2 -> 1 -> 2: the third change repeats the first one's Event, which the
    # operator then patches (its count goes to 2) instead of creating another.
    for replicas in (2, 1, 2):
        _send(api, "PATCH", llmd, {"spec": {"replicas": replicas}})
        operator.until(_scaled(api, deployment, replicas), f"the Deployment scaled to {replicas}")

    def repeated() -> bool:
        events = api.get(f"/api/v1/namespaces/{NAMESPACE}/events")["items"]
        return any(e.get("reason") == "Scaled" and e.get("count", 1) >= 2 for e in events)

    operator.until(repeated, "a repeated Scaled Event (patched)")
    operator.until(_used(requests, "update", "leases"), "the Lease renewed")
    _deleted_before_its_pass(api, operator, requests)


def _deleted_before_its_pass(api: KubeApi, operator: Operator, requests: Requests) -> None:
    """``get llmdeployments``: a pass reads its LLMDeployment from the API server when the
    watch no longer holds it, i.e. when it was deleted while the pass waited its turn.

    kopf hands every watch event to the handler in order (it batches none), so the ADDED
    event asks for a pass, which starts ``COALESCE_SECONDS`` later; the DELETED event,
    sent at once, has the watch forget the object before then, and the pass finds it
    gone (404).
    """
    manifest = sample("llmdeployment-minimal.yaml")
    manifest["metadata"]["name"] = "deleted"
    _send(api, "POST", LLMDS, manifest)
    _send(api, "DELETE", f"{LLMDS}/deleted")
    operator.until(
        _used(requests, "get", identity.PLURAL, "deleted"),
        f"the pass of a deleted LLMDeployment to read it (after {COALESCE_SECONDS:g} s)",
    )


def _listed_namespaces(api: KubeApi, operator: Operator, requests: Requests) -> None:
    """Serving namespaces by name: kopf lists and watches namespaces to follow them."""
    operator.until(_used(requests, "watch", "namespaces"), "kopf to watch namespaces")


def _run_scenario(cluster: Cluster, api: KubeApi, apiserver: AuditedApiserver) -> str | None:
    """The operator as shipped, then serving a namespace by name; why a step failed (and
    in which run), or None."""

    def requests() -> list[AuditedRequest]:
        return audited_requests(apiserver.lines())

    runs = [
        ("operator-shipped", shipped_args(), _shipped_configuration),
        ("operator-listed", ["--namespace", LISTED_NAMESPACE], _listed_namespaces),
    ]
    for name, args, steps in runs:
        with Operator(cluster, name, args) as operator:
            try:
                steps(api, operator, requests)
            except (AssertionError, ComponentError, ApiError) as error:
                return f"{name} ({' '.join(args)}): {error}"
    return None


@pytest.fixture(scope="module")
def audit() -> Audit:
    """The scenario, run once on an audited control plane of its own."""
    components, apiserver = audited_control_plane(scheduling=False)
    with started(Cluster(components), "the audited control plane") as cluster:
        incomplete = _run_scenario(cluster, _prepare(cluster), apiserver)
        requests = [r for r in audited_requests(apiserver.lines()) if r.user == OPERATOR_USER]
    return Audit(requests, incomplete)


# -- the checks ---------------------------------------------------------------------------------


def test_the_scenario_took_every_step(audit: Audit) -> None:
    assert audit.incomplete is None, audit.incomplete
    assert audit.requests, "the audit log holds no request of the operator"


def test_no_request_was_refused(audit: Audit) -> None:
    refused = [show(r) for r in audit.requests if r.code == 403]
    assert not refused, f"requests refused (403), a grant is missing:{listing(refused)}"


def test_every_request_is_within_the_grants(audit: Audit) -> None:
    grants = read_grants()
    outside = []
    for request in audit.requests:
        if not request.resource:
            path = request.uri.split("?", 1)[0]
            if not any(path == p or path.startswith(f"{p}/") for p in DISCOVERY_PATHS):
                outside.append(f"{show(request)}: a non-resource URL beyond discovery")
            continue
        missing = [
            v for v in needed_verbs(request) if not any(g.allows(v, request) for g in grants)
        ]
        if missing:
            outside.append(f"{show(request)}: needs {' and '.join(missing)}")
    assert not outside, f"requests beyond the grants of manifests/rbac:{listing(outside)}"


def test_every_grant_is_used(audit: Audit) -> None:
    allowed = [r for r in audit.requests if r.code != 403]
    unused = [
        str(grant)
        for grant in read_grants()
        if not any(grant.allows(verb, r) for r in allowed for verb in needed_verbs(r))
    ]
    stopped = " (the scenario stopped early, see its own test)" if audit.incomplete else ""
    assert not unused, (
        f"granted, but no request of the scenario used it{stopped} (remove the grant, or "
        f"drive the path that needs it here):{listing(unused)}"
    )
