"""The wheel cache: a wheel is used only with its pinned hash, and a cached one is not fetched."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from forescale.vllm_contract import fetch
from forescale.vllm_contract.release import PREVIOUS_VLLM_VERSION, VLLM_VERSION, WHEEL_SHA256


def test_a_wheel_with_another_hash_is_not_used(tmp_path: Path) -> None:
    directory = tmp_path / VLLM_VERSION
    directory.mkdir()
    (directory / f"vllm-{VLLM_VERSION}-cp38-abi3-manylinux_2_28_x86_64.whl").write_bytes(b"x")
    assert fetch.cached_wheel(VLLM_VERSION, tmp_path) is None


def test_a_cached_wheel_is_not_downloaded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fetch.cached_wheel(VLLM_VERSION)
    if real is None:
        pytest.fail(f"no vllm {VLLM_VERSION} wheel cached: run `make vllm-wheels`")

    def no_pip(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"pip ran although the wheel is cached: {args}")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert fetch.fetch(VLLM_VERSION) == real


def test_every_checked_version_has_a_pinned_hash() -> None:
    for version in (VLLM_VERSION, PREVIOUS_VLLM_VERSION):
        assert len(WHEEL_SHA256[version]) == 64
