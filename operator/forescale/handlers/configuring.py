"""Operator settings and the objects every handler shares, set up once at start.

The settings encode the project's operating choices: kopf's bookkeeping goes to
``forescale.io/`` annotations instead of ``status`` (status is observed state for users, not
a handler journal), handler results never leak into status, watches reconnect before
idle load balancers cut them, Events say ``forescale``, and peering keeps a second replica
passive until the first one disappears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import kopf

from forescale.api import identity
from forescale.handlers.api_client import ClusterClient
from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.fleet_view import FleetView
from forescale.handlers.reconciler import Reconciler
from forescale.handlers.ticking import Ticker
from forescale.metrics.reader import PrometheusReader

PROMETHEUS_URL_ENV = "FORESCALE_PROMETHEUS_URL"
RECONCILE_INTERVAL_ENV = "FORESCALE_RECONCILE_SECONDS"
RESYNC_ENV = "FORESCALE_RESYNC_SECONDS"
RATE_WINDOW_ENV = "FORESCALE_RATE_WINDOW_SECONDS"
SHARD_ENV = "FORESCALE_SHARD"
SHARD_BY_ENV = "FORESCALE_SHARD_BY"
NAMESPACES_ENV = "FORESCALE_NAMESPACES"
"""Comma-separated namespaces the operator serves (unset: every namespace)."""
SHARD_LABEL = "forescale.io/shard"
"""LLMDeployment label that assigns it to a shard (with ``FORESCALE_SHARD_BY=label``)."""


def reconcile_interval() -> float:
    """Seconds between autoscaler ticks (and retries of Degraded LLMDeployments)."""
    return float(os.environ.get(RECONCILE_INTERVAL_ENV, "5"))


def resync_interval() -> float:
    """Seconds between full passes of an LLMDeployment nothing happened to."""
    return float(os.environ.get(RESYNC_ENV, "600"))


def shard_identity() -> str:
    """This operator's shard name ("" when unsharded): name per-shard locks after it."""
    return os.environ.get(SHARD_ENV, "")


def shard_by_label() -> bool:
    """True when the shard is chosen by the ``forescale.io/shard`` label."""
    return bool(shard_identity()) and os.environ.get(SHARD_BY_ENV, "label") == "label"


def in_shard(labels: Any) -> bool:
    """Whether an LLMDeployment with these labels belongs to this operator."""
    if not shard_by_label():
        return True
    return bool((labels or {}).get(SHARD_LABEL) == shard_identity())


def served_namespaces() -> list[str] | None:
    """The exact namespaces served, for the reader's scope (None: all, or a glob)."""
    raw = [ns for ns in os.environ.get(NAMESPACES_ENV, "").split(",") if ns]
    if not raw or any(c in ns for ns in raw for c in "*?[!"):
        return None
    return raw


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account, else $KUBECONFIG read at login (not at import) time."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Apply forescale's kopf settings and build the shared reconciler."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=identity.ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=identity.ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.reporting_component = identity.FIELD_MANAGER
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    settings.execution.max_workers = 4
    # kopf logs every event handler's success at INFO: one line per watch event, which is
    # most of the operator's output (and a measurable share of its CPU) at 1,000
    # LLMDeployments. Failures are still logged (WARNING and above).
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    url = os.environ.get(PROMETHEUS_URL_ENV) or None
    window = float(os.environ.get(RATE_WINDOW_ENV, "60"))
    reader = (
        PrometheusReader(url, window_seconds=window, namespaces=served_namespaces())
        if url
        else None
    )
    autoscaler = Autoscaler(reader)
    reconciler = Reconciler(ClusterClient(), autoscaler)
    memo.reconciler = reconciler
    memo.view = FleetView()
    ticker = Ticker(
        memo.view,
        autoscaler,
        reconciler.trigger,
        interval=reconcile_interval(),
        resync_seconds=resync_interval(),
    )
    memo.ticker = ticker
    memo.tick_task = asyncio.get_running_loop().create_task(ticker.run(), name="forescale-tick")


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the tick, then let running passes finish before the process exits."""
    task = memo.get("tick_task")
    if isinstance(task, asyncio.Task):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    reconciler = memo.get("reconciler")
    if isinstance(reconciler, Reconciler):
        await reconciler.wait_idle()
