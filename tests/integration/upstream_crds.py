"""Other projects' CRDs, as released, served by the session's API server for one test.

The operator creates PodMonitors and ships a ServiceMonitor, a PrometheusRule and Argo CD
Applications; what admits them in a user's cluster is prometheus-operator's and Argo CD's
own CRDs, schemas and CEL rules included. :mod:`forescale.sandbox.upstream` reads them
from the pinned releases (the Go module proxy's zips); here they are installed for the
length of a test and removed after it, so other tests see a cluster without them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import yaml

from forescale.sandbox.pytest_plugin import Kubectl

from .operator_support import eventually


@contextlib.contextmanager
def serving(kubectl: Kubectl, crds: list[dict[str, Any]]) -> Iterator[None]:
    """Install ``crds`` (server-side: Argo CD's Application CRD is larger than the
    annotation a client-side apply keeps), wait until each is served, remove them after."""
    names = [crd["metadata"]["name"] for crd in crds]
    kubectl.ok(
        "apply", "--server-side", "--force-conflicts", "--field-manager=forescale-tests",
        "-f", "-", input=yaml.safe_dump_all(crds),
    )  # fmt: skip
    try:
        for crd in crds:
            plural, group = crd["spec"]["names"]["plural"], crd["spec"]["group"]
            # Polled rather than `kubectl wait`, which fails instead of waiting while a
            # just-created CRD has no status.conditions yet.
            eventually(
                lambda name=crd["metadata"]["name"]: _established(kubectl, name),
                60,
                f"CRD {crd['metadata']['name']} Established",
            )
            eventually(
                lambda resource=f"{plural}.{group}": kubectl("get", resource, "-A").returncode == 0,
                60,
                f"{plural}.{group} served",
            )
        yield
    finally:
        kubectl("delete", "crd", *names, "--wait=true", "--ignore-not-found")


def _established(kubectl: Kubectl, name: str) -> bool:
    result = kubectl("get", "crd", name, "-o", "json")
    if result.returncode != 0:
        return False
    conditions = json.loads(result.stdout).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
