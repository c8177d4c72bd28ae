"""A minimal HTTPS client for the sandbox apiserver: readiness probes and server-side apply.

Why not the ``kubernetes`` package: the harness needs only a handful of calls (GET
/readyz, apply a few objects, read nodes) and must work before anything else is
installed or configured; a few lines of urllib with the sandbox CA do that and keep
this module free of global client configuration that tests might also touch.
It refuses any host but loopback: the sandbox never talks to another machine.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FIELD_MANAGER = "forescale-sandbox"

# kind -> (api path prefix, plural, namespaced) for the kinds the harness applies.
_KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Node": ("/api/v1", "nodes", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
    "Logs": ("/apis/kwok.x-k8s.io/v1alpha1", "logs", True),
}


class ApiError(RuntimeError):
    """A non-2xx answer from the apiserver."""

    def __init__(self, status: int, body: str, url: str) -> None:
        super().__init__(f"{status} from {url}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass
class Stream:
    """An open streaming response (a watch): iterate its lines; :meth:`close` ends it at
    once, even while another thread waits in a read (the socket is shut down, not only
    released)."""

    connection: http.client.HTTPSConnection
    response: http.client.HTTPResponse

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        """Shut the socket down (a blocked read returns), then release the connection."""
        if self.connection.sock is not None:
            with contextlib.suppress(OSError):
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        self.connection.close()


@dataclass(frozen=True)
class KubeApi:
    """Bearer-token client for one apiserver on 127.0.0.1."""

    server: str
    token: str
    ca_file: Path
    timeout: float = 10.0

    def __post_init__(self) -> None:
        host = urllib.parse.urlparse(self.server).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"sandbox client refuses non-loopback server {self.server}")

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, str]:
        """Send one request; return (status, text). Raises ApiError on HTTP errors."""
        url = self.server + path
        request = self._prepared(url, method, body, content_type)
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self._context()
            ) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode(errors="replace"), url) from None

    def _prepared(
        self, url: str, method: str, body: bytes | None, content_type: str
    ) -> urllib.request.Request:
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", content_type)
        return request

    def stream(self, path: str, timeout: float) -> Stream:
        """GET ``path`` and return the open response to read line by line (a watch)."""
        parsed = urllib.parse.urlparse(self.server)
        connection = http.client.HTTPSConnection(
            parsed.hostname or "127.0.0.1", parsed.port, timeout=timeout, context=self._context()
        )
        request = self._prepared(self.server + path, "GET", None, "application/json")
        connection.request("GET", path, headers=dict(request.header_items()))
        response = connection.getresponse()
        if response.status >= 400:
            body = response.read().decode(errors="replace")
            connection.close()
            raise ApiError(response.status, body, self.server + path)
        return Stream(connection, response)

    def get(self, path: str) -> dict[str, Any]:
        """GET a JSON object."""
        _, text = self.request("GET", path)
        result: dict[str, Any] = json.loads(text)
        return result

    def ready(self) -> bool:
        """True when /readyz answers 200 (every post-start hook done)."""
        try:
            status, _ = self.request("GET", "/readyz")
        except (ApiError, OSError):
            return False
        return status == 200

    def object_path(self, obj: dict[str, Any]) -> str:
        """REST path of an object of one of the kinds in ``_KINDS``."""
        kind = obj["kind"]
        if kind not in _KINDS:
            raise ValueError(f"sandbox client cannot apply kind {kind}; use kubectl")
        prefix, plural, namespaced = _KINDS[kind]
        name = obj["metadata"]["name"]
        if namespaced:
            namespace = obj["metadata"].get("namespace", "default")
            return f"{prefix}/namespaces/{namespace}/{plural}/{name}"
        return f"{prefix}/{plural}/{name}"

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj`` (create or update), forcing ownership of its fields."""
        query = urllib.parse.urlencode({"fieldManager": FIELD_MANAGER, "force": "true"})
        _, text = self.request(
            "PATCH",
            f"{self.object_path(obj)}?{query}",
            json.dumps(obj).encode(),
            content_type="application/apply-patch+yaml",
        )
        result: dict[str, Any] = json.loads(text)
        return result

    def apply_yaml_file(self, path: Path) -> list[dict[str, Any]]:
        """Apply every document of a YAML file."""
        return [self.apply(doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
