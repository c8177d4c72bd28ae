"""Operator settings and the objects every handler shares, set up once at start.

The settings encode the project's operating choices: kopf writes nothing to the objects
(no progress annotations, no finalizers: see :mod:`forescale.handlers.triggers`), watches
reconnect before idle load balancers cut them, Events say ``forescale``, and with leader
election on, one replica acts through a ``coordination.k8s.io`` Lease
(:mod:`forescale.handlers.leader_election`) while the others only watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any

import kopf

from forescale.api import identity
from forescale.handlers.api_client import ClusterClient
from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.leader_election import LeaderElector, LeaseTimings
from forescale.handlers.reconciler import Reconciler
from forescale.metrics.reader import PrometheusReader
from forescale.resources.settings import operator_settings

PROMETHEUS_URL_ENV = "FORESCALE_PROMETHEUS_URL"
RECONCILE_INTERVAL_ENV = "FORESCALE_RECONCILE_SECONDS"
RATE_WINDOW_ENV = "FORESCALE_RATE_WINDOW_SECONDS"
LEADER_ELECTION_ENV = "FORESCALE_LEADER_ELECTION"
"""``namespace/name`` of the Lease; unset: no leader election (a single replica)."""
LEASE_TIMINGS_ENV = "FORESCALE_LEASE_TIMINGS"
"""``duration,renewDeadline,retryPeriod`` in seconds (default 15,10,2)."""
IDENTITY_ENV = "POD_ID"


def reconcile_interval() -> float:
    """Seconds between level-based passes (drift repair, status, autoscaling)."""
    return float(os.environ.get(RECONCILE_INTERVAL_ENV, "5"))


def lease_timings() -> LeaseTimings:
    """The Lease timings from the environment (validated: deadline < duration)."""
    text = os.environ.get(LEASE_TIMINGS_ENV)
    if not text:
        return LeaseTimings()
    duration, deadline, retry = (float(x) for x in text.split(","))
    return LeaseTimings(lease_duration=duration, renew_deadline=deadline, retry_period=retry)


def replica_identity() -> str:
    """Unique per process, readable in the Lease: pod name (or host) plus a random suffix."""
    base = os.environ.get(IDENTITY_ENV) or socket.gethostname()
    return f"{base}_{uuid.uuid4().hex[:8]}"


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account, else $KUBECONFIG read at login (not at import) time."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Apply forescale's kopf settings, build the reconciler, start the election and timer."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=identity.ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=identity.ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    settings.execution.max_workers = 4
    url = os.environ.get(PROMETHEUS_URL_ENV) or None
    window = float(os.environ.get(RATE_WINDOW_ENV, "60"))
    reader = PrometheusReader(url, window_seconds=window) if url else None
    operator_settings()  # default image, monitor labels: a bad value stops the start here
    client = ClusterClient()
    tasks: list[asyncio.Task[None]] = []
    lease = os.environ.get(LEADER_ELECTION_ENV)
    if lease:
        namespace, name = lease.split("/", 1)
        elector = LeaderElector(client, namespace, name, replica_identity(), lease_timings())
        client.gate_writes(elector.is_leader)
        reconciler = Reconciler(client, Autoscaler(reader), is_leader=elector.is_leader)
        elector.on_started_leading = reconciler.trigger_all
        memo.elector = elector
        tasks.append(asyncio.create_task(elector.run()))
    else:
        reconciler = Reconciler(client, Autoscaler(reader))
    memo.reconciler = reconciler
    tasks.append(asyncio.create_task(reconciler.run_periodically(reconcile_interval())))
    memo.background = tasks


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the timer and the election, let running passes finish, release the Lease."""
    for task in memo.get("background", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    reconciler = memo.get("reconciler")
    if isinstance(reconciler, Reconciler):
        await reconciler.wait_idle()
    elector = memo.get("elector")
    if isinstance(elector, LeaderElector):
        await elector.release()
    logging.getLogger("forescale").info("stopped")
