"""A stand-in for prometheus-operator's PodMonitor CRD, for tests that need the API served.

The real CRD is large and fetched from the internet in real clusters; this structurally
minimal one serves the same group, version and kind (``monitoring.coreos.com/v1``
``PodMonitor``), which is all the operator discovers and applies against.
"""

from __future__ import annotations

POD_MONITOR_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: podmonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PodMonitor, listKind: PodMonitorList, plural: podmonitors, singular: podmonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""
