"""Pure builders: an LLMDeployment spec in, the child objects it implies out (plain dicts).

Handlers apply what these return and never assemble objects themselves, so everything the
operator creates can be unit-tested, diffed and shown by ``forescale render``.
"""

from forescale.resources.children import build_children
from forescale.resources.owner import Owner

__all__ = ["Owner", "build_children"]
