"""Where the weights come from: a PVC path, a hub id, or a URI fetched before vLLM starts."""

from __future__ import annotations

import io
import ssl
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from forescale.sandbox.certificates import write_pki
from tests.unit.inference_image.launcher_support import (
    error_line,
    make_sandbox,
    run_launcher,
)

FLAGS = ["--host=0.0.0.0", "--port=8000"]


def _model_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def test_pvc_model_directory_is_checked_and_served(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    model = _model_dir(tmp_path / "models" / "llama")
    result = run_launcher(["vllm", "serve", str(model), *FLAGS], box.env())
    assert result.returncode == 0, result.stderr
    assert box.calls("vllm")[0]["argv"][:2] == ["serve", str(model)]


def test_missing_pvc_path_lists_what_the_volume_holds(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    _model_dir(tmp_path / "models" / "llama-3.1-8b")
    missing = tmp_path / "models" / "llama"
    result = run_launcher(["vllm", "serve", str(missing), *FLAGS], box.env())
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert f"model path {missing} does not exist" in line
    assert "llama-3.1-8b" in line
    assert "spec.model.source.pvc" in line
    assert box.calls("vllm") == []


def test_directory_without_config_json_is_refused(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    (tmp_path / "models" / "org" / "llama").mkdir(parents=True)
    result = run_launcher(["vllm", "serve", str(tmp_path / "models"), *FLAGS], box.env())
    assert result.returncode == 2
    assert "has no config.json" in error_line(result.stderr)
    assert "subPath" in error_line(result.stderr)


def test_a_gguf_file_is_a_valid_local_model(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    weights = tmp_path / "model.Q4_K_M.gguf"
    weights.write_bytes(b"GGUF")
    assert run_launcher(["vllm", "serve", str(weights), *FLAGS], box.env()).returncode == 0


def test_hub_models_are_left_to_vllm(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("hf",))
    result = run_launcher(["vllm", "serve", "Qwen/Qwen2.5-0.5B", *FLAGS], box.env())
    assert result.returncode == 0, result.stderr
    assert box.calls("hf") == []


def test_hf_uri_is_fetched_with_its_revision_before_vllm_starts(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("hf",))
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="hf://org/model@v2", FORESCALE_MODEL_DIR=str(target))
    result = run_launcher(["vllm", "serve", str(target), *FLAGS], env)
    assert result.returncode == 0, result.stderr
    programs = [e["program"] for e in box.events() if "program" in e]
    assert programs == ["hf", "vllm"]
    (fetch,) = box.calls("hf")
    assert fetch["argv"] == [
        "download", "org/model", "--local-dir", str(target), "--revision", "v2"
    ]  # fmt: skip
    assert (target / ".forescale-source").read_text() == "hf://org/model@v2\n"


def test_a_restarted_container_does_not_fetch_again(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("hf",))
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="hf://org/model", FORESCALE_MODEL_DIR=str(target))
    for _ in range(2):
        assert run_launcher(["vllm", "serve", str(target), *FLAGS], env).returncode == 0
    assert len(box.calls("hf")) == 1
    assert len(box.calls("vllm")) == 2


def test_s3_prefers_the_aws_cli(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("aws", "s5cmd"))
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="s3://bucket/llama/", FORESCALE_MODEL_DIR=str(target))
    assert run_launcher(["vllm", "serve", str(target), *FLAGS], env).returncode == 0
    (call,) = box.calls("aws")
    assert call["argv"][:4] == ["s3", "sync", "s3://bucket/llama/", str(target)]


def test_s3_falls_back_to_s5cmd(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("s5cmd",))
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="s3://bucket/llama", FORESCALE_MODEL_DIR=str(target))
    assert run_launcher(["vllm", "serve", str(target), *FLAGS], env).returncode == 0
    (call,) = box.calls("s5cmd")
    assert call["argv"] == ["sync", "s3://bucket/llama/*", f"{target}/"]


def test_a_missing_download_tool_says_what_to_add(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI="gs://bucket/llama", FORESCALE_MODEL_DIR=str(target))
    result = run_launcher(["vllm", "serve", str(target), *FLAGS], env)
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "gcloud, gsutil" in line
    assert "EXTRA_PIP_PACKAGES" in line
    assert box.calls("vllm") == []


def test_a_failed_download_stops_before_vllm(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("hf",))
    target = tmp_path / "models"
    env = box.env(
        FORESCALE_MODEL_URI="hf://org/model", FORESCALE_MODEL_DIR=str(target),
        FAKE_FETCH_MODE="fail",
    )  # fmt: skip
    result = run_launcher(["vllm", "serve", str(target), *FLAGS], env)
    assert result.returncode == 1
    assert "exited with status 4" in error_line(result.stderr)
    assert box.calls("vllm") == []
    assert not (target / ".forescale-source").exists()


def test_a_uri_that_is_not_a_model_directory_is_refused(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, fetchers=("hf",))
    target = tmp_path / "models"
    env = box.env(
        FORESCALE_MODEL_URI="hf://org/datasets", FORESCALE_MODEL_DIR=str(target),
        FAKE_FETCH_MODE="empty",
    )  # fmt: skip
    result = run_launcher(["vllm", "serve", str(target), *FLAGS], env)
    assert result.returncode == 2
    assert "must point at the model directory itself" in error_line(result.stderr)
    assert box.calls("vllm") == []


@pytest.mark.parametrize(
    ("uri", "model", "expected"),
    [
        ("ftp://host/model", "DIR", "is not supported"),
        ("hf://org/model", "/elsewhere", "the model argument must be"),
        ("https://host/model.safetensors", "DIR", "must be a .tar, .tar.gz or .tgz archive"),
    ],
    ids=["scheme", "model-not-the-target", "https-not-archive"],
)
def test_inconsistent_uri_configuration_is_refused(
    tmp_path: Path, uri: str, model: str, expected: str
) -> None:
    box = make_sandbox(tmp_path, fetchers=("hf",))
    target = tmp_path / "models"
    env = box.env(FORESCALE_MODEL_URI=uri, FORESCALE_MODEL_DIR=str(target))
    result = run_launcher(["vllm", "serve", str(target) if model == "DIR" else model], env)
    assert result.returncode == 2
    assert expected in error_line(result.stderr)
    assert box.events() == []


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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.serving_cert, pki.serving_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", pki.ca_cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_https_archive_is_downloaded_verified_and_unpacked(
    tmp_path: Path, https_server: tuple[str, Path]
) -> None:
    base, ca = https_server
    box = make_sandbox(tmp_path)
    target = tmp_path / "models"
    env = box.env(
        FORESCALE_MODEL_URI=f"{base}/model.tar.gz", FORESCALE_MODEL_DIR=str(target),
        SSL_CERT_FILE=str(ca),
    )  # fmt: skip
    result = run_launcher(["vllm", "serve", str(target), *FLAGS], env)
    assert result.returncode == 0, result.stderr
    assert (target / "config.json").read_text() == "{}"
    assert (target / "model.safetensors").stat().st_size == 1024
    assert not list(target.glob(".download-*")), "the partial download is removed"
    assert box.calls("vllm")[0]["argv"][1] == str(target)


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
    result = run_launcher(["vllm", "serve", str(target), *FLAGS], env)
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in error_line(result.stderr)
    assert box.calls("vllm") == []


def test_https_404_is_reported(tmp_path: Path, https_server: tuple[str, Path]) -> None:
    base, ca = https_server
    box = make_sandbox(tmp_path)
    target = tmp_path / "models"
    env = box.env(
        FORESCALE_MODEL_URI=f"{base}/missing.tar", FORESCALE_MODEL_DIR=str(target),
        SSL_CERT_FILE=str(ca),
    )  # fmt: skip
    result = run_launcher(["vllm", "serve", str(target), *FLAGS], env)
    assert result.returncode == 1
    assert "HTTP Error 404" in error_line(result.stderr)
