"""forescale: a Kubernetes operator that scales vLLM ahead of demand.

The package is split by what each part may touch: ``api``, ``resources`` and ``policy`` are
pure (no I/O, enforced by import-linter), ``metrics`` is the only Prometheus client,
``handlers`` the only layer that drives the Kubernetes API through kopf.
"""

__version__ = "0.1.0"
