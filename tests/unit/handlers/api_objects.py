"""The object the API client's tests send to a loopback server (throttles, the write
fence, failed connections): one Service, whose path is
``/api/v1/namespaces/ns/services/llm``."""

from __future__ import annotations

from typing import Any

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "llm", "namespace": "ns"},
    "spec": {"ports": [{"port": 8000}]},
}
