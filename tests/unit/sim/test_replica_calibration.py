"""The 8B profile reproduces the published vLLM figures, and the docs table is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from forescale.sim.replica_calibration import (
    PUBLISHED,
    PublishedFigure,
    calibration_table_markdown,
    model_figures,
)
from forescale.sim.replica_profiles import get_profile

DOC = Path(__file__).parents[3] / "docs" / "replica-model.md"
PROFILE = get_profile("llama-3.1-8b-h100")
FIGURES = model_figures(PROFILE)


@pytest.mark.parametrize("figure", PUBLISHED, ids=lambda f: f.key)
def test_model_is_within_tolerance_of_published_figure(figure: PublishedFigure) -> None:
    error = (FIGURES[figure.key] - figure.published) / figure.published
    assert abs(error) <= figure.tolerance, f"{figure.label}: {error:+.1%}"


def test_docs_show_the_current_calibration_table() -> None:
    assert calibration_table_markdown(PROFILE) in DOC.read_text()
