#!/usr/bin/env python3
"""forescale's model fetcher: the init container of a replica whose weights need fetching.

vLLM itself starts from the container command forescale renders (``vllm serve ...``): it
handles its signals, downloads hub models (``hf://`` and plain ids) into ``HF_HOME`` and
validates its flags. What vLLM does not do runs here, before it, as an init container:

* ``HF_TOKEN``             (spec.model.source.huggingFace.tokenSecret) must hold one token:
                           an empty key or a file with two words fails here with the field
                           to fix, not minutes later as a 401 in a vLLM traceback.
* ``FORESCALE_MODEL_URI``  ``s3://``, ``gs://`` or ``https://`` (a .tar/.tar.gz/.tgz
                           archive of the model directory), fetched into
                           ``FORESCALE_MODEL_DIR`` on the model cache volume.

A fetch lands in a private partial directory and is renamed into place when complete, so
replicas sharing a cache (a ReadWriteMany PVC, a node-local path) never serve, or both
write, a half-fetched model; a directory already in place (a restart, another replica) is
used as is. Errors are one ``forescale-fetch-model: error:`` line (exit 2: configuration,
1: the fetch failed). SIGTERM stops a fetch (the download tool is killed with it).

Standard library only: it runs in the inference image, whatever Python that image ships.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

PROG = "forescale-fetch-model"
URI_ENV = "FORESCALE_MODEL_URI"
DIR_ENV = "FORESCALE_MODEL_DIR"
URI_SCHEMES = ("s3://", "gs://", "https://")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
SOURCE_MARKER = ".forescale-source"
"""Written into a fetched model directory: the URI it came from."""
USAGE_ERROR = 2
FETCH_ERROR = 1


class ConfigError(Exception):
    """Bad configuration: the message says what to change."""


class FetchError(Exception):
    """The weights could not be fetched."""


class StopSignalError(Exception):
    """SIGTERM or SIGINT arrived."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def check_token(environ: Mapping[str, str]) -> None:
    """``HF_TOKEN``, when set, must be one token (surrounding whitespace is fine)."""
    if "HF_TOKEN" not in environ:
        return
    token = environ["HF_TOKEN"].strip()
    if not token:
        raise ConfigError(
            "HF_TOKEN is set but empty: the key of the Secret in "
            "spec.model.source.huggingFace.tokenSecret holds no token"
        )
    if any(c.isspace() for c in token):
        raise ConfigError(
            "HF_TOKEN contains whitespace inside the token: the Secret holds more than a "
            "token (check the key spec.model.source.huggingFace.tokenSecret.key points at)"
        )


def source(environ: Mapping[str, str]) -> tuple[str, Path] | None:
    """(URI, target directory) to fetch, or None when there is nothing to fetch."""
    uri = environ.get(URI_ENV, "").strip()
    if not uri:
        return None
    if not uri.startswith(URI_SCHEMES):
        raise ConfigError(
            f"{URI_ENV}={uri} is not supported here; this fetcher takes "
            + ", ".join(URI_SCHEMES)
            + " (hf:// is downloaded by vLLM itself)"
        )
    if uri.startswith("https://") and not uri.split("?", 1)[0].endswith(ARCHIVE_SUFFIXES):
        raise ConfigError(
            f"{uri}: an https:// source must be a .tar, .tar.gz or .tgz archive of the "
            "model directory"
        )
    directory = environ.get(DIR_ENV, "").strip()
    if not directory.startswith("/"):
        raise ConfigError(f"{DIR_ENV} must be an absolute directory, got {directory!r}")
    return uri, Path(directory)


def _tool(*names: str, scheme: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise FetchError(
        f"fetching {scheme} URIs needs one of {', '.join(names)} on PATH in the fetch image; "
        "build inference-image with --build-arg EXTRA_PIP_PACKAGES=... (see its Dockerfile) "
        "or put the weights on a PVC (spec.model.source.pvc)"
    )


def fetch_command(uri: str, directory: Path) -> list[str] | None:
    """The command that copies ``uri`` into ``directory`` (None: fetched in-process)."""
    if uri.startswith("s3://"):
        tool = _tool("aws", "s5cmd", scheme="s3://")
        if Path(tool).name == "s5cmd":
            return [tool, "sync", uri.rstrip("/") + "/*", f"{directory}/"]
        return [tool, "s3", "sync", uri, str(directory), "--only-show-errors"]
    if uri.startswith("gs://"):
        tool = _tool("gcloud", "gsutil", scheme="gs://")
        if Path(tool).name == "gsutil":
            return [tool, "-m", "rsync", "-r", uri, str(directory)]
        return [tool, "storage", "rsync", "--recursive", uri, str(directory)]
    return None


def download_archive(uri: str, directory: Path) -> None:
    """Stream an https:// tar archive (TLS verified) and unpack it into ``directory``."""
    handle, name = tempfile.mkstemp(dir=directory, prefix=".download-")
    partial = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            request = urllib.request.Request(uri, headers={"User-Agent": PROG})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    shutil.copyfileobj(response, out, length=1 << 20)
            except (urllib.error.URLError, OSError) as error:
                raise FetchError(f"download of {uri} failed: {error}") from None
        try:
            with tarfile.open(partial) as archive:
                archive.extractall(directory, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise FetchError(f"{uri} is not a readable tar archive: {error}") from None
    finally:
        partial.unlink(missing_ok=True)


def fetch(uri: str, directory: Path) -> None:
    """Bring ``uri`` into ``directory`` through a partial directory renamed when complete."""
    if (directory / SOURCE_MARKER).is_file():
        log(f"{directory} already holds {uri} (restart or another replica): not fetching")
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(
        tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.{socket.gethostname()}.")
    )
    try:
        log(f"fetching {uri} into {directory}")
        command = fetch_command(uri, partial)
        if command is None:
            download_archive(uri, partial)
        else:
            status = subprocess.run(command, check=False).returncode  # killed on a signal
            if status != 0:
                raise FetchError(f"`{' '.join(command)}` exited with status {status}")
        if not (partial / "config.json").is_file() and not list(partial.glob("*.gguf")):
            raise ConfigError(
                f"{uri} holds no config.json: spec.model.source.uri must point at the model "
                "directory itself"
            )
        (partial / SOURCE_MARKER).write_text(uri + "\n")
        try:
            partial.rename(directory)
        except OSError:  # another replica finished first: use its copy
            if not (directory / SOURCE_MARKER).is_file():
                raise
            log(f"{directory} was completed by another replica meanwhile: using it")
        else:
            log(f"fetched {uri}")
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise StopSignalError(signum)


def main() -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    try:
        check_token(os.environ)
        wanted = source(os.environ)
        if wanted is not None:
            fetch(*wanted)
    except ConfigError as error:
        log(f"error: {error}")
        return USAGE_ERROR
    except FetchError as error:
        log(f"error: {error}")
        return FETCH_ERROR
    except StopSignalError as stop:
        log(f"received {stop}: stopping")
        return 128 + stop.signum
    return 0


if __name__ == "__main__":
    sys.exit(main())
