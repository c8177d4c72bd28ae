"""Fetch the vLLM wheels the contract check reads, into a cache outside the repository.

``python -m forescale.vllm_contract.fetch`` (run by ``make vllm-wheels``, which ``make
install`` runs) downloads, for every release it checks (release.py), the manylinux x86_64
wheel with ``pip download --no-deps --require-hashes`` into
``~/.cache/forescale/vllm/<version>/`` (``FORESCALE_VLLM_CACHE`` overrides the root). A
wheel already there with the right hash is kept, so the step is idempotent and cheap when
warm; a fresh CI machine gets the same files. The wheels are read as zip archives, never
installed or imported: importing vLLM pulls in torch and CUDA.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from forescale.vllm_contract.release import CHECKED_VLLM_VERSIONS, WHEEL_SHA256

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux1_x86_64")
"""pip platform tags: current wheels are manylinux_2_28, 0.10.1's is manylinux1."""


def cache_root() -> Path:
    """Where wheels are cached (one directory per version)."""
    env = os.environ.get("FORESCALE_VLLM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "forescale" / "vllm"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_wheel(version: str, root: Path | None = None) -> Path | None:
    """The cached wheel of ``version`` if present with its pinned hash, else None."""
    directory = (root or cache_root()) / version
    for wheel in sorted(directory.glob(f"vllm-{version}-*.whl")):
        if _sha256(wheel) == WHEEL_SHA256[version]:
            return wheel
    return None


def fetch(version: str, root: Path | None = None) -> Path:
    """Return the wheel of ``version``, downloading it first if it is not cached."""
    found = cached_wheel(version, root)
    if found is not None:
        return found
    directory = (root or cache_root()) / version
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as requirements:
        requirements.write(f"vllm=={version} --hash=sha256:{WHEEL_SHA256[version]}\n")
    try:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", *(f"--platform={p}" for p in PLATFORMS),
                "--python-version=3.11",
                "--require-hashes", "-r", requirements.name, "-d", str(directory),
            ],
            check=True,
        )  # fmt: skip
    finally:
        Path(requirements.name).unlink(missing_ok=True)
    found = cached_wheel(version, root)
    if found is None:
        raise RuntimeError(f"pip download left no vllm {version} wheel in {directory}")
    return found


def main() -> int:
    for version in CHECKED_VLLM_VERSIONS:
        wheel = fetch(version)
        print(f"vllm {version}: {wheel} ({wheel.stat().st_size / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
