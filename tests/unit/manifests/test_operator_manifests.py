"""The operator's Deployment, Service, ServiceMonitor and RBAC agree with each other and
with what ``forescale run`` and the alerts expect. Pure file checks (no kubectl)."""

from __future__ import annotations

from typing import Any

import pytest

from forescale.handlers import configuring
from tests.unit.manifests.manifest_support import MANIFESTS, OPERATOR_JOB, REPO, load, load_all


def _by_kind(base: str) -> dict[str, dict[str, Any]]:
    kustomization = load(MANIFESTS / base / "kustomization.yaml")
    objects: dict[str, dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        path = MANIFESTS / base / resource
        if path.is_dir():
            continue
        for doc in load_all(path):
            objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


MANAGER = _by_kind("manager")
RBAC = _by_kind("rbac")
DEPLOYMENT = MANAGER["Deployment/forescale-operator"]
POD = DEPLOYMENT["spec"]["template"]["spec"]
(CONTAINER,) = POD["containers"]


def _flag(name: str) -> str:
    values = [a.split("=", 1)[1] for a in CONTAINER["args"] if a.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} given {len(values)} times"
    return values[0]


def test_every_kustomization_lists_files_that_exist() -> None:
    kustomizations = sorted(MANIFESTS.glob("*/kustomization.yaml"))
    assert len(kustomizations) >= 5, kustomizations  # default and the bases it composes
    for kustomization in kustomizations:
        for resource in load(kustomization).get("resources", []):
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"


def test_default_composes_every_base() -> None:
    resources = load(MANIFESTS / "default" / "kustomization.yaml")["resources"]
    assert resources == [
        "../crd",
        "../rbac",
        "../flowcontrol",
        "../manager",
        "../prometheus",
        "../grafana",
    ]


def test_crd_base_points_at_the_generated_crds_without_copying_them() -> None:
    assert load(MANIFESTS / "crd" / "kustomization.yaml")["resources"] == ["../../crds"]
    crds_kustomization = load(REPO / "crds" / "Kustomization")
    listed = set(crds_kustomization["resources"])
    assert listed == {p.name for p in (REPO / "crds").glob("*.yaml")}
    assert not list((MANIFESTS / "crd").glob("*.yaml")) or all(
        p.name == "kustomization.yaml" for p in (MANIFESTS / "crd").glob("*.yaml")
    )


def test_two_replicas_with_lease_leader_election_and_a_distinct_identity_each() -> None:
    assert DEPLOYMENT["spec"]["replicas"] == 2
    assert "--all-namespaces" in CONTAINER["args"]
    namespace, name = _flag("leader-elect").split("/")
    assert namespace == DEPLOYMENT["metadata"]["namespace"]
    assert float(_flag("renew-deadline")) < float(_flag("lease-duration"))
    role = RBAC["Role/forescale-leader-election"]
    assert role["metadata"]["namespace"] == namespace
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [name],
            "verbs": ["get", "update"],
        }
    ]
    binding = RBAC["RoleBinding/forescale-leader-election"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    env = {e["name"]: e for e in CONTAINER["env"]}
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env[configuring.PROMETHEUS_URL_ENV]["value"].startswith("http")
    assert MANAGER["PodDisruptionBudget/forescale-operator"]["spec"]["minAvailable"] == 1


def test_probes_hit_the_kopf_liveness_endpoint() -> None:
    endpoint = _flag("liveness-endpoint")
    assert endpoint.startswith("http://0.0.0.0:"), "bind all addresses so the kubelet reaches it"
    port = int(endpoint.rsplit(":", 1)[1].split("/", 1)[0])
    path = "/" + endpoint.rsplit(":", 1)[1].split("/", 1)[1]
    ports = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = CONTAINER[probe]["httpGet"]
        assert get["path"] == path
        assert ports[get["port"]] == port


def test_metrics_port_service_and_service_monitor_line_up() -> None:
    assert _flag("metrics-host") == "0.0.0.0"
    port = int(_flag("metrics-port"))
    ports = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
    assert ports["metrics"] == port
    service = MANAGER["Service/forescale-operator-metrics"]
    assert service["spec"]["selector"].items() <= (
        DEPLOYMENT["spec"]["template"]["metadata"]["labels"].items()
    )
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == "metrics"
    monitor = MANAGER["ServiceMonitor/forescale-operator"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service_port["name"]
    relabel = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
    assert relabel["job"] == OPERATOR_JOB
    # The series' own namespace label (the LLMDeployment's) must win over the target's.
    assert endpoint["honorLabels"] is True


def test_runs_non_root_with_a_read_only_root_filesystem_and_limits() -> None:
    assert POD["securityContext"]["runAsNonRoot"] is True
    assert POD["securityContext"]["runAsUser"] > 0
    security = CONTAINER["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert POD["serviceAccountName"] == "forescale-operator"
    mounts = {m["mountPath"] for m in CONTAINER["volumeMounts"]}
    assert "/tmp" in mounts, "Python and kopf need a writable /tmp"
    assert {"cpu", "memory"} <= CONTAINER["resources"]["requests"].keys()
    assert "memory" in CONTAINER["resources"]["limits"]


def test_rbac_binds_the_service_account_to_the_tested_role() -> None:
    role = RBAC["ClusterRole/forescale-operator"]
    binding = RBAC["ClusterRoleBinding/forescale-operator"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (subject,) = binding["subjects"]
    account = RBAC["ServiceAccount/forescale-operator"]
    assert subject["name"] == account["metadata"]["name"] == POD["serviceAccountName"]
    assert subject["namespace"] == account["metadata"]["namespace"]
    assert subject["namespace"] == DEPLOYMENT["metadata"]["namespace"]


def _verbs(rules: list[dict[str, Any]], group: str, resource: str) -> set[str]:
    return {
        verb
        for rule in rules
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize(
    "role",
    [
        RBAC["ClusterRole/forescale-operator"],
        load_all(MANIFESTS / "rbac" / "namespaced" / "role.yaml")[0],
    ],
    ids=["cluster", "namespaced"],
)
def test_rbac_grants_no_secret_read_and_no_unused_verb(role: dict[str, Any]) -> None:
    """Issue 12: no Secret access at all, no update/delete on children, no scale writes."""
    rules = role["rules"]
    assert not _verbs(rules, "", "secrets")
    for group, resource in [
        ("apps", "deployments"),
        ("", "services"),
        ("policy", "poddisruptionbudgets"),
        ("monitoring.coreos.com", "podmonitors"),
    ]:
        assert not _verbs(rules, group, resource) & {"update", "delete", "deletecollection"}
    assert not _verbs(rules, "forescale.io", "llmdeployments/scale")
    assert _verbs(rules, "forescale.io", "llmdeployments/status") == {"patch"}
    assert not _verbs(rules, "kopf.dev", "clusterkopfpeerings")
    assert all("*" not in rule["verbs"] for rule in rules)


def test_the_container_command_parses_as_forescale_run() -> None:
    """Every flag the manifest passes is one ``forescale run`` accepts (no process starts)."""
    from forescale.handlers.cli import run  # noqa: PLC0415

    assert CONTAINER["command"] == ["forescale", "run"]
    context = run.make_context("run", list(CONTAINER["args"]))
    assert context.params["leader_lease"] == _flag("leader-elect")
    assert context.params["all_namespaces"] is True


@pytest.mark.parametrize(
    "base", ["crd", "rbac", "flowcontrol", "manager", "prometheus", "grafana", "argocd"]
)
def test_each_base_has_a_kustomization(base: str) -> None:
    kustomization = load(MANIFESTS / base / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
