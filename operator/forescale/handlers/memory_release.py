"""Give freed memory back to the system (glibc only; elsewhere these do nothing).

Profiled at 300 LLMDeployments (``FORESCALE_TRACEMALLOC``, docs/scale.md), the objects
the operator keeps alive were about 19 MiB while its RSS was several times that: the rest
was memory freed after the creation burst (thousands of watch events and API answers
decoded at once) that the C allocator kept, spread over one arena per thread that ever
allocated (glibc makes up to eight per core). Two remedies, both cheap:

* at start, at most ``ARENAS`` malloc arenas, so freed blocks are reused by every thread
  instead of sitting in the arena of the thread that freed them;
* every ``TRIM_SECONDS``, ``malloc_trim(0)``: free pages inside the heaps go back to the
  system (milliseconds, in a worker thread).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

logger = logging.getLogger("forescale.memory")

ARENAS = 2
TRIM_SECONDS = 30.0
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc has these two; musl and others do not
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap malloc arenas (call before threads start); False where there is no glibc."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


def trim() -> bool:
    """Return free heap pages to the system; True when some were released."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


async def run(interval: float = TRIM_SECONDS) -> None:
    """Trim every ``interval`` seconds (cancelled on stop)."""
    if _libc() is None:
        logger.info("no glibc: freed memory is returned by the allocator's own rules")
        return
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(trim)
