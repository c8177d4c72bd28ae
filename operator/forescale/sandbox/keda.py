"""KEDA in the sandbox: its operator and external metrics server beside the control plane.

Why the real thing: the benchmark's KEDA/HPA peers are models written here, and a reader
first asks whether they behave like the controllers they stand for. In the sandbox a
``ScaledObject`` goes through the same machinery as in a cluster: KEDA's operator turns it
into an HPA and evaluates its Prometheus trigger; KEDA's metrics server serves the value as
``external.metrics.k8s.io`` through the aggregation layer of the real kube-apiserver; and
the HPA controller inside the real kube-controller-manager reads it every sync period and
writes the target's scale subresource.

How it fits a sandbox with no pod network (everything on 127.0.0.1):

* both binaries run as processes with KEDA's own ServiceAccount (``keda-operator`` in
  ``keda``) and KEDA's own RBAC files, read from the module source in the Go module cache
  (the same files give the CRDs), so nothing is fetched from the network at run time;
* one certificate from the sandbox CA serves both ends of the operator <-> metrics server
  mutual TLS and the metrics server's HTTPS, as KEDA's cert rotation would issue it;
* the APIService points at a Service of type ``ExternalName`` (``127.0.0.1``) with the
  metrics server's port: kube-apiserver resolves such a Service to that host and port
  without Endpoints (which reject loopback addresses), and verifies the server with the
  APIService's ``caBundle``, the sandbox CA.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from forescale.sandbox import binaries
from forescale.sandbox.certificates import write_leaf
from forescale.sandbox.cluster import Cluster
from forescale.sandbox.controlplane import write_kubeconfig
from forescale.sandbox.kubeapi import KubeApi
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import ComponentError, SupervisedProcess, wait_until

NAMESPACE = "keda"
SERVICE_ACCOUNT = "keda-operator"
METRICS_SERVICE = "keda-metrics-apiserver"
API_SERVICE = "v1beta1.external.metrics.k8s.io"
MODULE = "github.com/kedacore/keda/v2"
START_TIMEOUT = 120.0
TOKEN_SECONDS = 48 * 3600

#: KEDA's RBAC, as its kustomize bases install it (paths inside the module source).
RBAC_FILES = (
    "config/rbac/role.yaml",
    "config/rbac/role_binding.yaml",
    "config/metrics-server/role.yaml",
    "config/metrics-server/role_binding.yaml",
)


def module_source(version: str) -> Path:
    """KEDA's module source in the Go module cache (filled by ``hack/build-binaries.sh``).

    ``go mod download`` in hack/keda is tried when it is missing: it reads the module cache
    first and only goes to the proxy if the build never ran.
    """
    cache = Path(
        os.environ.get("GOMODCACHE") or _go_env("GOMODCACHE") or Path.home() / "go/pkg/mod"
    )
    source = cache / f"{MODULE}@v{version}"
    if not (source / "config" / "crd" / "bases").is_dir():
        root = binaries.repo_root()
        if root is not None and shutil.which("go"):
            subprocess.run(
                ["go", "mod", "download", f"{MODULE}@v{version}"],
                cwd=root / "hack" / "keda",
                capture_output=True,
                timeout=300,
                check=False,
            )
    if not (source / "config" / "crd" / "bases").is_dir():
        raise ComponentError(
            f"KEDA {version} module source not found at {source}; run "
            "`hack/build-binaries.sh keda` (it downloads and builds KEDA)"
        )
    return source


def _go_env(key: str) -> str | None:
    if not shutil.which("go"):
        return None
    result = subprocess.run(
        ["go", "env", key], capture_output=True, text=True, timeout=30, check=False
    )
    return result.stdout.strip() or None


def crd_files(source: Path) -> list[Path]:
    """KEDA's CRDs (ScaledObject, ScaledJob, TriggerAuthentication, ...)."""
    return sorted((source / "config" / "crd" / "bases").glob("*.yaml"))


def service_account_token(api: KubeApi, namespace: str, name: str, seconds: int) -> str:
    """A bound token for a ServiceAccount (TokenRequest), as the kubelet would mount."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    _, text = api.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        json.dumps(body).encode(),
    )
    token: str = json.loads(text)["status"]["token"]
    return token


def api_service_objects(port: int, ca_bundle: bytes) -> list[dict[str, Any]]:
    """The Service and APIService that route external.metrics.k8s.io to 127.0.0.1:port."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": METRICS_SERVICE, "namespace": NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": API_SERVICE},
            "spec": {
                "service": {"name": METRICS_SERVICE, "namespace": NAMESPACE, "port": port},
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "caBundle": base64.b64encode(ca_bundle).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


def _get_ok(url: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return 200 <= int(response.status) < 300
    except OSError:
        return False


class Keda:
    """Sandbox component: KEDA's operator and metrics server, registered as the
    external metrics API (see the module docstring). Start after the control plane."""

    name = "keda"

    def __init__(self, version: str | None = None, log_level: str = "info") -> None:
        self.version = version
        self.log_level = log_level
        self.operator: SupervisedProcess | None = None
        self.adapter: SupervisedProcess | None = None
        self.source: Path | None = None

    def processes(self) -> list[SupervisedProcess]:
        return [p for p in (self.operator, self.adapter) if p is not None]

    def stop(self) -> None:
        for process in reversed(self.processes()):
            process.stop(timeout=10)

    def start(self, cluster: Cluster) -> None:
        version = self.version or binaries.versions().keda
        if not version:
            raise ComponentError("no KEDA_VERSION in hack/versions.env")
        operator_bin = binaries.find("keda-operator")
        adapter_bin = binaries.find("keda-adapter")
        self.source = source = module_source(version)
        access = cluster.require_access()
        api = cluster.admin_api()
        for path in crd_files(source):
            api.apply_yaml_file(path)
        api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        api.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE},
            }
        )
        files = [arg for path in RBAC_FILES for arg in ("-f", str(source / path))]
        cluster.kubectl("apply", "--server-side", "--force-conflicts", *files)

        home = cluster.workdir / "keda"
        certs = home / "certs"
        certs.mkdir(parents=True, exist_ok=True)
        ca_cert = Path(cluster.extras["ca_cert"])
        shutil.copyfile(ca_cert, certs / "ca.crt")
        write_leaf(
            certs,
            "tls",
            ca_cert,
            Path(cluster.extras["ca_key"]),
            "keda",
            dns_names=[
                "localhost",
                f"keda-operator.{NAMESPACE}.svc",
                f"{METRICS_SERVICE}.{NAMESPACE}.svc",
                f"{METRICS_SERVICE}.{NAMESPACE}.svc.cluster.local",
            ],
            ip_addresses=["127.0.0.1"],
            server=True,
            client=True,
        )
        token = service_account_token(api, NAMESPACE, SERVICE_ACCOUNT, TOKEN_SECONDS)
        kubeconfig = write_kubeconfig(
            home / "keda.kubeconfig", access.server, access.ca_file, SERVICE_ACCOUNT, token
        )
        env = {
            "KUBECONFIG": str(kubeconfig),
            "WATCH_NAMESPACE": "",
            "POD_NAMESPACE": NAMESPACE,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE,
        }
        grpc_port, probe_port, metrics_port, serving_port = (free_port() for _ in range(4))
        self.operator = SupervisedProcess(
            "keda-operator",
            [
                str(operator_bin),
                "--leader-elect=false",
                f"--metrics-bind-address=127.0.0.1:{metrics_port}",
                f"--health-probe-bind-address=127.0.0.1:{probe_port}",
                f"--metrics-service-bind-address=127.0.0.1:{grpc_port}",
                f"--cert-dir={certs}",
                f"--ca-dir={certs}",
                "--enable-cert-rotation=false",
                "--enable-webhook-patching=false",
                "--enable-apiservice-patching=false",
                f"--zap-log-level={self.log_level}",
                "--zap-encoder=console",
            ],
            cluster.logs_dir / "keda-operator.log",
            env=env,
        )
        self.operator.start()
        wait_until(
            lambda: _get_ok(f"http://127.0.0.1:{probe_port}/readyz"),
            timeout=START_TIMEOUT,
            what="keda-operator /readyz",
            watch=[self.operator],
        )
        self.adapter = SupervisedProcess(
            "keda-adapter",
            [
                str(adapter_bin),
                "--bind-address=127.0.0.1",
                f"--secure-port={serving_port}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'tls.crt'}",
                f"--tls-private-key-file={certs / 'tls.key'}",
                f"--lister-kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--metrics-service-address=127.0.0.1:{grpc_port}",
                f"--zap-log-level={self.log_level}",
                "--zap-encoder=console",
            ],
            cluster.logs_dir / "keda-adapter.log",
            env=env,
        )
        self.adapter.start()
        wait_until(
            lambda: _get_ok(f"https://127.0.0.1:{serving_port}/readyz"),
            timeout=START_TIMEOUT,
            what="keda-adapter /readyz",
            watch=[self.operator, self.adapter],
        )
        manifest = "\n---\n".join(
            json.dumps(obj) for obj in api_service_objects(serving_port, ca_cert.read_bytes())
        )
        cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-", input_text=manifest
        )
        wait_until(
            lambda: self.available(api),
            timeout=START_TIMEOUT,
            what=f"APIService {API_SERVICE} Available",
            watch=[self.operator, self.adapter],
            interval=0.5,
        )
        cluster.extras["keda_version"] = version
        cluster.extras["keda_metrics_port"] = serving_port

    @staticmethod
    def available(api: KubeApi) -> bool:
        """The aggregator marks the APIService Available (it reached the metrics server)."""
        found = api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{API_SERVICE}")
        conditions = found.get("status", {}).get("conditions", []) or []
        return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)
