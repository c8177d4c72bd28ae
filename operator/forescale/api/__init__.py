"""The LLMDeployment API (``forescale.io/v1alpha1``): typed spec and status models.

The CRD is generated from these models (:mod:`forescale.api.crd`); nothing here does I/O.
"""

from forescale.api.spec import LLMDeploymentSpec
from forescale.api.status import Condition, LLMDeploymentStatus

__all__ = ["Condition", "LLMDeploymentSpec", "LLMDeploymentStatus"]
