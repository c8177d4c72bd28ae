"""The overlays docs/operations.md tells a user to write do what it says, built by the real
kubectl kustomize on manifests/default.

They are copied into production overlays as they stand. Their JSON patches address the
operator's container by position (``env/0`` is taken to be FORESCALE_PROMETHEUS_URL): an
env list reordered in manifests/manager would make the documented patch set another
variable to the Prometheus URL and leave the operator on the default one, with nothing
failing. The overlays are read from the page itself, so the test follows the doc.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_manifests_kustomize import kustomize
from tests.unit.manifests.manifest_support import MANIFESTS, REPO

pytestmark = pytest.mark.integration

OPERATIONS = REPO / "docs" / "operations.md"
OVERLAY_HEADER = "# my-overlay/kustomization.yaml"
RELEASE = {"release": "kube-prometheus-stack"}
MONITORING = "monitoring.coreos.com/"


def _documented_overlays() -> list[dict[str, Any]]:
    """The page's ``my-overlay/kustomization.yaml`` blocks, in order."""
    blocks = re.findall(r"```yaml\n(.*?)```", OPERATIONS.read_text(), re.DOTALL)
    overlays = [yaml.safe_load(b) for b in blocks if b.startswith(OVERLAY_HEADER)]
    assert len(overlays) == 2, "operations.md: the install overlay and the kube-prometheus one"
    return overlays


def _documented_default(setting: str) -> str:
    """The default the settings table gives for ``setting`` (its last, backquoted cell)."""
    for line in OPERATIONS.read_text().splitlines():
        if line.startswith(f"| {setting} |"):
            found = re.search(r"`([^`]+)` \|$", line)
            assert found, line
            return found.group(1)
    raise AssertionError(f"operations.md has no settings row {setting!r}")


def _build(overlay: dict[str, Any], directory: Path) -> dict[str, dict[str, Any]]:
    """The overlay with its remote base swapped for this checkout's manifests/default."""
    (remote,) = overlay["resources"]
    assert remote.startswith("https://") and remote.split("?")[0].endswith("//manifests/default")
    local = {**overlay, "resources": [os.path.relpath(MANIFESTS / "default", directory)]}
    directory.mkdir()
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(local))
    return _by_name(kustomize(directory))


def _by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


def _operator(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pod = objects["Deployment/forescale-operator"]["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_base_has_the_defaults_the_settings_table_gives() -> None:
    container = _operator(_by_name(kustomize("default")))
    assert container["image"] == _documented_default("operator image")
    prometheus = _env(container)["FORESCALE_PROMETHEUS_URL"]
    assert prometheus == _documented_default("Prometheus URL")


def test_the_install_overlay_sets_the_image_the_prometheus_url_and_the_release_label(
    tmp_path: Path,
) -> None:
    install, _ = _documented_overlays()
    base = _env(_operator(_by_name(kustomize("default"))))
    objects = _build(install, tmp_path / "install")
    container = _operator(objects)
    assert container["image"] == "registry.example.com/forescale/operator:0.1.0"
    env = _env(container)
    assert env["FORESCALE_PROMETHEUS_URL"] == (
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    )
    assert {k: v for k, v in env.items() if k != "FORESCALE_PROMETHEUS_URL"} == {
        k: v for k, v in base.items() if k != "FORESCALE_PROMETHEUS_URL"
    }, "the documented env/0 patch changed another variable"
    for name in ("ServiceMonitor/forescale-operator", "PrometheusRule/forescale"):
        assert objects[name]["metadata"]["labels"].items() >= RELEASE.items(), name


def test_the_kube_prometheus_overlay_labels_every_monitor_and_rule(tmp_path: Path) -> None:
    """'(with the resources and images above)': the second block's patches on the first's
    resources and images. The operator's monitors and rules get the release label, and
    FORESCALE_MONITOR_LABELS gives it to the PodMonitor of every LLMDeployment."""
    install, monitoring = _documented_overlays()
    overlay = {**install, "patches": monitoring["patches"]}
    objects = _build(overlay, tmp_path / "monitoring")
    env = _env(_operator(objects))
    assert env["FORESCALE_MONITOR_LABELS"] == "release=kube-prometheus-stack"
    assert "FORESCALE_PROMETHEUS_URL" in env
    monitored = [o for o in objects.values() if o["apiVersion"].startswith(MONITORING)]
    assert {o["kind"] for o in monitored} == {"ServiceMonitor", "PrometheusRule"}
    for obj in monitored:
        assert obj["metadata"]["labels"].items() >= RELEASE.items(), obj["kind"]
