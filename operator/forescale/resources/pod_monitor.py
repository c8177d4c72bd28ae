"""The PodMonitor (prometheus-operator) that scrapes vLLM's ``/metrics``.

Its relabeling gives every series the labels the reader aggregates by: ``llmdeployment``
(from the pod label) and ``namespace`` (set explicitly, not left to the prometheus-operator's
default, because the reader's queries select and group by it and must not depend on a
Prometheus setting), plus ``pod`` (the prometheus-operator's default, for humans). The
reader never names pods: it aggregates by these two target labels, so its queries stay the
same size whatever the fleet.
The sandbox's generated Prometheus config produces the same three labels, so queries are
identical in a cluster and in tests. Clusters without the operator use the pods'
``prometheus.io/*`` annotations instead.
"""

from __future__ import annotations

from typing import Any

from forescale.api import identity
from forescale.resources.deployment import PORT_NAME
from forescale.resources.labels import selector_labels
from forescale.resources.owner import Owner
from forescale.resources.settings import RenderSettings, operator_settings

SCRAPE_INTERVAL = "15s"
SERIES_LABELS = ("llmdeployment", "namespace", "pod")
"""Target labels every scraped vLLM series carries (the relabeling below, and the
prometheus-operator's ``pod``); the vLLM contract check allows them on any series."""


def _label_source(label: str) -> str:
    sanitized = "".join(c if c.isalnum() else "_" for c in label)
    return f"__meta_kubernetes_pod_label_{sanitized}"


def build_pod_monitor(owner: Owner, settings: RenderSettings | None = None) -> dict[str, Any]:
    """A PodMonitor selecting the replicas, labelling series with their LLMDeployment.

    The operator's monitor labels (``FORESCALE_MONITOR_LABELS``) go on its metadata, so a
    Prometheus that selects monitors by label (kube-prometheus-stack's ``release``) finds it.
    """
    metadata = owner.metadata()
    extra = (settings or operator_settings()).monitor_labels
    metadata["labels"] = {**extra, **metadata["labels"]}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": selector_labels(owner.name)},
            "podMetricsEndpoints": [
                {
                    "port": PORT_NAME,
                    "path": "/metrics",
                    "interval": SCRAPE_INTERVAL,
                    "relabelings": [
                        {
                            "sourceLabels": [_label_source(identity.LABEL_LLMDEPLOYMENT)],
                            "targetLabel": "llmdeployment",
                        },
                        {
                            "sourceLabels": ["__meta_kubernetes_namespace"],
                            "targetLabel": "namespace",
                        },
                    ],
                }
            ],
        },
    }
