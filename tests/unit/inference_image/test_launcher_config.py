"""The launcher's command-line and token handling: what vLLM receives, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.inference_image.launcher_support import (
    BASIC_ARGS,
    error_line,
    make_sandbox,
    run_launcher,
)


def test_passes_the_vllm_command_through_unchanged(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    result = run_launcher([*BASIC_ARGS, "--enable-prefix-caching"], box.env())
    assert result.returncode == 0, result.stderr
    (call,) = box.calls("vllm")
    assert call["argv"] == [*BASIC_ARGS[1:], "--enable-prefix-caching"]
    assert "starting vllm serve meta-llama/Llama-3.1-8B-Instruct" in result.stderr


@pytest.mark.parametrize("status", [1, 3])
def test_exits_with_vllms_status(tmp_path: Path, status: int) -> None:
    box = make_sandbox(tmp_path)
    result = run_launcher(BASIC_ARGS, box.env(FAKE_VLLM_EXIT=str(status)))
    assert result.returncode == status


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "start with `vllm serve MODEL`"),
        (["python3", "-m", "vllm.entrypoints.openai.api_server"], "got `python3 -m vllm"),
        (["serve", "org/model"], "start with `vllm serve MODEL`"),
        (["vllm", "serve"], "needs the model as its first argument"),
        (["vllm", "serve", "--port=8000"], "needs the model as its first argument"),
        ([*BASIC_ARGS, "--port=9000"], "--port is given more than once"),
        ([*BASIC_ARGS, "--host", "127.0.0.1"], "--host is given more than once"),
        (["vllm", "serve", "m", "--port=0"], "--port=0 must be between 1 and 65535"),
        (["vllm", "serve", "m", "--port=http"], "--port=http is not an integer"),
        (["vllm", "serve", "m", "--tensor-parallel-size=0"], "must be >= 1"),
        (["vllm", "serve", "m", "--max-num-seqs", "many"], "--max-num-seqs=many is not an"),
        (["vllm", "serve", "m", "--gpu-memory-utilization=90"], "a fraction in (0, 1]"),
        (["vllm", "serve", "m", "--max-model-len"], "--max-model-len needs a value"),
    ],
    ids=[
        "empty", "old-entrypoint", "no-vllm", "no-model", "flag-as-model", "duplicate-port",
        "duplicate-host", "port-zero", "port-text", "tp-zero", "seqs-text", "gpu-percent",
        "missing-value",
    ],
)  # fmt: skip
def test_bad_command_lines_stop_with_one_clear_error(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    box = make_sandbox(tmp_path)
    result = run_launcher(args, box.env())
    assert result.returncode == 2
    assert expected in error_line(result.stderr)
    assert box.calls("vllm") == [], "vLLM must not start on a bad configuration"
    assert "Traceback" not in result.stderr


def test_duplicate_port_error_points_at_extra_args(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    result = run_launcher([*BASIC_ARGS, "--port=9000"], box.env())
    assert "spec.engine.extraArgs" in error_line(result.stderr)


def test_hf_token_is_trimmed_and_exported_under_both_names(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    result = run_launcher(BASIC_ARGS, box.env(HF_TOKEN="hf_abc123\n"))
    assert result.returncode == 0, result.stderr
    (call,) = box.calls("vllm")
    assert call["env"]["HF_TOKEN"] == "hf_abc123"
    assert call["env"]["HUGGING_FACE_HUB_TOKEN"] == "hf_abc123"


def test_hf_token_does_not_override_an_explicit_legacy_name(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    env = box.env(HF_TOKEN="hf_new", HUGGING_FACE_HUB_TOKEN="hf_old")
    assert run_launcher(BASIC_ARGS, env).returncode == 0
    assert box.calls("vllm")[0]["env"]["HUGGING_FACE_HUB_TOKEN"] == "hf_old"


@pytest.mark.parametrize(
    ("token", "expected"),
    [("", "HF_TOKEN is set but empty"), ("  \n", "HF_TOKEN is set but empty"),
     ("hf_a hf_b", "contains whitespace inside the token")],
    ids=["empty", "blank", "two-words"],
)  # fmt: skip
def test_a_bad_token_names_the_secret_field(tmp_path: Path, token: str, expected: str) -> None:
    box = make_sandbox(tmp_path)
    result = run_launcher(BASIC_ARGS, box.env(HF_TOKEN=token))
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert expected in line
    assert "tokenSecret" in line
    assert box.calls("vllm") == []


def test_without_a_token_nothing_token_related_is_set(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    assert run_launcher(BASIC_ARGS, box.env()).returncode == 0
    env = box.calls("vllm")[0]["env"]
    assert env["HF_TOKEN"] is None
    assert env["HUGGING_FACE_HUB_TOKEN"] is None


def test_missing_vllm_is_a_clear_error(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, vllm=False)
    result = run_launcher(BASIC_ARGS, box.env())
    assert result.returncode == 2
    assert "no `vllm` executable on PATH" in error_line(result.stderr)


def test_the_logged_command_hides_secret_values(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    args = [*BASIC_ARGS, "--api-key=sk-very-secret", "--hf-token", "hf_secret", "--seed=1"]
    result = run_launcher(args, box.env())
    assert result.returncode == 0, result.stderr
    assert "sk-very-secret" not in result.stderr
    assert "hf_secret" not in result.stderr
    assert "--api-key=*** --hf-token *** --seed=1" in result.stderr
    assert box.calls("vllm")[0]["argv"][-4:] == args[-4:], "vLLM still gets the real values"
