"""Freed memory goes back to the system when trimmed (glibc: the operator's image and CI)."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from forescale.handlers import memory_release


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_trim_returns_memory_freed_inside_the_heap() -> None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.fail("needs Linux with glibc (what the operator image runs)")
    # 100 MiB in 8 KiB blocks (malloc, not Python's small-object allocator); keep every
    # 64th so the heap cannot shrink from its top: only a trim gives the rest back.
    blocks = [bytearray(8192) for _ in range(12_800)]
    kept = blocks[::64]
    del blocks
    before = _rss()
    assert memory_release.trim()
    after = _rss()
    assert before - after > 50 * 2**20, (before, after)
    del kept  # alive until measured: the kept blocks pin the heap's top
