"""The contract check against the published vLLM wheels (``make vllm-wheels`` fetches them).

The pinned release and the previous pin must pass every check; the oldest release the docs
describe fails exactly where docs/operations.md says it does. A missing wheel fails these
tests with the command that fetches it, never skips them. The last tests break a copy of the
pinned wheel on purpose and show each kind of drift is caught, so a passing check means
something.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from forescale.vllm_contract import check
from forescale.vllm_contract.fetch import cached_wheel
from forescale.vllm_contract.release import (
    OLDEST_VLLM_VERSION,
    PREVIOUS_VLLM_VERSION,
    VLLM_VERSION,
)
from forescale.vllm_contract.wheel import VllmFacts, WheelSources, read_wheel
from tests.unit.metrics.fixture_support import fixture_text

REPO = Path(__file__).resolve().parents[3]

OLDEST_BREAKS = {
    "flags: vllm serve does not accept --shutdown-timeout",
    "shutdown: no --shutdown-timeout: SIGTERM aborts in-flight requests; use "
    "spec.engine.drain: PreStopWait with this release",
}
"""How the oldest documented release fails the contract (documented in docs/operations.md)."""


def _wheel(version: str) -> Path:
    wheel = cached_wheel(version)
    if wheel is None:
        pytest.fail(f"no vllm {version} wheel cached: run `make vllm-wheels`")
    return wheel


@pytest.fixture(scope="module")
def pinned() -> VllmFacts:
    return read_wheel(_wheel(VLLM_VERSION))


@pytest.fixture(scope="module")
def previous() -> VllmFacts:
    return read_wheel(_wheel(PREVIOUS_VLLM_VERSION))


@pytest.fixture(scope="module")
def oldest() -> VllmFacts:
    return read_wheel(_wheel(OLDEST_VLLM_VERSION))


def test_the_reader_sees_real_facts(pinned: VllmFacts) -> None:
    """Guards the reader itself: an empty reading would make every check vacuous."""
    assert len(pinned.flags) > 100
    assert "--model" not in pinned.flags or "--tensor-parallel-size" in pinned.flags
    assert len(pinned.quantization) > 10
    assert sum(m.kind == "histogram" for m in pinned.metrics.values()) >= 8
    assert {"/health", "/metrics", "/v1/completions"} <= pinned.routes


def test_the_pinned_release_passes_every_check(pinned: VllmFacts) -> None:
    findings = check.check(pinned)
    assert check.failures(findings) == []
    assert not [f for f in findings if "older name" in f.message and f.area == "reader"], (
        "the pinned release must carry every metric under its current name"
    )


def test_the_previous_pin_passes_every_check(previous: VllmFacts) -> None:
    """Replicas still on the previous image keep working while a rollout replaces them."""
    assert check.failures(check.check(previous)) == []
    docs = (REPO / "docs" / "operations.md").read_text()
    assert f"vLLM {PREVIOUS_VLLM_VERSION}" in docs


def test_the_oldest_release_breaks_only_as_documented(oldest: VllmFacts) -> None:
    broken = {str(f).removeprefix("FAIL ") for f in check.failures(check.check(oldest))}
    assert broken == OLDEST_BREAKS
    docs = (REPO / "docs" / "operations.md").read_text()
    assert f"vLLM {OLDEST_VLLM_VERSION}" in docs and "PreStopWait" in docs


def test_the_cli_reports_each_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main([VLLM_VERSION, PREVIOUS_VLLM_VERSION]) == 0
    assert check.main([OLDEST_VLLM_VERSION]) == 1
    out = capsys.readouterr().out
    assert f"== vllm {VLLM_VERSION}" in out and f"== vllm {PREVIOUS_VLLM_VERSION}" in out
    assert "FAIL flags: vllm serve does not accept --shutdown-timeout" in out


# --- the KV cache is sized as vLLM sizes it ---------------------------------------------


def test_each_release_states_its_own_cache_sizing(
    pinned: VllmFacts, previous: VllmFacts, oldest: VllmFacts
) -> None:
    """What the wheels say, read rather than assumed (docs/operations.md and
    docs/replica-model.md quote it): the memory share 0.9, then 0.92, then none (measured);
    the block size 16, then 64 tokens (0.10.1 leaves it to the platform: no class default)."""
    defaults = [f.config_defaults.get(check.MEMORY_DEFAULT, "absent") for f in (oldest, previous)]
    assert defaults == [0.9, 0.92]
    assert check.MEMORY_DEFAULT in pinned.config_defaults
    assert pinned.config_defaults[check.MEMORY_DEFAULT] is None
    blocks = [f.config_defaults.get("CacheConfig.DEFAULT_BLOCK_SIZE") for f in (previous, pinned)]
    assert blocks == [16, 64]
    assert "CacheConfig.DEFAULT_BLOCK_SIZE" not in oldest.config_defaults


def test_a_default_share_is_caught_where_vllm_sizes_otherwise(
    pinned: VllmFacts, previous: VllmFacts, oldest: VllmFacts
) -> None:
    """The check with the mechanism off: the 0.90 forescale rendered before 0.34 fails on
    every release whose default is not 0.90, and passes only on the one whose it was."""
    assert "--gpu-memory-utilization" not in " ".join(check.default_rendering())
    old_rendering = [*check.default_rendering(), "--gpu-memory-utilization=0.90"]
    failed = check.failures(check.check_memory_sizing(pinned, old_rendering))
    assert [f.message for f in failed] == [
        "--gpu-memory-utilization=0.90 rendered by default; vLLM's own: sized from measured memory"
    ]
    assert check.failures(check.check_memory_sizing(previous, old_rendering))
    assert not check.failures(check.check_memory_sizing(oldest, old_rendering))


# --- the check catches drift --------------------------------------------------------------

_MODULES = (
    "vllm/engine/arg_utils.py",
    "vllm/model_executor/layers/quantization/__init__.py",
    "vllm/config/model.py",
    "vllm/v1/metrics/loggers.py",
    "vllm/v1/metrics/buckets.py",
    "vllm/config/cache.py",
    "vllm/logger.py",
    "vllm/model_executor/model_loader/default_loader.py",
    "vllm/v1/engine/utils.py",
)


def _tampered(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> VllmFacts:
    """A wheel holding the pinned release's relevant sources, with ``edits`` applied."""
    sources = WheelSources(_wheel(VLLM_VERSION))
    names = [n for n in sources.names() if n.startswith("vllm/entrypoints/") or n in _MODULES]
    path = tmp_path / f"vllm-{VLLM_VERSION}-tampered.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            text = sources.read(name) or ""
            if name in edits:
                old, new = edits[name]
                assert old in text, (name, old)
                text = text.replace(old, new)
            archive.writestr(name, text)
    return read_wheel(path)


def _failures(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> list[str]:
    """What the whole check says fails against the pinned wheel with ``edits`` applied."""
    return [str(f) for f in check.failures(check.check(_tampered(tmp_path, edits)))]


def test_an_untouched_copy_passes(tmp_path: Path) -> None:
    assert _failures(tmp_path, {}) == []


def test_drift_in_each_area_is_caught(tmp_path: Path) -> None:
    failed = "\n".join(
        _failures(
            tmp_path,
            {
                "vllm/v1/metrics/loggers.py": (
                    'name="vllm:num_requests_waiting"',
                    'name="vllm:num_requests_queued"',
                ),
                "vllm/v1/metrics/buckets.py": ("    2560.0,\n", "    1280.0,\n"),
                "vllm/engine/arg_utils.py": ('"--max-num-seqs"', '"--max-sequences"'),
                "vllm/model_executor/layers/quantization/__init__.py": ('    "mxfp4",\n', ""),
            },
        )
    )
    assert "vllm serve does not accept --max-num-seqs" in failed
    assert "mxfp4 is not a vLLM choice" in failed
    assert "waiting: none of ['vllm:num_requests_waiting'] exists" in failed
    assert "vllm:time_to_first_token_seconds buckets" in failed  # the reader's
    assert "sim-server: vllm:time_to_first_token_seconds buckets" in failed
    assert "sim-server: vllm:num_requests_waiting: not a vLLM metric" in failed
    assert "alerts: rules.yaml: unknown series ['vllm:num_requests_waiting']" in failed
    assert "dashboard" in failed


def test_log_drift_is_caught(tmp_path: Path) -> None:
    """The sim-server's log lines are held to the pin's: a message reworded, a call moved
    by a line, a piece of the stats line renamed, the layout changed, a process renamed."""
    failed = "\n".join(
        _failures(
            tmp_path,
            {
                "vllm/model_executor/model_loader/default_loader.py": (
                    '"Loading weights took %.2f seconds"',
                    '"Loaded weights in %.2f seconds"',
                ),
                "vllm/entrypoints/launchers/api_server/entry.py": (
                    '    logger.info("Starting vLLM server on %s", listen_address)',
                    '\n    logger.info("Starting vLLM server on %s", listen_address)',
                ),
                "vllm/v1/metrics/loggers.py": ('"Waiting: %d reqs"', '"Queued: %d reqs"'),
                "vllm/logger.py": ("[%(fileinfo)s:%(lineno)d]", "[%(filename)s:%(lineno)d]"),
                "vllm/v1/engine/utils.py": ('else "EngineCore",', 'else "EngineCoreProc",'),
            },
        )
    )
    assert (
        "default_loader.py:543 'Loading weights took %.2f seconds': pieces not in that"
        " call's function: ['Loading weights took %.2f seconds']" in failed
    )
    assert (
        "entry.py:139 'Starting vLLM server on %s': no info call at that line (logger calls"
        " in functions with its text at lines 135, 140)" in failed
    )
    assert (
        "loggers.py:335 'Avg prompt throughput: %.1f tokens/s': pieces not in that call's"
        " function: ['Waiting: %d reqs']" in failed
    )
    assert (
        "FAIL logs: line format '(%(vllm_process_name)s pid=%(process)d) %(levelname)s"
        " %(asctime)s [%(filename)s:%(lineno)d]" in failed
    )


def test_a_changed_shutdown_default_is_caught(tmp_path: Path) -> None:
    failed = set(
        _failures(
            tmp_path,
            {
                "vllm/engine/arg_utils.py": (
                    '"--shutdown-timeout",\n            type=int,\n            default=0,',
                    '"--shutdown-timeout",\n            type=int,\n            default=30,',
                )
            },
        )
    )
    assert "FAIL shutdown: --shutdown-timeout defaults to 30 (0 = abort)" in failed
    assert "FAIL shutdown: sim-server --shutdown-timeout default 0 vs vLLM 30" in failed


def test_renamed_labels_are_caught(tmp_path: Path) -> None:
    """Labels with the mechanism off: vLLM renaming a CacheConfig field (an info gauge's
    label) or a counter's label leaves every series name intact, and still fails the
    runbook that groups by it, the reader that splits by it and the sim-server."""
    failed = "\n".join(
        _failures(
            tmp_path,
            {
                "vllm/config/cache.py": (
                    "    num_gpu_blocks: int",
                    "    num_gpu_blocks_total: int",
                ),
                "vllm/v1/metrics/loggers.py": (
                    'labelnames=labelnames + ["finished_reason"]',
                    'labelnames=labelnames + ["reason"]',
                ),
            },
        )
    )
    assert (
        "runbooks: LLMDeploymentKVCacheSaturated.md: vllm:cache_config_info has no label"
        " 'num_gpu_blocks'" in failed
    )
    assert "vllm:request_success labels ['engine', 'model_name', 'reason'] differ" in failed
    assert "sim-server: vllm:request_success labels" in failed
    assert "sim-server: vllm:cache_config_info labels" in failed
    assert "unknown series" not in failed


def test_a_changed_cache_default_is_caught_on_the_sim_server(tmp_path: Path) -> None:
    """The sim-server's cache_config_info with the mechanism off: a release that changes
    the block size or the memory share it renders fails the sim-server's values (label
    names unchanged), which the runbook's cache size reads."""
    failed = set(
        _failures(
            tmp_path,
            {
                "vllm/config/cache.py": (
                    "    DEFAULT_BLOCK_SIZE: ClassVar[int] = 64\n",
                    "    DEFAULT_BLOCK_SIZE: ClassVar[int] = 128\n",
                )
            },
        )
    )
    assert failed == {"FAIL sim-server: cache_config_info block_size=64 vs vLLM's default 128"}
    failed = set(
        _failures(
            tmp_path,
            {
                "vllm/config/cache.py": (
                    "gpu_memory_utilization: float | None = Field(default=None,",
                    "gpu_memory_utilization: float | None = Field(default=0.92,",
                )
            },
        )
    )
    assert (
        "FAIL sim-server: cache_config_info gpu_memory_utilization=None vs vLLM's default 0.92"
        in failed
    )


def test_the_sim_server_cache_info_is_compared_with_the_release_it_imitates(
    pinned: VllmFacts, previous: VllmFacts, oldest: VllmFacts
) -> None:
    """Its labels are one release's CacheConfig: the default mode is compared with the pin,
    the legacy mode with 0.10.1, and the previous pin (whose config lacks two of the pin's
    fields) only for the gauge's existence, which the finding says."""
    assert check.sim_server_releases() == {VLLM_VERSION: False, OLDEST_VLLM_VERSION: True}
    name = "vllm:cache_config_info"
    for facts in (pinned, oldest):
        assert f"ok   sim-server: {name} matches" in {str(f) for f in check.check_sim_server(facts)}
    assert previous.metrics[name].labels != pinned.metrics[name].labels
    assert (
        f"ok   sim-server: {name}: exists; labels compared with {OLDEST_VLLM_VERSION} and "
        f"{VLLM_VERSION}, the releases it imitates"
    ) in {str(f) for f in check.check_sim_server(previous)}


def test_each_release_labels_its_cache_info_with_the_config(
    pinned: VllmFacts, previous: VllmFacts, oldest: VllmFacts
) -> None:
    """``vllm:cache_config_info``'s name is assigned before the gauge is created and its
    labels are CacheConfig's fields: the runbook's size query (num_gpu_blocks x
    block_size) reads them in every checked release."""
    for facts in (pinned, previous, oldest):
        info = facts.metrics["vllm:cache_config_info"]
        assert info.kind == "gauge"
        assert info.labels is not None
        assert {"num_gpu_blocks", "block_size", "gpu_memory_utilization", "engine"} <= info.labels
        assert "DEFAULT_BLOCK_SIZE" not in info.labels  # a ClassVar is no instance field


def test_the_labels_read_are_those_a_real_vllm_exposes(oldest: VllmFacts) -> None:
    """The reader checked against a real scrape (``shared/fixtures``, vLLM ~0.10): every
    ``vllm:`` family it carries is one the oldest wheel declares, with exactly the labels
    the wheel reading gives (``le`` aside), ``vllm:cache_config_info``'s config fields
    included."""
    scrape = fixture_text()
    exposed: dict[str, set[str]] = {}
    for line in scrape.splitlines():
        if line.startswith("vllm:") and "{" in line:
            name, _, rest = line.partition("{")
            labels = {pair.split("=", 1)[0] for pair in re.findall(r'\w+="[^"]*"', rest)}
            exposed.setdefault(check.family(name), set()).update(labels - {"le"})
    assert len(exposed) >= 20 and "vllm:cache_config_info" in exposed
    differ = {
        name: (sorted(labels), oldest.metrics[name].labels if name in oldest.metrics else None)
        for name, labels in exposed.items()
        if name not in oldest.metrics or oldest.metrics[name].labels != labels
    }
    assert differ == {}


def test_a_message_from_a_module_the_reader_skips_is_named(
    pinned: VllmFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line the sim-server gains from a module the wheel reader does not read fails with
    what to do, not as a message vLLM lacks."""
    from forescale.sim import server_logging  # noqa: PLC0415 - sim deps

    elsewhere = server_logging.LogMessage(
        "vllm/v1/engine/core.py", 1, "info", server_logging.ENGINE_CORE, ("x",)
    )
    monkeypatch.setattr(server_logging, "MESSAGES", (*server_logging.MESSAGES, elsewhere))
    failed = [str(f) for f in check.failures(check.check(pinned))]
    assert failed == [
        "FAIL logs: vllm/v1/engine/core.py:1 'x': not read from the wheel; add it to LOG_MODULES"
    ]
