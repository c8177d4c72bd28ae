"""Where the operator's memory goes, on request: ``FORESCALE_TRACEMALLOC=FILE``.

The scale benchmark measures RSS; this says which lines allocated what is still alive.
With the variable set, the operator traces allocations from its start (``tracemalloc``,
which itself costs memory and CPU: a diagnostic, never for production) and rewrites FILE
every ``interval`` seconds with the largest allocation sites, grouped by file and line.
"""

from __future__ import annotations

import asyncio
import os
import tracemalloc
from pathlib import Path

TRACEMALLOC_ENV = "FORESCALE_TRACEMALLOC"


def requested() -> Path | None:
    """The file to write to, when profiling was asked for."""
    text = os.environ.get(TRACEMALLOC_ENV)
    return Path(text) if text else None


def report(top: int = 40) -> str:
    """The ``top`` allocation sites still alive, largest first, and the traced total."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    stats = snapshot.statistics("lineno")
    total = sum(stat.size for stat in stats)
    lines = [f"traced {total / 2**20:.1f} MiB in {len(stats)} sites"]
    lines += [
        f"{stat.size / 2**20:8.2f} MiB {stat.count:8d} blocks  {stat.traceback[0]}"
        for stat in stats[:top]
    ]
    return "\n".join(lines) + "\n"


async def run(path: Path, interval: float = 30.0) -> None:
    """Rewrite ``path`` with the report every ``interval`` seconds (cancelled on stop)."""
    if not tracemalloc.is_tracing():
        tracemalloc.start()
    while True:
        await asyncio.sleep(interval)
        path.write_text(report())
