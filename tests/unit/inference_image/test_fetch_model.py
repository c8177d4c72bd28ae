"""The init container's fetch script: token checks and s3/gs/https weights into the cache."""

from __future__ import annotations

import io
import signal
import tarfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from forescale.sandbox.certificates import write_pki
from tests.loopback import serving
from tests.unit.inference_image.fetch_support import (
    error_line,
    make_sandbox,
    run_fetch,
    start_fetch,
)


def test_nothing_to_do_without_a_uri_or_token(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    result = run_fetch(box.env())
    assert result.returncode == 0, result.stderr
    assert box.events() == []


def test_a_token_with_a_trailing_newline_is_fine(tmp_path: Path) -> None:
    assert run_fetch(make_sandbox(tmp_path).env(HF_TOKEN="hf_abc123\n")).returncode == 0


@pytest.mark.parametrize(
    ("token", "expected"),
    [("", "HF_TOKEN is set but empty"), ("  \n", "HF_TOKEN is set but empty"),
     ("hf_a hf_b", "contains whitespace inside the token")],
    ids=["empty", "blank", "two-words"],
)  # fmt: skip
def test_a_bad_token_names_the_secret_field(tmp_path: Path, token: str, expected: str) -> None:
    result = run_fetch(make_sandbox(tmp_path).env(HF_TOKEN=token))
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert expected in line
    assert "tokenSecret" in line


def test_s3_prefers_the_aws_cli_and_lands_atomically(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("aws", "s5cmd"))
    target = tmp_path / "cache" / "uri" / "abc"
    env = box.env(FORESCALE_MODEL_URI="s3://bucket/llama/", FORESCALE_MODEL_DIR=str(target))
    result = run_fetch(env)
    assert result.returncode == 0, result.stderr
    (call,) = box.calls("aws")
    assert call["argv"][:3] == ["s3", "sync", "s3://bucket/llama/"]
    # The tool wrote into a private partial directory, renamed into place when complete.
    assert call["argv"][3] != str(target)
    assert Path(call["argv"][3]).parent == target.parent
    assert (target / "config.json").is_file()
    assert (target / ".forescale-source").read_text() == "s3://bucket/llama/\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["abc"]


def test_s3_falls_back_to_s5cmd(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("s5cmd",))
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="s3://bucket/llama", FORESCALE_MODEL_DIR=str(target))
    assert run_fetch(env).returncode == 0
    (call,) = box.calls("s5cmd")
    assert call["argv"][:2] == ["sync", "s3://bucket/llama/*"]


def test_gs_uses_gcloud_storage(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("gcloud",))
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="gs://bucket/llama", FORESCALE_MODEL_DIR=str(target))
    assert run_fetch(env).returncode == 0
    (call,) = box.calls("gcloud")
    assert call["argv"][:4] == ["storage", "rsync", "--recursive", "gs://bucket/llama"]


def test_a_fetched_model_is_not_fetched_again(tmp_path: Path) -> None:
    """A restarted init container, or a second replica on a shared cache, reuses it."""
    box = make_sandbox(tmp_path, fetchers=("aws",))
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="s3://bucket/m", FORESCALE_MODEL_DIR=str(target))
    for _ in range(2):
        assert run_fetch(env).returncode == 0
    assert len(box.calls("aws")) == 1


def test_two_replicas_fetching_into_one_cache_end_with_one_complete_copy(
    tmp_path: Path,
) -> None:
    """docs/operations.md: replicas sharing a cache never read or both write a half-fetched
    model. The slower replica's download finishes after the faster one renamed its copy into
    place: it keeps that copy, removes its own, and succeeds."""
    box = make_sandbox(tmp_path, fetchers=("aws",))
    target = tmp_path / "cache" / "models"
    gate = tmp_path / "gate"
    uri = {"FORESCALE_MODEL_URI": "s3://bucket/m", "FORESCALE_MODEL_DIR": str(target)}
    slower = start_fetch(box.env(**uri, FAKE_FETCH_MODE="gate", FAKE_GATE=str(gate)))
    try:
        box.wait_for("gated")
        faster = run_fetch(box.env(**uri))
        assert faster.returncode == 0, faster.stderr
        first_copy = (target / "config.json").stat().st_ino
        gate.touch()
        _, stderr = slower.communicate(timeout=30)
    finally:
        if slower.poll() is None:
            slower.kill()
            slower.communicate()
    assert slower.returncode == 0, stderr
    assert "completed by another replica meanwhile: using it" in stderr
    assert (target / "config.json").stat().st_ino == first_copy
    assert sorted(p.name for p in target.parent.iterdir()) == ["models"]  # no partial left


def test_a_missing_download_tool_says_what_to_add(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="gs://bucket/llama", FORESCALE_MODEL_DIR=str(target))
    result = run_fetch(env)
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "gcloud, gsutil" in line
    assert "EXTRA_PIP_PACKAGES" in line


def test_a_failed_download_leaves_nothing_behind(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("aws",))
    target = tmp_path / "cache" / "models"
    env = box.env(
        FORESCALE_MODEL_URI="s3://bucket/m", FORESCALE_MODEL_DIR=str(target),
        FAKE_FETCH_MODE="fail",
    )  # fmt: skip
    result = run_fetch(env)
    assert result.returncode == 1
    assert "exited with status 4" in error_line(result.stderr)
    assert list(target.parent.iterdir()) == []


def test_a_uri_that_is_not_a_model_directory_is_refused(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("aws",))
    target = tmp_path / "models"
    env = box.env(
        FORESCALE_MODEL_URI="s3://bucket/datasets", FORESCALE_MODEL_DIR=str(target),
        FAKE_FETCH_MODE="empty",
    )  # fmt: skip
    result = run_fetch(env)
    assert result.returncode == 2
    assert "must point at the model directory itself" in error_line(result.stderr)
    assert not target.exists()


@pytest.mark.parametrize(
    ("uri", "directory", "expected"),
    [
        ("ftp://host/model", "/cache/m", "is not supported"),
        ("hf://org/model", "/cache/m", "downloaded by vLLM itself"),
        ("https://host/model.safetensors", "/cache/m", "must be a .tar, .tar.gz or .tgz archive"),
        ("s3://bucket/m", "relative/dir", "must be an absolute directory"),
    ],
    ids=["scheme", "hf", "https-not-archive", "relative-dir"],
)
def test_inconsistent_configuration_is_refused(
    tmp_path: Path, uri: str, directory: str, expected: str
) -> None:
    box = make_sandbox(tmp_path, fetchers=("aws",))
    result = run_fetch(box.env(FORESCALE_MODEL_URI=uri, FORESCALE_MODEL_DIR=directory))
    assert result.returncode == 2
    assert expected in error_line(result.stderr)
    assert box.events() == []


def test_sigterm_stops_the_download_and_its_tool(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("aws",))
    target = tmp_path / "cache" / "models"
    env = box.env(
        FORESCALE_MODEL_URI="s3://bucket/m", FORESCALE_MODEL_DIR=str(target),
        FAKE_FETCH_MODE="hang",
    )  # fmt: skip
    process = start_fetch(env)
    try:
        box.wait_for("fetching")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "received SIGTERM" in stderr
    assert list(target.parent.iterdir()) == [], "the partial directory is removed"


# --- https:// over real TLS on loopback ------------------------------------------------------


def _archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in {"config.json": b"{}", "model.safetensors": b"\0" * 1024}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server on 127.0.0.1 serving /model.tar.gz; yields (base URL, CA file).

    Its certificate comes from the sandbox's own PKI (a CA and a serving pair valid for
    127.0.0.1), so the launcher verifies a real chain.
    """
    pki = write_pki(tmp_path / "pki")
    body = _archive()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/model.tar.gz":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    tls = (pki.serving_cert, pki.serving_key)
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler), tls) as server:
        yield f"https://127.0.0.1:{server.server_address[1]}", pki.ca_cert


def test_https_archive_is_downloaded_verified_and_unpacked(
    tmp_path: Path, https_server: tuple[str, Path]
) -> None:
    base, ca = https_server
    box = make_sandbox(tmp_path)
    target = tmp_path / "cache" / "uri" / "abc"
    env = box.env(
        FORESCALE_MODEL_URI=f"{base}/model.tar.gz", FORESCALE_MODEL_DIR=str(target),
        SSL_CERT_FILE=str(ca),
    )  # fmt: skip
    result = run_fetch(env)
    assert result.returncode == 0, result.stderr
    assert (target / "config.json").read_text() == "{}"
    assert (target / "model.safetensors").stat().st_size == 1024
    assert not list(target.glob(".download-*")), "the partial download is removed"
    assert [p.name for p in target.parent.iterdir()] == ["abc"], "no partial directory left"


def test_https_without_a_trusted_certificate_fails_closed(
    tmp_path: Path, https_server: tuple[str, Path]
) -> None:
    base, _ = https_server
    box = make_sandbox(tmp_path)
    target = tmp_path / "models"
    empty_ca = tmp_path / "empty-ca.pem"
    empty_ca.write_text("")
    env = box.env(
        FORESCALE_MODEL_URI=f"{base}/model.tar.gz", FORESCALE_MODEL_DIR=str(target),
        SSL_CERT_FILE=str(empty_ca), SSL_CERT_DIR=str(tmp_path / "no-certs"),
    )  # fmt: skip
    result = run_fetch(env)
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in error_line(result.stderr)
    assert not target.exists()


def test_https_404_is_reported(tmp_path: Path, https_server: tuple[str, Path]) -> None:
    base, ca = https_server
    box = make_sandbox(tmp_path)
    target = tmp_path / "models"
    env = box.env(
        FORESCALE_MODEL_URI=f"{base}/missing.tar", FORESCALE_MODEL_DIR=str(target),
        SSL_CERT_FILE=str(ca),
    )  # fmt: skip
    result = run_fetch(env)
    assert result.returncode == 1
    assert "HTTP Error 404" in error_line(result.stderr)
