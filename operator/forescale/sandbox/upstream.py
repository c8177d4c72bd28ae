"""Files of pinned upstream releases (prometheus-operator, Argo CD, kwok), from the Go proxy.

Why: forescale's manifests and the PodMonitor it creates are custom resources of other
projects, and what admits them in a user's cluster is those projects' CRDs, with their
schemas and CEL rules. A structurally minimal stand-in admits anything, which is friendlier
than the real thing. Both projects publish their release trees as Go modules, so the module
proxy (the one network the build may use) serves the CRDs as released, and ``go mod
download`` checks each zip against the Go checksum database. The versions are pinned in
``hack/versions.env`` with the control plane's; the zips stay in Go's module cache, outside
the repository, so a warm machine reads them without the network.

``python -m forescale.sandbox.upstream`` (run by ``make install``) downloads them.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from forescale.sandbox.binaries import parse_versions_env, versions_file


class UpstreamUnavailableError(RuntimeError):
    """A pinned upstream release could not be read; the message says why and how to fix."""


@dataclass(frozen=True)
class Release:
    """An upstream project's Go module and the versions.env key pinning its version."""

    module: str
    version_key: str

    def version(self) -> str:
        values = parse_versions_env(versions_file().read_text())
        if self.version_key not in values:
            raise UpstreamUnavailableError(f"hack/versions.env pins no {self.version_key}")
        return values[self.version_key]


PROMETHEUS_OPERATOR = Release(
    "github.com/prometheus-operator/prometheus-operator", "PROMETHEUS_OPERATOR_VERSION"
)
ARGO_CD = Release("github.com/argoproj/argo-cd/v3", "ARGO_CD_VERSION")
KWOK = Release("sigs.k8s.io/kwok", "KWOK_VERSION")
"""kwok's own tree: the sandbox's kwok binary is built from it, and its per-pod ``Logs``
CRD (what ``kubectl logs`` of a replica reads) is installed from it."""
KWOK_LOGS_CRD = "kustomize/crd/bases/kwok.x-k8s.io_logs.yaml"

MONITORING_CRDS = {
    "PodMonitor": "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
    "ServiceMonitor": "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
    "PrometheusRule": "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
}
"""prometheus-operator's CRDs of the kinds forescale creates or ships, by path in its tree."""

ARGO_CD_CRDS = {
    "Application": "manifests/crds/application-crd.yaml",
    "AppProject": "manifests/crds/appproject-crd.yaml",
}


@functools.cache
def release_zip(release: Release) -> Path:
    """The module zip of ``release`` in Go's module cache, downloaded if missing."""
    version = release.version()
    target = f"{release.module}@v{version}"
    try:
        result = subprocess.run(
            ["go", "mod", "download", "-json", target],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UpstreamUnavailableError(f"go mod download {target}: {error}") from error
    try:
        answer: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        answer = {}
    zip_path = answer.get("Zip")
    if result.returncode != 0 or not zip_path or not Path(zip_path).is_file():
        reason = answer.get("Error") or result.stderr.strip() or f"exit {result.returncode}"
        raise UpstreamUnavailableError(
            f"cannot download {target} from the Go module proxy: {reason}"
        )
    return Path(zip_path)


def read_text(release: Release, path: str) -> str:
    """One file of the pinned release's tree."""
    name = f"{release.module}@v{release.version()}/{path}"
    with zipfile.ZipFile(release_zip(release)) as archive:
        try:
            return archive.read(name).decode()
        except KeyError as error:
            raise UpstreamUnavailableError(f"{path} is not in {release.module}") from error


def crd(release: Release, path: str) -> dict[str, Any]:
    """A CustomResourceDefinition of the pinned release."""
    document: dict[str, Any] = yaml.safe_load(read_text(release, path))
    if document.get("kind") != "CustomResourceDefinition":
        raise UpstreamUnavailableError(f"{path} of {release.module} is not a CRD")
    return document


def monitoring_crd(kind: str) -> dict[str, Any]:
    """prometheus-operator's CRD of ``kind`` (PodMonitor, ServiceMonitor, PrometheusRule)."""
    return crd(PROMETHEUS_OPERATOR, MONITORING_CRDS[kind])


def argo_cd_crd(kind: str) -> dict[str, Any]:
    """Argo CD's CRD of ``kind`` (Application, AppProject)."""
    return crd(ARGO_CD, ARGO_CD_CRDS[kind])


def kwok_logs_crd() -> dict[str, Any]:
    """kwok's ``Logs`` CRD: per-pod log files, served to ``kubectl logs``."""
    return crd(KWOK, KWOK_LOGS_CRD)


def main() -> int:
    """Download every pinned release (``make install``); exit 1 naming what failed."""
    failed = False
    for release in (PROMETHEUS_OPERATOR, ARGO_CD, KWOK):
        try:
            path = release_zip(release)
        except UpstreamUnavailableError as error:
            print(error, file=sys.stderr)
            failed = True
            continue
        print(f"{release.module}@v{release.version()}: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
