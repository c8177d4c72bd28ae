"""Owners built from the samples, for the builder tests."""

from __future__ import annotations

from typing import Any

import yaml

from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.owner import Owner
from tests.conftest import SAMPLES


def owner_from(sample: str = "llmdeployment.yaml", **spec_changes: Any) -> Owner:
    manifest = yaml.safe_load((SAMPLES / sample).read_text())
    spec = {**manifest["spec"], **spec_changes}
    return Owner(
        name=manifest["metadata"]["name"],
        namespace="team-a",
        uid="1234",
        spec=LLMDeploymentSpec.model_validate(spec),
    )
