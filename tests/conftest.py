"""Shared test configuration: paths every tier uses."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "manifests" / "samples"
CRD_FILE = REPO / "crds" / "forescale.io_llmdeployments.yaml"
SHARED = REPO.parent / "shared"
