"""Locate the control-plane binaries that ``hack/build-binaries.sh`` builds.

Why this exists: the versions of kube-apiserver, etcd, kwok ... are pinned in exactly one
file, ``hack/versions.env``. The build script caches each component under
``~/.cache/forescale/bin/<component>-<version>/``; this module reads the same file so that
a version bump moves Python to the new binaries with no second edit, and a stale binary
of an older version is never used by accident.

Overrides, in order:
- ``FORESCALE_BIN_DIR``: one directory holding every binary (e.g. a CI image).
- ``FORESCALE_BIN_CACHE``: the cache root used by the build script.
- Any key of ``versions.env`` set in the environment (e.g. ``KUBERNETES_TRACK=fallback``),
  exactly as the build script honours it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

VERSIONS_FILE_ENV = "FORESCALE_VERSIONS_FILE"
BIN_DIR_ENV = "FORESCALE_BIN_DIR"
BIN_CACHE_ENV = "FORESCALE_BIN_CACHE"

# binary name -> (component family, versions.env key holding the version)
_FAMILIES: dict[str, str] = {
    "kube-apiserver": "kubernetes",
    "kube-controller-manager": "kubernetes",
    "kube-scheduler": "kubernetes",
    "kubectl": "kubernetes",
    "etcd": "etcd",
    "kwok": "kwok",
    # KEDA: only `sandbox up --with-keda`, `sandbox compare` and their e2e test need it.
    "keda-operator": "keda",
    "keda-adapter": "keda",
    # Argo CD's Lua VM (hack/argocd-lua): only the health-check tests need it.
    "argocd-lua": "argocd-lua",
}
_NOT_CONTROL_PLANE = {"keda", "argocd-lua"}

# Binaries for which a system-wide install is an acceptable stand-in: kubectl is a client
# and is version-skew tolerant (+/- one minor), unlike the servers we test against.
_SYSTEM_FALLBACK = {"kubectl"}


class BinaryNotFoundError(FileNotFoundError):
    """A control-plane binary is missing; the message says how to build it."""


@dataclass(frozen=True)
class Versions:
    """The pinned versions, resolved (track applied, environment overrides applied)."""

    kubernetes: str
    etcd: str
    kwok: str
    keda: str = ""
    """Empty when versions.env pins no KEDA (a checkout older than the KEDA step)."""
    argocd_lua: str = ""
    """gopher-lua's version and a hash of hack/argocd-lua, as build-binaries.sh keys it."""

    def of(self, family: str) -> str:
        """Version of one component family (``kubernetes``, ``etcd``, ``kwok``, ``keda``,
        ``argocd-lua``)."""
        value: str = getattr(self, family.replace("-", "_"))
        return value


def repo_root() -> Path | None:
    """The checkout this package lives in (or the cwd's), found by ``hack/versions.env``.

    Walking up from both places keeps an editable install and a plain checkout working.
    """
    starts = [Path(__file__).resolve().parent, Path.cwd().resolve()]
    for start in starts:
        for candidate in (start, *start.parents):
            if (candidate / "hack" / "versions.env").is_file():
                return candidate
    return None


def versions_file() -> Path:
    """Path of ``hack/versions.env`` (or ``$FORESCALE_VERSIONS_FILE``)."""
    override = os.environ.get(VERSIONS_FILE_ENV)
    if override:
        return Path(override)
    root = repo_root()
    if root is None:
        raise BinaryNotFoundError(
            "cannot find hack/versions.env: run from the forescale checkout or set "
            f"{VERSIONS_FILE_ENV}"
        )
    return root / "hack" / "versions.env"


def parse_versions_env(text: str) -> dict[str, str]:
    """Parse the ``KEY=VALUE`` lines of versions.env (comments and blanks ignored)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def module_hash(module: Path) -> str:
    """The first 12 hex digits of sha256(go.mod, go.sum, main.go), as build-binaries.sh
    computes it for hack/argocd-lua; empty when the module is absent."""
    parts = [module / name for name in ("go.mod", "go.sum", "main.go")]
    if not all(part.is_file() for part in parts):
        return ""
    return hashlib.sha256(b"".join(part.read_bytes() for part in parts)).hexdigest()[:12]


def resolve_versions(
    values: dict[str, str], environ: dict[str, str] | None = None, hack: Path | None = None
) -> Versions:
    """Apply environment overrides and the Kubernetes track, as build-binaries.sh does
    (``hack``: the directory holding hack/argocd-lua, for its key)."""
    env = dict(os.environ) if environ is None else environ
    merged = {key: env.get(key) or value for key, value in values.items()}
    track = env.get("KUBERNETES_TRACK") or merged.get("KUBERNETES_TRACK", "primary")
    if track not in ("primary", "fallback"):
        raise ValueError(f"KUBERNETES_TRACK must be primary or fallback, not {track!r}")
    kubernetes = merged[f"KUBERNETES_{track.upper()}_VERSION"]
    return Versions(
        kubernetes=kubernetes,
        etcd=merged["ETCD_VERSION"],
        kwok=merged["KWOK_VERSION"],
        keda=merged.get("KEDA_VERSION", ""),
        argocd_lua=_argocd_lua_key(merged.get("GOPHER_LUA_VERSION", ""), hack),
    )


def _argocd_lua_key(version: str, hack: Path | None) -> str:
    digest = module_hash(hack / "argocd-lua") if hack is not None else ""
    return f"{version}-{digest}" if version and digest else ""


def versions() -> Versions:
    """The versions in force for this process."""
    path = versions_file()
    return resolve_versions(parse_versions_env(path.read_text()), hack=path.parent)


def cache_root() -> Path:
    """Root of the binary cache shared with hack/build-binaries.sh."""
    override = os.environ.get(BIN_CACHE_ENV)
    return Path(override) if override else Path.home() / ".cache" / "forescale" / "bin"


def find(name: str) -> Path:
    """Absolute path of the executable ``name`` (e.g. ``kube-apiserver``).

    Raises BinaryNotFoundError naming the exact build command, so a test that needs a
    missing binary fails with a reason instead of being skipped.
    """
    if name not in _FAMILIES:
        raise KeyError(f"unknown control-plane binary {name!r}; known: {sorted(_FAMILIES)}")
    override = os.environ.get(BIN_DIR_ENV)
    if override:
        candidate = Path(override) / name
        if _is_executable(candidate):
            return candidate.resolve()
        raise BinaryNotFoundError(f"{candidate} is missing or not executable ({BIN_DIR_ENV})")
    family = _FAMILIES[name]
    version = versions().of(family)
    candidate = cache_root() / f"{family}-{version}" / name
    if _is_executable(candidate):
        return candidate
    if name in _SYSTEM_FALLBACK:
        system = shutil.which(name)
        if system:
            return Path(system)
    raise BinaryNotFoundError(
        f"{name} {version} not found at {candidate}; build it with "
        f"`hack/build-binaries.sh {family}` (or set {BIN_DIR_ENV})"
    )


def find_all(names: list[str] | None = None) -> dict[str, Path]:
    """Find several binaries at once, reporting every missing one in a single error.

    Without ``names``: the control plane only (KEDA and Argo CD's Lua VM serve single
    tests and are left out).
    """
    wanted = (
        [n for n, f in _FAMILIES.items() if f not in _NOT_CONTROL_PLANE] if names is None else names
    )
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in wanted:
        try:
            found[name] = find(name)
        except BinaryNotFoundError as error:
            missing.append(str(error))
    if missing:
        raise BinaryNotFoundError("\n".join(missing))
    return found


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
