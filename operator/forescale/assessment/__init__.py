"""Pure judgement of an LLMDeployment's health: observed objects in, conditions out.

Kept out of ``handlers`` so that every reason and message a user will read in
``kubectl describe`` is unit-tested without a cluster.
"""
