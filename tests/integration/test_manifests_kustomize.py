"""The kustomize bases build with the real kubectl, and manifests/default installs into a
real API server: objects admitted (Pod Security "restricted" included), the operator's
ServiceAccount holds exactly the permissions it needs, the aggregated roles reach ``edit``.

The ServiceMonitor and the PrometheusRule are applied too, against prometheus-operator's
own CRDs as the pinned release ships them, and the Argo CD base against Argo CD's
Application and AppProject CRDs (:mod:`tests.integration.upstream_crds`); the
LLMDeployment CRD comes from the session's ``llmd_crd`` fixture, from the same files.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from forescale.handlers.cli import shard_lease_problem
from forescale.sandbox import binaries, upstream
from forescale.sandbox.pytest_plugin import Kubectl
from tests.polling import eventually
from tests.unit.manifests.manifest_support import MANIFESTS, REPO

from .throttling_support import flow_schema_of, flow_schema_uid
from .upstream_crds import serving

BASES = [
    "crd",
    "rbac",
    "flowcontrol",
    "manager",
    "prometheus",
    "grafana",
    "default",
    "argocd",
    "shards",
]
OPERATOR_SA = "system:serviceaccount:forescale-system:forescale-operator"


def _kubectl_binary() -> Path:
    try:
        return binaries.find("kubectl")
    except binaries.BinaryNotFoundError as error:
        pytest.fail(f"kubectl is missing (run `make binaries`): {error}")


def kustomize(base: str | Path) -> list[dict[str, Any]]:
    """``kubectl kustomize manifests/<base>`` (or of a directory), parsed."""
    result = subprocess.run(
        [str(_kubectl_binary()), "kustomize", str(MANIFESTS / base)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"kustomize {base} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _names(objects: list[dict[str, Any]]) -> set[str]:
    return {f"{o['kind']}/{o['metadata']['name']}" for o in objects}


@pytest.mark.parametrize("base", BASES)
def test_every_base_builds(base: str) -> None:
    objects = kustomize(base)
    assert objects, f"manifests/{base} renders nothing"
    for obj in objects:
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]


def test_default_is_the_union_of_its_bases() -> None:
    default = _names(kustomize("default"))
    parts: set[str] = set()
    for base in ("crd", "rbac", "flowcontrol", "manager", "prometheus", "grafana"):
        parts |= _names(kustomize(base))
    assert default == parts
    assert {
        "CustomResourceDefinition/llmdeployments.forescale.io",
        "ClusterRole/forescale-operator",
        "Deployment/forescale-operator",
        "ServiceMonitor/forescale-operator",
        "PrometheusRule/forescale",
        "ConfigMap/forescale-grafana-dashboard",
        "Role/forescale-leader-election",
        "FlowSchema/forescale-leader-election",
    } <= default


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_shards_split_the_operator_by_shard_and_lease() -> None:
    """``manifests/shards`` (docs/operations.md, "Sharding"): default's objects plus a
    second operator; each shard has its own ``--shard``, a Lease named after it that
    ``forescale run`` accepts (``shard_lease_problem``) and the Role lets it write, and
    pods no other shard's Deployment, PodDisruptionBudget or spread constraint selects; one
    Service and ServiceMonitor reach every shard."""
    objects = kustomize("shards")
    assert _names(objects) == _names(kustomize("default")) | {
        "Deployment/forescale-operator-b",
        "PodDisruptionBudget/forescale-operator-b",
    }
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    leases = set()
    templates = {}
    for name, deployment in deployments.items():
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        (shard,) = [a.removeprefix("--shard=") for a in args if a.startswith("--shard=")]
        (lease,) = [a.removeprefix("--leader-elect=") for a in args if "--leader-elect=" in a]
        assert shard_lease_problem(shard, lease) is None, (name, shard, lease)
        leases.add(lease)
        templates[name] = deployment["spec"]["template"]["metadata"]["labels"]
    assert len(leases) == len(deployments) == 2, leases
    (role,) = [o for o in objects if o["kind"] == "Role" and "leader" in o["metadata"]["name"]]
    named = {n for rule in role["rules"] for n in rule.get("resourceNames", [])}
    assert {lease.split("/", 1)[1] for lease in leases} == named
    for kind in ("Deployment", "PodDisruptionBudget"):
        for obj in (o for o in objects if o["kind"] == kind):
            picked = {
                n for n, labels in templates.items() if _matches(obj["spec"]["selector"], labels)
            }
            assert picked == {obj["metadata"]["name"]}, (kind, obj["metadata"]["name"], picked)
    for name, deployment in deployments.items():
        # Each shard spreads its own replicas over nodes.
        (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        picked = {n for n, labels in templates.items() if _matches(spread["labelSelector"], labels)}
        assert picked == {name}, (name, picked)
    for kind in ("Service", "ServiceMonitor"):
        (obj,) = [o for o in objects if o["kind"] == kind]
        selector = obj["spec"]["selector"]
        selector = selector if "matchLabels" in selector else {"matchLabels": selector}
        assert all(_matches(selector, labels) for labels in templates.values()), kind


def test_the_crd_is_served_unchanged_from_crds() -> None:
    rendered = {o["metadata"]["name"]: o for o in kustomize("crd")}
    generated = yaml.safe_load((REPO / "crds" / "forescale.io_llmdeployments.yaml").read_text())
    crd = rendered["llmdeployments.forescale.io"]
    assert crd["spec"] == generated["spec"]


def test_argocd_config_map_holds_the_health_check() -> None:
    objects = {f"{o['kind']}/{o['metadata']['name']}": o for o in kustomize("argocd")}
    cm = objects["ConfigMap/argocd-cm"]
    assert cm["metadata"]["namespace"] == "argocd"
    script = cm["data"]["resource.customizations.health.forescale.io_LLMDeployment"]
    assert script == (MANIFESTS / "argocd" / "health.lua").read_text()
    apps = {o["spec"]["source"]["path"] for o in objects.values() if o["kind"] == "Application"}
    assert "manifests/default" in apps


# --- installing manifests/default into the sandbox API server -----------------------------


def _installable(base: str = "default") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(objects to apply, objects left out): the CRD comes from the fixture."""
    keep, left = [], []
    for obj in kustomize(base):
        (left if obj["kind"] == "CustomResourceDefinition" else keep).append(obj)
    return keep, left


def _monitoring_crds() -> list[dict[str, Any]]:
    return [upstream.monitoring_crd(kind) for kind in ("ServiceMonitor", "PrometheusRule")]


def _cleanup(kubectl: Kubectl, objects: list[dict[str, Any]]) -> None:
    """Remove what the test installed, except the ClusterRole the sandbox itself binds."""
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in {"ClusterRole", "Namespace"} and name in {"forescale-operator"}:
            continue
        if "namespace" in obj["metadata"] and kind != "Namespace":
            continue  # deleted with the namespace
        kubectl("delete", kind.lower(), name, "--ignore-not-found", "--wait=false")
    kubectl("delete", "namespace", "forescale-system", "--ignore-not-found", "--timeout=90s")


@contextlib.contextmanager
def default_installed(kubectl: Kubectl, base: str = "default") -> Iterator[list[dict[str, Any]]]:
    """manifests/default (or another composition, ``base``) applied as the README applies
    it (server-side, schemas strict, prometheus-operator's CRDs served), LLMDeployment CRD
    aside; removed on the way out."""
    objects, _ = _installable(base)
    stream = yaml.safe_dump_all(objects)
    with serving(kubectl, _monitoring_crds()):
        # kubectl's own field manager, as the README's `kubectl apply --server-side`: a
        # re-apply of the install (a runbook step) then owns the same fields.
        result = kubectl("apply", "--server-side", "--validate=strict", "-f", "-",
                         input=stream)  # fmt: skip
        try:
            assert result.returncode == 0, result.stderr
            yield objects
        finally:
            _cleanup(kubectl, objects)


@pytest.fixture
def installed(kubectl: Kubectl, llmd_crd: list[Path]) -> Iterator[list[dict[str, Any]]]:
    with default_installed(kubectl) as objects:
        yield objects


def _review(kubectl: Kubectl, verb: str, group: str, resource: str, namespace: str = "") -> bool:
    name, _, subresource = resource.partition("/")
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": OPERATOR_SA,
            "groups": ["system:serviceaccounts", "system:serviceaccounts:forescale-system"],
            "resourceAttributes": {
                "namespace": namespace, "verb": verb, "group": group,
                "resource": name, "subresource": subresource,
            },
        },
    }  # fmt: skip
    out = kubectl.ok("create", "-o", "json", "-f", "-", input=json.dumps(review))
    allowed: bool = json.loads(out)["status"].get("allowed", False)
    return allowed


@pytest.mark.integration
def test_only_the_crd_is_left_out_and_the_monitoring_objects_are_in() -> None:
    keep, left = _installable()
    assert _names(left) == {"CustomResourceDefinition/llmdeployments.forescale.io"}
    assert {"ServiceMonitor", "PrometheusRule"} <= {o["kind"] for o in keep}


def _dry_run(kubectl: Kubectl, objects: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict",
        "-f", "-", input=yaml.safe_dump_all(objects),
    )  # fmt: skip


@pytest.mark.integration
def test_upstream_crds_refuse_what_their_schemas_do_not_have(
    kubectl: Kubectl, namespace: str
) -> None:
    """The CRDs in force are the real ones, not structural stand-ins that admit anything:
    a misspelled field of a ServiceMonitor and a wrong type in an Application are refused
    (so the admissions in the other tests say something)."""
    monitor = next(o for o in kustomize("manager") if o["kind"] == "ServiceMonitor")
    monitor["metadata"]["namespace"] = namespace
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    application = next(o for o in kustomize("argocd") if o["kind"] == "Application")
    application["metadata"]["namespace"] = namespace
    application["spec"]["syncPolicy"]["automated"]["prune"] = "yes"
    with serving(kubectl, [*_monitoring_crds(), upstream.argo_cd_crd("Application")]):
        refused = _dry_run(kubectl, [monitor])
        assert refused.returncode != 0 and "intervall" in refused.stderr, refused.stderr
        refused = _dry_run(kubectl, [application])
        assert refused.returncode != 0 and "prune" in refused.stderr, refused.stderr


@pytest.mark.integration
def test_the_argocd_base_is_admitted_by_argo_cds_crds(kubectl: Kubectl) -> None:
    """What `kubectl apply -n argocd -k manifests/argocd` sends (operations.md): the two
    Applications and the health check's argocd-cm key, against Argo CD's own CRDs."""
    objects = kustomize("argocd")
    assert {o["kind"] for o in objects} == {"Application", "ConfigMap"}
    created = kubectl("create", "namespace", "argocd").returncode == 0
    try:
        crds = [upstream.argo_cd_crd("Application"), upstream.argo_cd_crd("AppProject")]
        with serving(kubectl, crds):
            for obj in objects:
                obj["metadata"].setdefault("namespace", "argocd")
            result = _dry_run(kubectl, objects)
            assert result.returncode == 0, result.stderr
    finally:
        if created:
            kubectl("delete", "namespace", "argocd", "--wait=false")


@pytest.mark.integration
def test_default_installs_and_the_operator_pods_pass_pod_security(
    kubectl: Kubectl, installed: list[dict[str, Any]]
) -> None:
    for obj in installed:
        kind, meta = obj["kind"], obj["metadata"]
        where = ["-n", meta["namespace"]] if "namespace" in meta else []
        kubectl.ok("get", kind.lower(), meta["name"], *where)
    deployment = json.loads(
        kubectl.ok(
            "get", "deployment", "forescale-operator", "-n", "forescale-system", "-o", "json"
        )
    )
    assert deployment["spec"]["replicas"] == 2
    # The ReplicaSet controller creates the pods only if the namespace's "restricted"
    # Pod Security level admits them.
    selector = "app.kubernetes.io/name=forescale,app.kubernetes.io/component=operator"
    deadline = time.monotonic() + 90
    while True:
        pods = json.loads(
            kubectl.ok("get", "pods", "-n", "forescale-system", "-l", selector, "-o", "json")
        )["items"]
        if len(pods) == 2:
            break
        if time.monotonic() > deadline:
            events = kubectl.ok("get", "events", "-n", "forescale-system")
            pytest.fail(f"operator pods were not created:\n{events}")
        time.sleep(1)
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["spec"]["serviceAccountName"] == "forescale-operator"
    # ... and the level is really enforced: a pod without the hardening is refused.
    plain = kubectl("run", "plain", "-n", "forescale-system", "--image=busybox", "--dry-run=server")
    assert plain.returncode != 0
    assert "violates PodSecurity" in plain.stderr


@pytest.mark.integration
def test_shards_install_and_each_deployment_runs_only_its_shard_s_pods(
    kubectl: Kubectl, llmd_crd: list[Path]
) -> None:
    """``kubectl apply --server-side -k manifests/shards`` as docs/operations.md says: every
    object is admitted, and each shard's ReplicaSet creates two pods carrying its shard."""
    with default_installed(kubectl, "shards"):
        selector = "app.kubernetes.io/name=forescale,app.kubernetes.io/component=operator"

        def pods_by_shard() -> dict[str, list[str]] | None:
            listed = kubectl.ok("get", "pods", "-n", "forescale-system", "-l", selector,
                                "-o", "json")  # fmt: skip
            found: dict[str, list[str]] = {}
            for pod in json.loads(listed)["items"]:
                shard = pod["metadata"]["labels"].get("forescale.io/shard", "")
                (owner,) = pod["metadata"]["ownerReferences"]
                found.setdefault(shard, []).append(owner["name"])
            return found if sum(len(v) for v in found.values()) == 4 else None

        found = eventually(pods_by_shard, 90, "two operator pods per shard")
        assert set(found) == {"a", "b"}, found
        for shard, owners in found.items():
            prefix = "forescale-operator-b-" if shard == "b" else "forescale-operator-"
            assert len(owners) == 2, found
            assert all(o.startswith(prefix) and (shard == "b") == ("-b-" in o) for o in owners)


@pytest.mark.integration
def test_the_operator_service_account_gets_its_role_and_no_more(
    kubectl: Kubectl, installed: list[dict[str, Any]]
) -> None:
    assert _review(kubectl, "patch", "forescale.io", "llmdeployments/status", "ml")
    assert _review(kubectl, "create", "apps", "deployments", "ml")
    assert _review(kubectl, "create", "coordination.k8s.io", "leases", "forescale-system")
    assert not _review(kubectl, "create", "coordination.k8s.io", "leases", "ml")
    assert not _review(kubectl, "get", "", "secrets", "ml")
    assert not _review(kubectl, "update", "apps", "deployments", "ml")
    assert _review(kubectl, "create", "", "events", "ml")
    assert not _review(kubectl, "delete", "forescale.io", "llmdeployments", "ml")
    assert not _review(kubectl, "list", "", "secrets", "ml")
    assert not _review(kubectl, "create", "", "pods", "ml")


@pytest.mark.integration
def test_namespace_editors_may_manage_llmdeployments(
    kubectl: Kubectl, installed: list[dict[str, Any]]
) -> None:
    """The aggregation controller folds forescale's rules into the built-in roles."""
    deadline = time.monotonic() + 60
    while True:
        edit = json.loads(kubectl.ok("get", "clusterrole", "edit", "-o", "json"))
        view = json.loads(kubectl.ok("get", "clusterrole", "view", "-o", "json"))
        edit_groups = {g for rule in edit.get("rules", []) for g in rule.get("apiGroups", [])}
        view_groups = {g for rule in view.get("rules", []) for g in rule.get("apiGroups", [])}
        if "forescale.io" in edit_groups and "forescale.io" in view_groups:
            break
        if time.monotonic() > deadline:
            pytest.fail("forescale.io rules never reached the edit/view ClusterRoles")
        time.sleep(1)
    view_rules = [r for r in view["rules"] if "forescale.io" in r.get("apiGroups", [])]
    assert all("create" not in r["verbs"] for r in view_rules)


@pytest.mark.integration
def test_the_operators_lease_requests_go_to_the_leader_election_priority_level(
    kubectl: Kubectl, installed: list[dict[str, Any]]
) -> None:
    """The shipped FlowSchema refers to a level every API server keeps (``leader-election``,
    a suggested configuration) and the API server really puts the operator's Lease
    requests in it, and only those: its other requests keep ``service-accounts``."""
    shipped = json.loads(kubectl.ok("get", "flowschema", "forescale-leader-election", "-o", "json"))
    dangling = {c["type"]: c["status"] for c in shipped["status"]["conditions"]}["Dangling"]
    assert dangling == "False", shipped["status"]
    level = kubectl.ok("get", "prioritylevelconfiguration", "leader-election", "-o", "name")
    assert (
        level.strip() == "prioritylevelconfiguration.flowcontrol.apiserver.k8s.io/leader-election"
    )
    as_operator = [
        f"--as={OPERATOR_SA}",
        "--as-group=system:serviceaccounts",
        "--as-group=system:serviceaccounts:forescale-system",
    ]
    lease = ("get", "lease", "forescale", "-n", "forescale-system", *as_operator)
    assert flow_schema_of(kubectl, *lease) == shipped["metadata"]["uid"]
    pods = ("get", "pods", "-n", "forescale-system", *as_operator)
    assert flow_schema_of(kubectl, *pods) == flow_schema_uid(kubectl, "service-accounts")
