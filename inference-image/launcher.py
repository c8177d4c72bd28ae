#!/usr/bin/env python3
"""forescale's launcher for vLLM: the ENTRYPOINT of the bundled inference image.

The Deployment forescale renders passes the whole command as container args
(``vllm serve MODEL --flag=value ...``) and describes the weights through the environment:

* ``HF_TOKEN``               Hugging Face token (from the Secret in
                             ``spec.model.source.huggingFace.tokenSecret``); stripped of the
                             trailing newline files often carry, and exported under the older
                             name ``HUGGING_FACE_HUB_TOKEN`` too.
* ``FORESCALE_MODEL_URI``    ``hf://``, ``s3://``, ``gs://`` or ``https://`` (a tar archive):
                             fetched into ``FORESCALE_MODEL_DIR`` (default ``/models``) before
                             vLLM starts; the MODEL argument must then be that directory.
* a MODEL that is a path     weights on a PersistentVolumeClaim: the directory must exist and
                             hold a ``config.json`` (or be a ``.gguf`` file).

It checks all of that first and stops with one ``forescale-launcher: error:`` line naming
the field to fix (exit 2), instead of letting vLLM fail minutes later in a traceback.

Then it runs vLLM as its child rather than exec'ing it: as PID 1 it must forward SIGTERM
(the kubelet's stop signal, after the preStop sleep) to vLLM, which then stops accepting
requests and drains the running ones; it reaps orphaned processes; and a SIGTERM during a
weight download stops the download cleanly. Its exit status is vLLM's (128 + N when vLLM
died of signal N).

Standard library only: it runs inside the vLLM image, whatever Python that image ships.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from types import FrameType

PROG = "forescale-launcher"
URI_ENV = "FORESCALE_MODEL_URI"
DIR_ENV = "FORESCALE_MODEL_DIR"
DEFAULT_MODEL_DIR = "/models"
COMPLETE_MARKER = ".forescale-source"
"""Written into the model directory after a fetch; a restarted container skips the fetch."""
URI_SCHEMES = ("hf://", "s3://", "gs://", "https://")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
USAGE_ERROR = 2
FETCH_ERROR = 1

# Numeric vLLM flags checked here, with their lower and upper bounds (None: unbounded).
_INT_FLAGS: dict[str, tuple[int, int | None]] = {
    "--port": (1, 65535),
    "--tensor-parallel-size": (1, None),
    "--pipeline-parallel-size": (1, None),
    "--max-num-seqs": (1, None),
    "--max-model-len": (1, None),
}
_FRACTION_FLAGS = ("--gpu-memory-utilization",)
_SINGLE_FLAGS = ("--port", "--host", "--served-model-name")
_SECRET_WORDS = ("key", "token", "secret", "password")


class ConfigError(Exception):
    """Bad configuration: the message says what to change."""


class FetchError(Exception):
    """The weights could not be fetched."""


class StopSignalError(Exception):
    """A stop signal arrived before vLLM was started."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# --- configuration ---------------------------------------------------------------------


def split_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    """Check ``vllm serve MODEL ...`` and return (model, the arguments after it)."""
    if len(argv) < 2 or argv[0] != "vllm" or argv[1] != "serve":
        shown = " ".join(argv[:3]) or "(nothing)"
        raise ConfigError(
            f"expected the container args to start with `vllm serve MODEL`, got `{shown}`; "
            "this image's entrypoint is the forescale launcher, set args (not command) to "
            "the full vllm command line"
        )
    if len(argv) < 3 or argv[2].startswith("-"):
        raise ConfigError("`vllm serve` needs the model as its first argument (spec.model.name)")
    return argv[2], list(argv[3:])


def _flag_values(args: Sequence[str], flag: str) -> list[str]:
    """Values of ``flag`` given as ``--flag=value`` or ``--flag value``."""
    values = []
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            values.append(arg.split("=", 1)[1])
        elif arg == flag:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(f"{flag} needs a value")
            values.append(args[i + 1])
    return values


def check_flags(args: Sequence[str]) -> None:
    """Catch the flag mistakes that would otherwise surface as a vLLM traceback."""
    for flag in _SINGLE_FLAGS:
        if len(_flag_values(args, flag)) > 1:
            raise ConfigError(
                f"{flag} is given more than once; forescale sets it (remove it from "
                "spec.engine.extraArgs)"
            )
    for flag, (low, high) in _INT_FLAGS.items():
        for value in _flag_values(args, flag):
            try:
                number = int(value)
            except ValueError:
                raise ConfigError(f"{flag}={value} is not an integer") from None
            if number < low or (high is not None and number > high):
                bound = f">= {low}" if high is None else f"between {low} and {high}"
                raise ConfigError(f"{flag}={value} must be {bound}")
    for flag in _FRACTION_FLAGS:
        for value in _flag_values(args, flag):
            try:
                fraction = float(value)
            except ValueError:
                raise ConfigError(f"{flag}={value} is not a number") from None
            if not 0 < fraction <= 1:
                raise ConfigError(f"{flag}={value} must be a fraction in (0, 1]")


def hf_token(environ: MutableMapping[str, str]) -> None:
    """Validate and normalise ``HF_TOKEN`` in place."""
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
    environ["HF_TOKEN"] = token
    environ.setdefault("HUGGING_FACE_HUB_TOKEN", token)


def check_local_model(model: str) -> None:
    """A model path (weights on a PVC) must exist and look like a model."""
    path = Path(model)
    if path.is_file() and path.suffix == ".gguf":
        return
    if not path.exists():
        parent = path.parent
        listing = sorted(p.name for p in parent.iterdir())[:10] if parent.is_dir() else []
        hint = f" ({parent} holds: {', '.join(listing)})" if listing else ""
        raise ConfigError(
            f"model path {model} does not exist{hint}: check spec.model.name and "
            "spec.model.source.pvc (claimName, subPath)"
        )
    if not path.is_dir():
        raise ConfigError(f"model path {model} is a file, not a model directory")
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"model path {model} has no config.json: it is not a Hugging Face model "
            "directory (is spec.model.source.pvc.subPath pointing one level too high?)"
        )


def resolve_source(model: str, environ: MutableMapping[str, str]) -> tuple[str | None, Path | None]:
    """(URI, directory) when weights must be fetched; checks a local model otherwise."""
    uri = environ.get(URI_ENV, "").strip()
    if uri:
        if not uri.startswith(URI_SCHEMES):
            raise ConfigError(
                f"{URI_ENV}={uri} is not supported; spec.model.source.uri takes "
                + ", ".join(URI_SCHEMES)
            )
        directory = Path(environ.get(DIR_ENV) or DEFAULT_MODEL_DIR)
        if Path(model) != directory:
            raise ConfigError(
                f"with {URI_ENV} set, the model argument must be {directory} (where the "
                f"weights are fetched to), got {model}"
            )
        if uri.startswith("https://") and not uri.split("?", 1)[0].endswith(ARCHIVE_SUFFIXES):
            raise ConfigError(
                f"{uri}: an https:// source must be a .tar, .tar.gz or .tgz archive of the "
                "model directory"
            )
        return uri, directory
    if model.startswith("/"):
        check_local_model(model)
    return None, None


# --- fetching the weights ---------------------------------------------------------------


def _tool(*names: str, scheme: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise FetchError(
        f"fetching {scheme} URIs needs one of {', '.join(names)} on PATH in the image; "
        "build inference-image with --build-arg EXTRA_PIP_PACKAGES=... (see its Dockerfile) "
        "or put the weights on a PVC (spec.model.source.pvc)"
    )


def fetch_command(uri: str, directory: Path) -> list[str] | None:
    """The command that copies ``uri`` into ``directory`` (None: fetched in-process)."""
    if uri.startswith("hf://"):
        repo, _, revision = uri.removeprefix("hf://").partition("@")
        tool = _tool("hf", "huggingface-cli", scheme="hf://")
        command = [tool, "download", repo, "--local-dir", str(directory)]
        return command + (["--revision", revision] if revision else [])
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
    """Stream an https:// tar archive and unpack it into ``directory``."""
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
    finally:  # also when a stop signal interrupts the download
        partial.unlink(missing_ok=True)


def fetch(uri: str, directory: Path) -> None:
    """Bring the weights at ``uri`` into ``directory`` unless a previous run did."""
    marker = directory / COMPLETE_MARKER
    if marker.is_file() and marker.read_text().strip() == uri:
        log(f"weights from {uri} already in {directory} (container restart): not fetching")
        return
    directory.mkdir(parents=True, exist_ok=True)
    log(f"fetching {uri} into {directory}")
    command = fetch_command(uri, directory)
    if command is None:
        download_archive(uri, directory)
    else:
        status = supervise(command)
        if _stop_signal is not None:
            raise StopSignalError(_stop_signal)
        if status != 0:
            raise FetchError(f"`{' '.join(command)}` exited with status {status}")
    marker.write_text(uri + "\n")
    log(f"fetched {uri}")


def redact(args: Sequence[str]) -> list[str]:
    """The command line for the log, with the values of secret-looking flags hidden."""
    shown: list[str] = []
    hide_next = False
    for arg in args:
        name = arg.split("=", 1)[0].lower()
        secret = arg.startswith("--") and any(w in name for w in _SECRET_WORDS)
        if hide_next:
            shown.append("***")
        elif secret and "=" in arg:
            shown.append(arg.split("=", 1)[0] + "=***")
        else:
            shown.append(arg)
        hide_next = secret and "=" not in arg
    return shown


# --- running children -------------------------------------------------------------------


_stop_signal: int | None = None
"""The first stop signal received, if any."""


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    global _stop_signal  # noqa: PLW0603 - process-wide by nature
    _stop_signal = signum
    raise StopSignalError(signum)


def supervise(command: Sequence[str]) -> int:
    """Run ``command`` as a child, forwarding stop signals; return its exit status.

    The forwarding handler is installed before the child starts, so a signal that arrives
    in between is delivered as soon as the child exists. As PID 1 the launcher also reaps
    any orphan reparented to it while it waits.
    """
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        global _stop_signal  # noqa: PLW0603 - process-wide by nature
        _stop_signal = _stop_signal or signum
        if child is None:
            pending.append(signum)
            return
        name = signal.Signals(signum).name
        log(f"received {name}: forwarding it to {Path(command[0]).name} (pid {child.pid})")
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            os.kill(child.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        child = subprocess.Popen(list(command))
        for signum in pending:
            forward(signum, None)
        try:
            while True:
                pid, status = os.waitpid(-1, 0)
                if pid == child.pid:
                    child.returncode = os.waitstatus_to_exitcode(status)
                    break
        except ChildProcessError:  # somebody else reaped it: ask Popen
            child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = child.returncode
    return 128 - code if code < 0 else code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ
    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, _raise_terminated)
    try:
        model, flags = split_command(args)
        check_flags(flags)
        hf_token(environ)
        uri, directory = resolve_source(model, environ)
        vllm = shutil.which("vllm")
        if vllm is None:
            raise ConfigError("no `vllm` executable on PATH: is this a vLLM image?")
        if uri is not None and directory is not None:
            fetch(uri, directory)
            if not (directory / "config.json").is_file() and not list(directory.glob("*.gguf")):
                raise ConfigError(
                    f"{uri} was fetched into {directory} but holds no config.json: "
                    "spec.model.source.uri must point at the model directory itself"
                )
    except ConfigError as error:
        log(f"error: {error}")
        return USAGE_ERROR
    except FetchError as error:
        log(f"error: {error}")
        return FETCH_ERROR
    except StopSignalError as stop:
        log(f"received {stop} before vLLM started: exiting")
        return 128 + stop.signum
    try:
        log("starting " + " ".join(redact(["vllm", *args[1:]])))
        return supervise([vllm, *args[1:]])
    except StopSignalError as stop:  # arrived before the forwarding handler was in place
        log(f"received {stop} before vLLM started: exiting")
        return 128 + stop.signum


if __name__ == "__main__":
    sys.exit(main())
