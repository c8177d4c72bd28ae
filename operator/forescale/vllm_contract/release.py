"""The vLLM release forescale targets: the ONE place its version is written.

Everything else derives from these constants: the bundled inference image's tag (and the
``VLLM_VERSION`` build argument ``make inference-image`` passes to its Dockerfile), the
operator's default engine image, and the wheels the contract check reads
(:mod:`forescale.vllm_contract.check`). Bumping vLLM is a one-line change here followed by
``make test``, which fetches the new wheel and fails on every flag, metric or bucket the
operator relies on that the new release no longer has.

``PREVIOUS_VLLM_VERSION`` (the pin before) and ``OLDEST_VLLM_VERSION`` (the oldest release
the docs describe, the last without ``--shutdown-timeout``) are checked too, so the docs can
say what differs on them (docs/operations.md, "vLLM versions").
"""

from __future__ import annotations

VLLM_VERSION = "0.34.0"
"""The vLLM release the bundled image is built from and the contract is checked against."""

PREVIOUS_VLLM_VERSION = "0.33.0"
"""The release the image pinned before; checked so its differences stay documented."""

OLDEST_VLLM_VERSION = "0.10.1"
"""The oldest release the docs describe (``spec.engine.drain: PreStopWait``); checked so
what breaks on it stays documented."""

CHECKED_VLLM_VERSIONS = (VLLM_VERSION, PREVIOUS_VLLM_VERSION, OLDEST_VLLM_VERSION)
"""Every release the contract check reads (``make vllm-wheels`` fetches their wheels)."""

WHEEL_SHA256: dict[str, str] = {
    # The manylinux x86_64 wheels on PyPI; pip refuses a download whose hash differs.
    "0.34.0": "79ca4b3cd74aec08c4bf476bdf0cb15735b605ae5368526a2faae1e30f044ca2",
    "0.33.0": "4b6bdec4ab269990bf70d45a3c1e94c3760a27064513760193b26d6f0da883aa",
    "0.10.1": "df04a14116750f05099b84db4474935db80e9b13e8b7a6048d3a3cd64aa98b0c",
}

IMAGE_REVISION = "0.2.0"
"""forescale's own revision of the inference image (launcher, user, layout)."""

IMAGE_REPOSITORY = "forescale/vllm-inference"

UPSTREAM_IMAGE = f"vllm/vllm-openai:v{VLLM_VERSION}"
"""The upstream image the bundled one is built FROM."""

DEFAULT_IMAGE = f"{IMAGE_REPOSITORY}:{IMAGE_REVISION}-vllm{VLLM_VERSION}"
"""The operator's default engine image (overridable operator-wide, see handlers/cli.py)."""
