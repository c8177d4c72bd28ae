"""Namespaced mode: the operator runs with nothing but manifests/rbac/namespaced/role.yaml
bound in the one namespace it serves (no ClusterRole at all), and converges there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forescale.sandbox.pytest_plugin import Kubectl
from tests.conftest import SAMPLES

from .operator_support import apply, condition, eventually, get, running_operator, sample

pytestmark = pytest.mark.integration

ROLE_FILE = SAMPLES.parent / "rbac" / "namespaced" / "role.yaml"
ACCOUNT = "namespaced-operator"


def _namespaced_kubeconfig(
    kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, tmp_path: Path
) -> Path:
    """A ServiceAccount bound only to the namespaced Role, as a kubeconfig."""
    kubectl.ok("create", "serviceaccount", ACCOUNT, "-n", namespace)
    role, binding = yaml.safe_load_all(ROLE_FILE.read_text())
    for obj in (role, binding):
        obj["metadata"]["namespace"] = namespace
    binding["subjects"] = [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}]
    kubectl.ok("apply", "-f", "-", input=yaml.safe_dump_all([role, binding]))
    token = kubectl.ok("create", "token", ACCOUNT, "-n", namespace, "--duration=1h").strip()
    config = yaml.safe_load(operator_kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    path = tmp_path / "namespaced.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_operator_converges_with_only_a_namespaced_role(
    kubectl: Kubectl,
    namespace: str,
    operator_kubeconfig: Path,
    llmd_crd: list[Path],
    tmp_path: Path,
) -> None:
    kubeconfig = _namespaced_kubeconfig(kubectl, namespace, operator_kubeconfig, tmp_path)
    who = f"--as=system:serviceaccount:{namespace}:{ACCOUNT}"
    for verb, resource, where in [
        ("create", "deployments.apps", "default"),
        ("get", "secrets", namespace),
        ("list", "nodes", namespace),
    ]:
        answer = kubectl("auth", "can-i", verb, resource, "-n", where, who).stdout.strip()
        assert answer == "no", f"{verb} {resource} in {where}: {answer}"
    manifest = sample(
        "llmdeployment-minimal.yaml",
        podMetadata={"annotations": {"forescale.io/simulated-load-seconds": "1"}},
    )
    with running_operator(kubeconfig, namespace, kubectl):
        apply(kubectl, namespace, manifest)
        eventually(
            lambda: (
                condition(get(kubectl, namespace, "llmd", "qwen-small"), "Ready").get("status")
                == "True"
            ),
            60,
            "Ready with a namespaced Role only",
        )
