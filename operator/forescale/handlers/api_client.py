"""The operator's one Kubernetes client: server-side apply, reads, and nothing clever.

kopf owns watching, the LLMDeployment's status patches and Events; everything else the
operator does to the API goes through this class, so RBAC (``manifests/rbac/``) can be
read off one file. The official client is synchronous, so every call runs in a worker
thread with a timeout: a slow API server delays one reconciliation, never the event loop.
The client has its own pool of ``API_THREADS`` threads and as many pooled connections
(asyncio's default executor has ``cores + 4`` threads and urllib3's pool ``5 x cores``
connections: six threads on a two-core node, which at 1,000 LLMDeployments every pending
pass shared).
Objects are plain dicts (the builders' output) rather than generated model classes.

A request the API server answers with 429, or with a 5xx that carries ``Retry-After``, is
sent again after the time the server asks for, as client-go and kopf do (API Priority and
Fairness rejects before running anything, so a write is safe to resend); the underlying
urllib3 pool's own status retries are off, so there is one policy, for every verb.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import kubernetes
import urllib3
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse

from forescale.api import identity

REQUEST_TIMEOUT = 30.0
THROTTLE_RETRIES = 10
"""client-go's bound: a request answered "come back later" is sent again at most this often."""
THROTTLE_PATIENCE_SECONDS = 30.0
"""The most one call waits on ``Retry-After`` answers in all. A priority level's
``Retry-After`` starts at 1 s and doubles while it keeps rejecting, up to 32 s; past this
the last answer is raised, the pass fails and the reconciler's backoff takes over (a
throttled API server is better served by fewer requests than by a queue of waiting ones)."""
API_THREADS = 16
"""Worker threads (and pooled connections) for API calls; the reconciler keeps at most
twice as many passes in flight (``reconciler.PASSES_PER_THREAD``)."""
LOG_WRITES_ENV = "FORESCALE_LOG_WRITES"
"""Set to 1 to log every write as it is sent (the leader-election test reads these)."""
logger = logging.getLogger(__name__)
_write_log = logging.getLogger("forescale.api.writes")

# kind -> (API path prefix, plural) for the kinds forescale writes or reads.
_KINDS: dict[str, tuple[str, str]] = {
    "Deployment": ("/apis/apps/v1", "deployments"),
    "Service": ("/api/v1", "services"),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),
    "PodMonitor": ("/apis/monitoring.coreos.com/v1", "podmonitors"),
    "Pod": ("/api/v1", "pods"),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases"),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
}


_ADMISSION_REFUSALS = re.compile(
    r'admission webhook ".*" denied the request'
    r"|(ValidatingAdmissionPolicy|policy) '[^']*'( with binding '[^']*')? denied request"
    r"|exceeded quota: "
)
"""How the API server words a refusal by admission control (k8s.io/apiserver: a webhook's
``ToStatusErr``, the admission-policy dispatchers, the ResourceQuota plugin)."""


class ApiError(Exception):
    """The API server refused or failed a request."""

    def __init__(
        self, status: int, reason: str, body: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, reason, body)
        self.status = status
        self.reason = reason
        self.body = body
        # By lower-case name: HTTP's header names are case-insensitive.
        self.headers = {name.lower(): value for name, value in (headers or {}).items()}
        self.resends = 0
        self.waited = 0.0

    def __str__(self) -> str:
        # The Status object's message, not its JSON: this text lands in a condition and an
        # Event (800 characters), where a person reads it.
        text = f"{self.status} {self.reason}"
        if self.body:
            text += f": {self.api_message[:500]}"
        if self.resends:
            text += (
                f" (sent again {self.resends} times over {self.waited:.0f} s as the API "
                f"server asked; FlowSchema {self.flow_schema or 'unknown'})"
            )
        return text

    @property
    def retry_after(self) -> float | None:
        """Seconds the API server asked to wait before the request is sent again, when
        it asked: a 429 or a 5xx with a ``Retry-After`` header (client-go's rule)."""
        if self.status != 429 and self.status < 500:
            return None
        try:
            return max(0.0, float(self.headers["retry-after"]))
        except (KeyError, ValueError):
            return None

    @property
    def flow_schema(self) -> str | None:
        """The UID of the API Priority and Fairness FlowSchema the request fell in (the
        API server names it on every answer; ``kubectl get flowschemas`` finds it)."""
        return self.headers.get("x-kubernetes-pf-flowschema-uid")

    @property
    def api_message(self) -> str:
        """The API server's own explanation (a Status object's ``message``), else the body."""
        try:
            message = json.loads(self.body).get("message")
        except (ValueError, AttributeError):
            message = None
        return str(message or self.body[:1000] or self.reason)

    @property
    def refused_by_admission(self) -> bool:
        """Admission control refused the write: a webhook, a ValidatingAdmissionPolicy or a
        quota, i.e. the cluster's policy, not the object and not RBAC.

        The status code cannot tell: a policy's refusal comes as 422 unless the policy sets
        a reason, a webhook's with whatever code it chose (400 at least), a quota's as 403;
        the API server's wording of the message can.
        """
        return self.status >= 400 and bool(_ADMISSION_REFUSALS.search(self.api_message))


class ApiUnreachableError(ConnectionError):
    """The API server could not be reached or did not answer (refused, reset, timed out).

    urllib3 reports these as its own exceptions (``MaxRetryError``, ``ProtocolError``),
    which are not ``OSError``: every caller that rides out an outage catches ``ApiError``
    and ``OSError``, and an apiserver restart once ended the leader election's renewal loop
    for good (the replica went on running, never to act again). A ``ConnectionError``
    reaches those handlers.
    """


class NotLeaderError(Exception):
    """A write was refused locally: this replica does not hold the leader Lease now."""


class ClientClosedError(NotLeaderError):
    """The operator is stopping: a request waiting on a throttle, or not yet sent, is
    dropped. As with a lost Lease the pass ends without a failure counted; whoever leads
    next reconciles every object from the start."""


_READ_METHODS = {"GET", "HEAD"}


class _ResendUnlessTimedOut(urllib3.Retry):
    """urllib3's retries, less the resending of a request that timed out.

    urllib3 counts a read timeout as a read error and sends an idempotent request again,
    up to three times, each waiting the whole timeout: a GET on a stalled API server held
    a worker thread for four timeouts (2 minutes at 30 s) before the pass heard of it.
    client-go resends a GET only when its connection was reset or closed
    (``isErrRetryableFunc`` in ``rest/request.go``), never after a timeout: a server that
    did not answer in the timeout is unlikely to answer the same request sooner, and the
    reconciler's next pass is the retry. A timed-out connect (a host that drops SYNs) is
    not sent again either; a refused one still is (urllib3 counts it as a connect timeout
    too, and it costs nothing).
    """

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, urllib3.exceptions.TimeoutError) and not isinstance(
            error, urllib3.exceptions.NewConnectionError
        ):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


def load_configuration() -> kubernetes.client.Configuration:
    """Kubeconfig ($KUBECONFIG or ~/.kube/config) if present, else in-cluster.

    $KUBECONFIG is read now, not at import time as the client's default does, so a process
    that sets it after importing (kopf's test runner) still gets the right user.
    """
    configuration = kubernetes.client.Configuration()
    path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    try:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.path.expanduser(path), client_configuration=configuration
        )
    except kubernetes.config.ConfigException:
        kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


class ClusterClient:
    """Thin async facade over the official client's raw HTTP calls."""

    def __init__(
        self,
        configuration: kubernetes.client.Configuration | None = None,
        may_write: Callable[[], bool] | None = None,
        *,
        threads: int = API_THREADS,
        request_timeout: float = REQUEST_TIMEOUT,
        read_retries: int | None = None,
        thread_name: str = "forescale-api",
    ) -> None:
        configuration = configuration or load_configuration()
        configuration.connection_pool_maxsize = threads
        # urllib3's default resends a GET or PUT answered 429/503 with Retry-After (three
        # times) and a PATCH or POST never: off, for the one policy of ``_call``. Its
        # retries of a refused connection stay, and of an idempotent request whose
        # connection was closed under it (a pooled connection the server had closed)
        # unless ``read_retries`` bounds them; a request that timed out is not sent again.
        configuration.retries = _ResendUnlessTimedOut(
            3, read=read_retries, respect_retry_after_header=False
        )
        self._api = kubernetes.client.ApiClient(configuration)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=thread_name)
        self._request_timeout = request_timeout
        self._may_write = may_write
        self._closed = threading.Event()
        self._events: dict[tuple[str, str, str, str], tuple[str, int]] = {}

    def gate_writes(self, may_write: Callable[[], bool] | None) -> None:
        """Refuse every write while ``may_write()`` is false (leader election's fence).

        The check runs in the worker thread right before the request is sent, so a
        replica that was stopped (SIGSTOP, a long GC pause) and resumes after losing the
        Lease does not send a write it had prepared before.
        """
        self._may_write = may_write

    def close(self) -> None:
        """Release the connection pool and the worker threads; a call waiting on a
        throttle gives up at once (a stopping process does not wait out a Retry-After),
        and no new request is sent (:class:`ClientClosedError`)."""
        self._closed.set()
        self._api.close()  # type: ignore[no-untyped-call]
        self._executor.shutdown(wait=False)

    def _call(
        self,
        method: str,
        path: str,
        *,
        patience: float = THROTTLE_PATIENCE_SECONDS,
        **kwargs: Any,
    ) -> Any:
        """Send the request, and again while the API server asks to come back later, for
        at most ``THROTTLE_RETRIES`` times and ``patience`` seconds of waiting in all."""
        resends, waited = 0, 0.0
        while True:
            try:
                return self._send(method, path, **kwargs)
            except ApiError as err:
                wait = err.retry_after
                if wait is None or resends == THROTTLE_RETRIES or waited + wait > patience:
                    err.resends, err.waited = resends, waited
                    raise
                if resends == 0:
                    # Once per call: a throttled cluster answers every pass alike.
                    logger.info(
                        "%s %s: the API server answered %s and asked to retry in %.0f s "
                        "(FlowSchema %s); waiting as client-go does",
                        method, path, err.status, wait, err.flow_schema or "unknown",
                    )  # fmt: skip
                if self._pause(wait):
                    raise ClientClosedError(
                        f"{method} {path}: dropped while waiting on a throttle (stopping)"
                    ) from err
                resends, waited = resends + 1, waited + wait

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` in this worker thread; True if the client was closed meanwhile."""
        return self._closed.wait(seconds)

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        fenced: bool = True,
    ) -> Any:
        """One request; the write fence is checked right before it, so a write that waited
        on a throttle is not sent once this replica has lost the Lease."""
        if method not in _READ_METHODS:
            if fenced and self._may_write and not self._may_write():
                raise NotLeaderError(f"{method} {path}: not the leader")
            if fenced and os.environ.get(LOG_WRITES_ENV) == "1":
                _write_log.info("WRITE %s %s", method, path)
        if body is not None and content_type.endswith("yaml"):
            # The client would send json.dumps' ASCII escapes, and a character outside the
            # BMP (an emoji) becomes a surrogate pair the API server's YAML parser rejects
            # with 400: send UTF-8 JSON (valid YAML) ourselves.
            body = json.dumps(body, ensure_ascii=False).encode()
        method, url, headers, payload, _ = self._api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": accept},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(
                method,
                url,
                header_params=headers,
                body=payload,
                _request_timeout=self._request_timeout,
            )
        except kubernetes.client.ApiException as err:
            raise ApiError(
                err.status or 0, str(err.reason), str(err.body or ""), err.headers
            ) from err
        except urllib3.exceptions.HTTPError as err:
            # urllib3 wraps the cause in "Max retries exceeded with url: ...", also when
            # no retry was allowed: the cause (refused, timed out) and where, read better.
            cause = err.reason if isinstance(err, urllib3.exceptions.MaxRetryError) else err
            where = self._api.configuration.host
            raise ApiUnreachableError(f"{method} {where}{path}: {cause}") from err
        data: bytes = response.read()  # type: ignore[no-untyped-call]
        if response.status >= 400:
            raise ApiError(
                response.status,
                str(response.reason),
                data.decode(errors="replace"),
                response.headers,
            )
        return json.loads(data) if data else None

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._closed.is_set():
            raise ClientClosedError(f"{method} {path}: not sent (stopping)")
        call = functools.partial(self._call, method, path, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    @staticmethod
    def _path(kind: str, namespace: str, name: str | None = None) -> str:
        prefix, plural = _KINDS[kind]
        path = f"{prefix}/namespaces/{quote(namespace)}/{plural}"
        return f"{path}/{quote(name)}" if name else path

    async def apply(self, obj: dict[str, Any], field_manager: str = identity.FIELD_MANAGER) -> Any:
        """Server-side apply ``obj``, taking over fields from other managers (force)."""
        meta = obj["metadata"]
        return await self._request(
            "PATCH",
            self._path(obj["kind"], meta["namespace"], meta["name"]),
            query=[("fieldManager", field_manager), ("force", "true")],
            body=obj,
            content_type="application/apply-patch+yaml",
        )

    async def merge_patch(self, obj: dict[str, Any]) -> Any:
        """JSON merge-patch ``obj`` onto the live object: lists are replaced, not merged.

        Server-side apply merges lists by key and keeps entries other managers own, so a
        hand edit can leave a child that apply cannot repair (e.g. two Service ports both
        named ``http``); replacing the lists first makes the next apply succeed.
        """
        meta = obj["metadata"]
        return await self._request(
            "PATCH",
            self._path(obj["kind"], meta["namespace"], meta["name"]),
            query=[("fieldManager", identity.FIELD_MANAGER)],
            body={"spec": obj["spec"]},
            content_type="application/merge-patch+json",
        )

    async def replace_pod_template(self, live: dict[str, Any], template: dict[str, Any]) -> Any:
        """Replace a Deployment's whole pod template with ours (JSON patch, guarded).

        Server-side apply keeps fields other managers own; this drops them (an injected
        sidecar, ``privileged``, ``hostNetwork``). The ``test`` op makes it fail with 422
        instead of overwriting a newer object.
        """
        meta = live["metadata"]
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
            {"op": "replace", "path": "/spec/template", "value": template},
        ]
        return await self._request(
            "PATCH",
            self._path(live["kind"], meta["namespace"], meta["name"]),
            query=[("fieldManager", identity.FIELD_MANAGER)],
            body=ops,
            content_type="application/json-patch+json",
        )

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The leader-election Lease (read without the write fence)."""
        return await self.get("Lease", namespace, name, patience=0.0)

    async def write_lease(self, lease: dict[str, Any], *, create: bool) -> dict[str, Any]:
        """Create or replace (optimistically, by resourceVersion) the Lease; never fenced."""
        meta = lease["metadata"]
        if create:
            method, path = "POST", self._path("Lease", meta["namespace"])
        else:
            method, path = "PUT", self._path("Lease", meta["namespace"], meta["name"])
        # No waiting on a throttle: the elector tries again every retry period, and a
        # round must end well within the renew deadline.
        written: dict[str, Any] = await self._request(
            method, path, body=lease, fenced=False, patience=0.0
        )
        return written

    async def get(
        self, kind: str, namespace: str, name: str, patience: float = THROTTLE_PATIENCE_SECONDS
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            found: dict[str, Any] = await self._request(
                "GET", self._path(kind, namespace, name), patience=patience
            )
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        return found

    async def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Objects of ``kind`` in ``namespace`` matching a label selector."""
        found = await self._request(
            "GET", self._path(kind, namespace), query=[("labelSelector", selector)]
        )
        items: list[dict[str, Any]] = found.get("items", [])
        return items

    async def exists(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the object exists, reading only its metadata (never a Secret's data)."""
        try:
            await self._request(
                "GET",
                self._path(kind, namespace, name),
                accept="application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            )
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    async def nodes_with_label(self, label: str, value: str) -> int:
        """How many nodes carry ``label=value``."""
        found = await self._request(
            "GET", "/api/v1/nodes", query=[("labelSelector", f"{label}={value}")]
        )
        return len(found.get("items", []))

    async def has_api(self, group_version: str, plural: str) -> bool:
        """Whether the API server serves ``plural`` in ``group_version`` (e.g. PodMonitors)."""
        try:
            found = await self._request("GET", f"/apis/{group_version}")
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return any(r.get("name") == plural for r in found.get("resources", []))

    async def get_llmdeployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The LLMDeployment, or None when it is gone."""
        path = f"/apis/{identity.API_VERSION}/namespaces/{quote(namespace)}/{identity.PLURAL}"
        try:
            found: dict[str, Any] = await self._request("GET", f"{path}/{quote(name)}")
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        return found

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch the LLMDeployment's status subresource (never its spec); returns the
        object as the API server answered."""
        path = f"/apis/{identity.API_VERSION}/namespaces/{quote(namespace)}/{identity.PLURAL}"
        answer: dict[str, Any] | None = await self._request(
            "PATCH",
            f"{path}/{quote(name)}/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )
        return answer

    async def post_event(
        self, involved: dict[str, Any], kind: str, reason: str, message: str, now: str
    ) -> None:
        """Record a core/v1 Event on ``involved`` (what ``kubectl describe`` shows).

        The same (object, type, reason, message) again bumps ``count`` on the Event already
        posted, as the kubelet's recorder does, instead of piling up new objects.
        """
        meta = involved["metadata"]
        namespace = meta["namespace"]
        key = (str(meta.get("uid")), kind, reason, message[:1024])
        seen = self._events.get(key)
        if seen is not None:
            name, count = seen
            patch = {"count": count + 1, "lastTimestamp": now}
            try:
                await self._request(
                    "PATCH",
                    f"/api/v1/namespaces/{quote(namespace)}/events/{quote(name)}",
                    body=patch,
                    content_type="application/merge-patch+json",
                )
                self._events[key] = (name, count + 1)
                return
            except ApiError as err:
                if err.status != 404:  # expired (events have a TTL): post a new one
                    raise
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", identity.API_VERSION),
                "kind": involved.get("kind", identity.KIND),
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": kind,
            "source": {"component": identity.FIELD_MANAGER},
            "reportingComponent": identity.FIELD_MANAGER,
            "reportingInstance": identity.FIELD_MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        posted = await self._request(
            "POST", f"/api/v1/namespaces/{quote(namespace)}/events", body=event
        )
        if len(self._events) > 4096:
            self._events.clear()
        self._events[key] = (str((posted or {}).get("metadata", {}).get("name", "")), 1)

    def forget_events(self, uid: str) -> None:
        """Drop the aggregation memory of a deleted object."""
        for key in [k for k in self._events if k[0] == uid]:
            del self._events[key]
