"""Pinned upstream releases: a missing pin or an unserved version fails naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from forescale.sandbox import upstream


def _pin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    versions = tmp_path / "versions.env"
    versions.write_text(text)
    monkeypatch.setenv("FORESCALE_VERSIONS_FILE", str(versions))
    upstream.release_zip.cache_clear()


def test_a_release_without_a_pin_is_an_error_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _pin(monkeypatch, tmp_path, "ARGO_CD_VERSION=3.5.8\n")
    with pytest.raises(upstream.UpstreamUnavailableError, match="PROMETHEUS_OPERATOR_VERSION"):
        upstream.monitoring_crd("PodMonitor")


def test_a_version_the_proxy_does_not_serve_names_the_module_and_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _pin(monkeypatch, tmp_path, "PROMETHEUS_OPERATOR_VERSION=0.0.0-forescale-absent\n")
    with pytest.raises(upstream.UpstreamUnavailableError) as raised:
        upstream.monitoring_crd("PodMonitor")
    upstream.release_zip.cache_clear()
    message = str(raised.value)
    assert "github.com/prometheus-operator/prometheus-operator@v0.0.0-forescale-absent" in message


def test_the_pinned_releases_hold_the_crds_of_the_kinds_forescale_uses() -> None:
    upstream.release_zip.cache_clear()
    for kind in upstream.MONITORING_CRDS:
        crd = upstream.monitoring_crd(kind)
        assert crd["spec"]["names"]["kind"] == kind
        assert crd["spec"]["group"] == "monitoring.coreos.com"
    for kind in upstream.ARGO_CD_CRDS:
        crd = upstream.argo_cd_crd(kind)
        assert (crd["spec"]["names"]["kind"], crd["spec"]["group"]) == (kind, "argoproj.io")
