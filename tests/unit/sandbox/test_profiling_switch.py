"""The sandbox API server's profiling endpoint is off unless asked for."""

from __future__ import annotations

import pytest

from forescale.sandbox.controlplane import profiling_flag


def test_profiling_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORESCALE_SANDBOX_PROFILING", raising=False)
    assert profiling_flag() == "--profiling=false"
    monkeypatch.setenv("FORESCALE_SANDBOX_PROFILING", "yes")
    assert profiling_flag() == "--profiling=false"


def test_profiling_on_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORESCALE_SANDBOX_PROFILING", "1")
    assert profiling_flag() == "--profiling=true"
