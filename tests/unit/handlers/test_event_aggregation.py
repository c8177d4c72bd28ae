"""A repeated Event bumps ``count`` on the Event already posted, as the kubelet does."""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes

from forescale.handlers.api_client import ApiError, ClusterClient

BODY = {"metadata": {"name": "llm", "namespace": "ml", "uid": "u1"}}


class Recording(ClusterClient):
    def __init__(self) -> None:
        super().__init__(kubernetes.client.Configuration())
        self.calls: list[tuple[str, str, Any]] = []
        self.missing = False

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append((method, path, kwargs.get("body")))
        if method == "PATCH" and self.missing:
            raise ApiError(404, "NotFound", "")
        return {"metadata": {"name": f"llm.{len(self.calls)}"}}


def test_the_same_event_twice_is_one_object_with_count_2() -> None:
    client = Recording()
    asyncio.run(client.post_event(BODY, "Warning", "X", "same", "t1"))
    asyncio.run(client.post_event(BODY, "Warning", "X", "same", "t2"))
    asyncio.run(client.post_event(BODY, "Warning", "X", "other", "t3"))
    methods = [(m, p.rsplit("/", 1)[-1]) for m, p, _ in client.calls]
    assert methods == [("POST", "events"), ("PATCH", "llm.1"), ("POST", "events")]
    assert client.calls[1][2] == {"count": 2, "lastTimestamp": "t2"}
    client.close()


def test_an_expired_event_is_posted_anew() -> None:
    client = Recording()
    asyncio.run(client.post_event(BODY, "Normal", "X", "m", "t1"))
    client.missing = True
    asyncio.run(client.post_event(BODY, "Normal", "X", "m", "t2"))
    assert [m for m, _, _ in client.calls] == ["POST", "PATCH", "POST"]
    client.close()
