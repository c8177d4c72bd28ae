"""Loopback checks: simulated replicas and load generators never leave this machine.

The sandbox's pod and cluster IPs are fake (kwok), and a load generator pointed at a real
address by mistake is a small denial-of-service attack, so both the sim-server's bind
address and every loadgen target are checked here before any socket is opened.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback_url(url: str) -> str:
    """``url`` unchanged if it is http(s) to a loopback host; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if not is_loopback(parts.hostname):
        raise ValueError(
            f"{url!r} is not a loopback address; targets must be 127.0.0.1/::1/localhost"
        )
    return url
