"""Operator settings and the objects every handler shares, set up once at start.

The settings encode the project's operating choices: kopf's bookkeeping goes to
``forescale.io/`` annotations instead of ``status`` (status is observed state for users, not
a handler journal), handler results never leak into status, watches reconnect before
idle load balancers cut them, Events say ``forescale``, and peering keeps a second replica
passive until the first one disappears.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from forescale.api import identity
from forescale.handlers.api_client import ClusterClient
from forescale.handlers.autoscaling import Autoscaler
from forescale.handlers.reconciler import Reconciler
from forescale.metrics.reader import PrometheusReader
from forescale.resources.settings import operator_settings

PROMETHEUS_URL_ENV = "FORESCALE_PROMETHEUS_URL"
RECONCILE_INTERVAL_ENV = "FORESCALE_RECONCILE_SECONDS"
RATE_WINDOW_ENV = "FORESCALE_RATE_WINDOW_SECONDS"


def reconcile_interval() -> float:
    """Seconds between level-based passes (drift repair, status, autoscaling)."""
    return float(os.environ.get(RECONCILE_INTERVAL_ENV, "5"))


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
    url = os.environ.get(PROMETHEUS_URL_ENV) or None
    window = float(os.environ.get(RATE_WINDOW_ENV, "60"))
    reader = PrometheusReader(url, window_seconds=window) if url else None
    operator_settings()  # default image, monitor labels: a bad value stops the start here
    memo.reconciler = Reconciler(ClusterClient(), Autoscaler(reader))


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Let running passes finish before the process exits."""
    reconciler = memo.get("reconciler")
    if isinstance(reconciler, Reconciler):
        await reconciler.wait_idle()
