"""Integration tier: real etcd, kube-apiserver, controllers, scheduler and kwok.

The fixtures live in forescale.sandbox.pytest_plugin so the e2e tier can reuse them.
"""

from forescale.sandbox.pytest_plugin import *  # noqa: F403 - fixtures and hooks
