"""Ports for the sandbox's listeners: free, and outside the kernel's ephemeral range.

Why. Every sandbox component listens on 127.0.0.1 at a port chosen before it starts. The
usual trick (bind to port 0, read the port, release it) hands out a port from the
kernel's *ephemeral* range, the range outgoing connections take their source ports from;
between the release and the component's own bind, any of the sandbox's many clients
(Prometheus scrapes, the router, the control plane's watches) may open a connection from
that very port, and the component fails with EADDRINUSE (fresh-clone CI: a simulated vLLM
replica of the KEDA comparison, port 51643). A port below the ephemeral range is never a
source port, so once it is checked free only another listener can take it, and this
process hands each port out once.
"""

from __future__ import annotations

import functools
import random
import socket
import threading
from pathlib import Path

#: Where the kernel's ephemeral range is configured (Linux).
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: The lowest port handed out (well above the well-known and registered services).
LOWEST_PORT = 10000
#: Attempts before giving up (each a random port checked by binding it).
ATTEMPTS = 500

_lock = threading.Lock()
_handed_out: set[int] = set()
_random = random.Random()


def listening_range(ephemeral: tuple[int, int] | None = None) -> tuple[int, int]:
    """The ports a listener may take: below the ephemeral range, or above it when it
    starts too low to leave room (both ends inclusive)."""
    low, high = ephemeral if ephemeral is not None else _ephemeral()
    if low - 1 >= LOWEST_PORT + 1000:
        return LOWEST_PORT, low - 1
    if high + 1000 <= 65535:
        return high + 1, 65535
    raise RuntimeError(f"the ephemeral range {low}-{high} leaves no ports for listeners")


@functools.cache
def _ephemeral() -> tuple[int, int]:
    """The kernel's range, read once per process (it is set at boot)."""
    try:
        low, high = (int(v) for v in EPHEMERAL_RANGE.read_text().split()[:2])
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now, no connection's source port, and not
    handed out before by this process."""
    low, high = listening_range()
    with _lock:
        if len(_handed_out) > (high - low) // 2:
            _handed_out.clear()  # a long session: the oldest listeners are long gone
        for _ in range(ATTEMPTS):
            port = _random.randint(low, high)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free TCP port on 127.0.0.1 in {low}-{high} after {ATTEMPTS} tries")
