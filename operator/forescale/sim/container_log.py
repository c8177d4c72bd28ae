"""The CRI container log format: what a kubelet stores and serves to ``kubectl logs``.

A container runtime writes each line a container prints as ``<RFC 3339 time> <stream> F
<line>`` (``F``: a full line) in the pod's log file, and the kubelet reads that file back
for ``kubectl logs``. The sandbox has no runtime: kwok serves files in this format, and the
sim-server (which plays the vLLM container) and the tests that fill a container's log write
them through this one function, so the format is written down once.
"""

from __future__ import annotations

import datetime


def cri_log_lines(lines: list[str], at: datetime.datetime, stream: str = "stdout") -> str:
    """``lines`` as the kubelet's CRI log file holds them (one timestamped full line each),
    all stamped ``at`` (UTC)."""
    stamp = at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "".join(f"{stamp} {stream} F {line}\n" for line in lines)
