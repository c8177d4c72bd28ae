"""HTTP servers on 127.0.0.1 that stand in for a peer in a test: serving, answering JSON.

The API client's tests (a scripted apiserver), the throttle's slow admission webhook and
the model fetcher's archive host all run a ``ThreadingHTTPServer`` in a thread for the
length of a block and answer with a JSON body; this is that, once. Optionally over TLS.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

Server = TypeVar("Server", bound=ThreadingHTTPServer)


@contextlib.contextmanager
def serving(server: Server, tls: tuple[Path, Path] | None = None) -> Iterator[Server]:
    """``server`` answering in a thread until the block ends (with ``tls``, a certificate
    and key, over HTTPS); then shut down, closed and its thread joined."""
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def answer_json(
    handler: BaseHTTPRequestHandler,
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Send ``body`` as a JSON answer with ``status`` and any further ``headers``."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
