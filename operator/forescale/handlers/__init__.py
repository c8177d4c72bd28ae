"""kopf handlers and their one Kubernetes client: orchestration only.

Importing this package registers the handlers with kopf (``kopf run -m forescale.handlers``
or ``forescale run``). Desired state comes from ``forescale.resources``, judgement from
``forescale.assessment``, decisions from ``forescale.policy``.
"""

from forescale.handlers import configuring, triggers

__all__ = ["configuring", "triggers"]
