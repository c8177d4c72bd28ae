"""The Kubernetes control plane as sandbox components: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler, all on 127.0.0.1 with free ports.

Why real binaries rather than a fake API: the operator's correctness depends on things
only the real servers do — CRD structural validation and CEL rules, the scale
subresource, RBAC denials, garbage collection of owned objects, the scheduler leaving
pods Pending when GPUs run out. The flags below are the minimum for that on a laptop:
static tokens instead of client certificates (one file, instantly readable), no cloud
controllers, no leader election, and no endpoint reconciler (the apiserver's loopback
address may not appear in Endpoints, and nothing in-cluster needs to reach it).
"""

from __future__ import annotations

import os
import secrets
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from forescale.sandbox import binaries
from forescale.sandbox.certificates import write_front_proxy, write_pki
from forescale.sandbox.cluster import ApiserverAccess, Cluster
from forescale.sandbox.ports import free_port
from forescale.sandbox.processes import SupervisedProcess, wait_until

ADMIN_USER = "admin"
OPERATOR_USER = "forescale-operator"
OPERATOR_BINDING = "forescale-sandbox-operator"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
SERVICE_CLUSTER_IP = "10.96.0.1"
START_TIMEOUT = 90.0
CONTROLLER_CLIENT_LIMITS = ["--kube-api-qps=100", "--kube-api-burst=100"]
"""Client-side rate limits of the controller manager and scheduler, as Kubernetes' own
scale tests run their control planes (kubemark's master components, clusterloader2 load
tests: ``--kube-api-qps=100 --kube-api-burst=100``). The defaults (controller manager
20/30, scheduler 50/100) are for small clusters: at 1,000 Deployments created at once the
controller manager's clients queued their writes for minutes (docs/scale.md)."""


def profiling_flag() -> str:
    """``--profiling``: off unless ``FORESCALE_SANDBOX_PROFILING=1`` (then
    ``kubectl get --raw /debug/pprof/profile`` reads the API server's CPU profile, which is
    how docs/scale.md found what a fleet's apply waits on)."""
    return f"--profiling={os.environ.get('FORESCALE_SANDBOX_PROFILING') == '1'}".lower()


def _http_ok(url: str, insecure_tls: bool = False) -> bool:
    """GET ``url`` on loopback; True on 2xx. Self-signed health ports need no verification."""
    context = None
    if insecure_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return 200 <= int(response.status) < 300
    except OSError:
        return False


def write_kubeconfig(path: Path, server: str, ca_file: Path, user: str, token: str) -> Path:
    """A kubeconfig with one cluster, one token user and one current context."""
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "forescale-sandbox",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": f"{user}@forescale-sandbox",
                "context": {"cluster": "forescale-sandbox", "user": user},
            }
        ],
        "current-context": f"{user}@forescale-sandbox",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


class _SingleProcess:
    """Shared plumbing for components that are exactly one supervised process."""

    name = "component"

    def __init__(self) -> None:
        self.process: SupervisedProcess | None = None

    def processes(self) -> list[SupervisedProcess]:
        return [self.process] if self.process is not None else []

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _launch(self, cluster: Cluster, argv: list[str]) -> SupervisedProcess:
        self.process = SupervisedProcess(self.name, argv, cluster.logs_dir / f"{self.name}.log")
        self.process.start()
        return self.process


class Etcd(_SingleProcess):
    """A single-member etcd with fsync off: the data dies with the sandbox anyway."""

    name = "etcd"

    def start(self, cluster: Cluster) -> None:
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        data_dir = cluster.workdir / "etcd"
        process = self._launch(
            cluster,
            [
                str(binaries.find("etcd")),
                "--name=sandbox",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=sandbox={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
                "--quota-backend-bytes=2147483648",
            ],
        )
        wait_until(
            lambda: _http_ok(f"{client_url}/health"),
            timeout=START_TIMEOUT,
            what="etcd /health",
            watch=[process],
        )
        cluster.etcd_url = client_url


class KubeApiserver(_SingleProcess):
    """kube-apiserver with TLS, static tokens, Node+RBAC authorization and SA tokens.

    Users (static token file): ``admin`` in system:masters; ``forescale-operator`` with
    no group but system:authenticated, bound only to the operator's ClusterRole so tests
    exercise the real least-privilege RBAC; and the controller-manager and scheduler
    identities, which the apiserver's bootstrap RBAC policy already authorizes.
    """

    name = "kube-apiserver"

    def __init__(self, operator_role_file: Path | None = None) -> None:
        super().__init__()
        self.operator_role_file = operator_role_file

    def start(self, cluster: Cluster) -> None:
        etcd_url = cluster.etcd_url
        if etcd_url is None:
            raise RuntimeError("kube-apiserver needs etcd to start first")
        pki = write_pki(cluster.workdir / "pki", service_cluster_ip=SERVICE_CLUSTER_IP)
        # The aggregation layer (APIServices such as KEDA's external.metrics.k8s.io) needs
        # the apiserver to authenticate itself to the aggregated server as a front proxy.
        front_proxy = write_front_proxy(cluster.workdir / "pki")
        users = {
            ADMIN_USER: "system:masters",
            OPERATOR_USER: "",
            "system:kube-controller-manager": "",
            "system:kube-scheduler": "",
        }
        tokens = {user: secrets.token_hex(24) for user in users}
        token_file = cluster.workdir / "pki" / "tokens.csv"
        # An empty groups column would add a group named "": leave the column out instead.
        token_file.write_text(
            "".join(
                f"{tokens[u]},{u},{u}" + (f',"{groups}"' if groups else "") + "\n"
                for u, groups in users.items()
            )
        )
        token_file.chmod(0o600)
        port = free_port()
        server = f"https://127.0.0.1:{port}"
        process = self._launch(
            cluster,
            [
                str(binaries.find("kube-apiserver")),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--token-auth-file={token_file}",
                "--authorization-mode=Node,RBAC",
                "--anonymous-auth=false",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.service_account_pub}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--endpoint-reconciler-type=none",
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=true",
                profiling_flag(),
                f"--cert-dir={cluster.workdir / 'pki'}",
                f"--requestheader-client-ca-file={front_proxy.ca_cert}",
                f"--requestheader-allowed-names={front_proxy.client_name}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={front_proxy.client_cert}",
                f"--proxy-client-key-file={front_proxy.client_key}",
                "--v=1",
            ],
        )
        kubeconfigs = cluster.workdir / "kubeconfig"
        kubeconfigs.mkdir(exist_ok=True)
        access = ApiserverAccess(
            server=server,
            ca_file=pki.ca_cert,
            admin_token=tokens[ADMIN_USER],
            operator_token=tokens[OPERATOR_USER],
            admin_kubeconfig=write_kubeconfig(
                kubeconfigs / "admin.kubeconfig",
                server,
                pki.ca_cert,
                ADMIN_USER,
                tokens[ADMIN_USER],
            ),
            operator_kubeconfig=write_kubeconfig(
                kubeconfigs / "operator.kubeconfig",
                server,
                pki.ca_cert,
                OPERATOR_USER,
                tokens[OPERATOR_USER],
            ),
            tokens=tokens,
        )
        for user in ("system:kube-controller-manager", "system:kube-scheduler"):
            write_kubeconfig(access.kubeconfig_for(user), server, pki.ca_cert, user, tokens[user])
        cluster.access = access
        cluster.extras["service_account_key"] = str(pki.service_account_key)
        cluster.extras["ca_cert"] = str(pki.ca_cert)
        cluster.extras["ca_key"] = str(pki.ca_key)
        api = cluster.admin_api()
        wait_until(api.ready, timeout=START_TIMEOUT, what="kube-apiserver /readyz", watch=[process])
        self._bind_operator(cluster)

    def restart(self, cluster: Cluster, down_seconds: float = 0.0) -> None:
        """Stop the apiserver and start it again ``down_seconds`` later with the same
        flags, port and credentials, as a crash or a control-plane upgrade does: every
        client's connections and watches break, and kubeconfigs stay valid."""
        old = self.process
        if old is None:
            raise RuntimeError("kube-apiserver was never started")
        old.stop()
        time.sleep(down_seconds)
        process = self._launch(cluster, old.argv)
        wait_until(
            cluster.admin_api().ready,
            timeout=START_TIMEOUT,
            what="kube-apiserver /readyz after a restart",
            watch=[process],
        )

    def _bind_operator(self, cluster: Cluster) -> None:
        """Apply the operator's ClusterRole(s) and bind the operator user to them only."""
        role_file = self.operator_role_file or default_operator_role_file()
        if role_file is None or not role_file.is_file():
            raise FileNotFoundError(
                f"operator RBAC {role_file or 'manifests/rbac/role.yaml'} not found"
            )
        api = cluster.admin_api()
        roles = [obj for obj in api.apply_yaml_file(role_file) if obj.get("kind") == "ClusterRole"]
        for role in roles:
            role_name = role["metadata"]["name"]
            api.apply(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {
                        "name": f"{OPERATOR_BINDING}-{role_name}",
                        "labels": {"app.kubernetes.io/managed-by": "forescale-sandbox"},
                    },
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": role_name,
                    },
                    "subjects": [
                        {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "User",
                            "name": OPERATOR_USER,
                        }
                    ],
                }
            )
        cluster.extras["operator_roles"] = ",".join(r["metadata"]["name"] for r in roles)


def default_operator_role_file() -> Path | None:
    """``manifests/rbac/role.yaml`` of this checkout, if there is one."""
    root = binaries.repo_root()
    return root / "manifests" / "rbac" / "role.yaml" if root else None


class KubeControllerManager(_SingleProcess):
    """Controllers the operator relies on: deployment, replicaset, garbage collector,
    namespace, service account (and its tokens), disruption (PDB status) ...

    Cloud controllers are not part of kube-controller-manager any more (no cloud
    provider is configured); the endpoint controllers are disabled, see below.
    """

    name = "kube-controller-manager"

    def start(self, cluster: Cluster) -> None:
        access = cluster.require_access()
        port = free_port()
        process = self._launch(
            cluster,
            [
                str(binaries.find("kube-controller-manager")),
                f"--kubeconfig={access.kubeconfig_for('system:kube-controller-manager')}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                # Fake pod IPs are loopback addresses (see gpu_nodes), which Endpoints and
                # EndpointSlices reject by validation: their controllers would only loop
                # on errors, so they are off (Services in the sandbox have no endpoints).
                "--controllers=*,-endpoints-controller,-endpointslice-controller,"
                "-endpointslice-mirroring-controller",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={cluster.extras['service_account_key']}",
                f"--root-ca-file={access.ca_file}",
                f"--cluster-signing-cert-file={cluster.extras['ca_cert']}",
                f"--cluster-signing-key-file={cluster.extras['ca_key']}",
                "--allocate-node-cidrs=false",
                *CONTROLLER_CLIENT_LIMITS,
                f"--cert-dir={cluster.workdir / 'kcm-certs'}",
                "--profiling=false",
                "--v=1",
            ],
        )
        wait_until(
            lambda: _http_ok(f"https://127.0.0.1:{port}/healthz", insecure_tls=True),
            timeout=START_TIMEOUT,
            what="kube-controller-manager /healthz",
            watch=[process],
        )


class KubeScheduler(_SingleProcess):
    """The real scheduler: GPU requests are fit against node allocatable, and pods that
    do not fit stay Pending with PodScheduled=False/Unschedulable, as in production."""

    name = "kube-scheduler"

    def start(self, cluster: Cluster) -> None:
        access = cluster.require_access()
        port = free_port()
        process = self._launch(
            cluster,
            [
                str(binaries.find("kube-scheduler")),
                f"--kubeconfig={access.kubeconfig_for('system:kube-scheduler')}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--leader-elect=false",
                *CONTROLLER_CLIENT_LIMITS,
                f"--cert-dir={cluster.workdir / 'scheduler-certs'}",
                "--profiling=false",
                "--v=1",
            ],
        )
        wait_until(
            lambda: _http_ok(f"https://127.0.0.1:{port}/healthz", insecure_tls=True),
            timeout=START_TIMEOUT,
            what="kube-scheduler /healthz",
            watch=[process],
        )


def control_plane(operator_role_file: Path | None = None, scheduling: bool = True) -> list[Any]:
    """The control-plane components in start order.

    ``scheduling=False`` gives just etcd + apiserver: enough for CRD and RBAC tests and
    several seconds faster to start.
    """
    components: list[Any] = [Etcd(), KubeApiserver(operator_role_file)]
    if scheduling:
        components += [KubeControllerManager(), KubeScheduler()]
    return components
