"""The vLLM contract check: what forescale renders, reads and simulates, against a vLLM wheel.

``python -m forescale.vllm_contract.check [VERSION ...]`` (default: every release
release.py lists; wheels from ``make vllm-wheels``) prints one line per
finding and exits 1 when any check fails. It compares, with the facts
:mod:`forescale.vllm_contract.wheel` reads from the wheel:

* flags:        every flag the Deployment builder can render (vllm_args.RENDERED_FLAGS)
* shutdown:     ``--shutdown-timeout`` exists and defaults to 0 (abort), which is what the
                sim-server does without it
* quantization: every value the CRD offers is a non-deprecated vLLM choice; dtype likewise
* reader:       every metric the reader uses (metrics.contract) exists with its type (a
                renamed metric passes only through a declared older name), its
                histogram buckets equal vLLM's and its labels are vLLM's
* alerts, dashboard, runbooks: every ``vllm:`` series they name exists (or is a declared
                older name of a metric that does), and every label a query takes from one
                is vLLM's (or a target label the PodMonitor and Prometheus attach;
                ``query_labels``)
* sim-server:   every family it exposes exists with the same type, buckets and labels, and
                every route it serves is a vLLM route; ``vllm:cache_config_info``'s labels
                (a release's ``CacheConfig`` fields) against the release each of its modes
                imitates (the pin, and 0.10.1 with ``--legacy-metric-names``), with the
                block size and memory share the release renders by default
* health:       ``/health`` (the probes) and ``/metrics`` (the PodMonitor) are served
* logs:         the sim-server's log lines are the pin's: format, and each message's
                module, line, level and pieces (:mod:`forescale.vllm_contract.check_logs`)
* memory:       a default spec renders no ``--gpu-memory-utilization`` other than vLLM's
                own default: vLLM 0.34 sizes the KV cache from measured memory (default
                None), and a share forescale set for it would only take memory from the cache
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from forescale.api.spec import LLMDeploymentSpec, ModelSpec, QuantizationMethod
from forescale.metrics import contract
from forescale.resources.pod_monitor import SERIES_LABELS
from forescale.resources.vllm_args import RENDERED_FLAGS, build_vllm_args
from forescale.vllm_contract.fetch import cached_wheel
from forescale.vllm_contract.query_labels import LabelUse, expressions_in, label_uses
from forescale.vllm_contract.release import CHECKED_VLLM_VERSIONS
from forescale.vllm_contract.wheel import INFO_METRIC_CONFIGS, MetricFact, VllmFacts, read_wheel

REPO = Path(__file__).resolve().parents[3]
ALERT_FILES = ("manifests/prometheus/rules.yaml", "manifests/prometheus/prometheus_rule.yaml")
DASHBOARD_FILES = ("manifests/grafana/forescale-dashboard.json",)
RUNBOOK_DIR = "docs/runbooks"
TARGET_LABELS = frozenset({*SERIES_LABELS, "instance", "job"})
"""Labels every scraped series carries besides vLLM's own: the PodMonitor's relabeling
(and the sandbox's scrape config) and Prometheus's ``instance`` and ``job``."""
PROBED_ROUTES = ("/health", "/metrics")
_SERIES = re.compile(r"vllm:[A-Za-z0-9_:]+")
_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


@dataclass(frozen=True)
class Finding:
    """One check result. ``ok`` False is a failure; ``note`` marks a passing remark."""

    area: str
    ok: bool
    message: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.area}: {self.message}"


def family(sample: str) -> str:
    """The metric family of a sample name (``vllm:x_total`` -> ``vllm:x``)."""
    for suffix in _SUFFIXES:
        if sample.endswith(suffix):
            return sample.removesuffix(suffix)
    return sample


def _signal_family(name: str, kind: contract.Kind) -> str:
    return name.removesuffix("_total") if kind is contract.Kind.COUNTER else name


def _legacy_families(facts: VllmFacts) -> set[str]:
    """Older names of reader signals whose current (or some) name the release has."""
    allowed: set[str] = set()
    for signal in contract.ALL_SIGNALS:
        names = [_signal_family(n, signal.kind) for n in signal.names]
        if any(n in facts.metrics for n in names):
            allowed.update(names)
    return allowed


def check_flags(facts: VllmFacts) -> list[Finding]:
    missing = sorted(set(RENDERED_FLAGS) - facts.flags)
    if not missing:
        return [Finding("flags", True, f"all {len(RENDERED_FLAGS)} rendered flags accepted")]
    return [Finding("flags", False, f"vllm serve does not accept {flag}") for flag in missing]


def check_shutdown(facts: VllmFacts, sim_default: object) -> list[Finding]:
    flag = "--shutdown-timeout"
    if flag not in facts.flags:
        return [
            Finding(
                "shutdown",
                False,
                f"no {flag}: SIGTERM aborts in-flight requests; use spec.engine.drain: "
                "PreStopWait with this release",
            )
        ]
    default = facts.flag_defaults.get(flag)
    found = [Finding("shutdown", default == 0, f"{flag} defaults to {default!r} (0 = abort)")]
    found.append(
        Finding(
            "shutdown",
            sim_default == default,
            f"sim-server {flag} default {sim_default!r} vs vLLM {default!r}",
        )
    )
    return found


def check_choices(facts: VllmFacts) -> list[Finding]:
    found: list[Finding] = []
    offered = get_args(QuantizationMethod)
    for method in offered:
        if method not in facts.quantization:
            found.append(Finding("quantization", False, f"{method} is not a vLLM choice"))
        elif method in facts.deprecated_quantization:
            found.append(Finding("quantization", False, f"{method} is deprecated in vLLM"))
    if not found:
        found.append(Finding("quantization", True, f"all {len(offered)} offered values valid"))
    dtypes = get_args(ModelSpec.model_fields["dtype"].annotation)
    bad = [d for d in dtypes if d not in facts.dtypes]
    found.append(
        Finding("dtype", not bad, f"not vLLM choices: {bad}" if bad else "all dtypes valid")
    )
    return found


def check_reader(facts: VllmFacts) -> list[Finding]:
    found: list[Finding] = []
    for signal in contract.ALL_SIGNALS:
        names = [_signal_family(n, signal.kind) for n in signal.names]
        present = next((n for n in names if n in facts.metrics), None)
        if present is None:
            found.append(Finding("reader", False, f"{signal.key}: none of {names} exists"))
            continue
        fact = facts.metrics[present]
        if fact.kind != signal.kind.value:
            found.append(
                Finding(
                    "reader",
                    False,
                    f"{present} is a {fact.kind}, the reader expects a {signal.kind.value}",
                )
            )
            continue
        via = "" if present == names[0] else f" (through the older name; {names[0]} absent)"
        if fact.labels != frozenset(signal.labels):
            found.append(
                Finding(
                    "reader",
                    False,
                    f"{present} labels {_sorted(fact.labels)} differ from the reader's"
                    f" {sorted(signal.labels)}",
                )
            )
            continue
        if signal.kind is contract.Kind.HISTOGRAM and fact.buckets != signal.buckets:
            found.append(
                Finding(
                    "reader",
                    False,
                    f"{present} buckets {fact.buckets} differ from the reader's {signal.buckets}",
                )
            )
            continue
        found.append(Finding("reader", True, f"{signal.key}: {present}{via}"))
    return found


def _sorted(labels: frozenset[str] | None) -> list[str] | None:
    return None if labels is None else sorted(labels)


def _label_known(use: LabelUse, facts: VllmFacts) -> str | None:
    """Why ``use`` names a label vLLM does not give its series, or None when it does."""
    if use.label in TARGET_LABELS:
        return None
    # Series this release lacks (an older name beside the current one) are the series
    # check's business; the label must be on each one it has.
    present = [(s, facts.metrics[family(s)]) for s in use.series if family(s) in facts.metrics]
    for sample, fact in present:
        if use.label == contract.BUCKET_LABEL and _is_bucket(sample, fact):
            continue
        if fact.labels is None:
            return f"{sample}'s labels cannot be read from the wheel"
        if use.label not in fact.labels:
            return f"{sample} has no label {use.label!r} (vLLM's: {sorted(fact.labels)})"
    return None


def _is_bucket(sample: str, fact: MetricFact) -> bool:
    return fact.kind == "histogram" and sample.endswith("_bucket")


def check_references(facts: VllmFacts, area: str, paths: Iterable[Path]) -> list[Finding]:
    """Every ``vllm:`` sample a file names exists (names from the raw text, descriptions
    included), and every label its queries take from one is vLLM's. A file that names no
    ``vllm:`` series (a runbook about the operator itself) has nothing to check."""
    allowed = set(facts.metrics) | _legacy_families(facts)
    found: list[Finding] = []
    for path in paths:
        text = path.read_text()
        queries = expressions_in(text, path.suffix)
        samples = set(_SERIES.findall(text))
        if not samples:
            continue
        unknown = sorted(s for s in samples if family(s) not in allowed)
        found.append(
            Finding(
                area,
                not unknown,
                f"{path.name}: unknown series {unknown}"
                if unknown
                else f"{path.name}: {len(samples)} series known",
            )
        )
        uses = [use for query in queries for use in label_uses(query)]
        wrong = sorted({why for use in uses if (why := _label_known(use, facts))})
        found.extend(Finding(area, False, f"{path.name}: {why}") for why in wrong)
        if uses and not wrong:
            labels = len({use.label for use in uses})
            found.append(Finding(area, True, f"{path.name}: {labels} labels known"))
    return found


def runbook_files(repo: Path = REPO) -> list[Path]:
    """The runbooks the alerts link to (every page of ``docs/runbooks``)."""
    return sorted((repo / RUNBOOK_DIR).glob("*.md"))


def sim_server_families(*, legacy_names: bool = True) -> dict[str, MetricFact]:
    """Families the sim-server exposes in a mode (by default with the older names): kind,
    histogram bounds and label names."""
    from forescale.sim.server_metrics import ServerMetrics  # noqa: PLC0415 - sim deps

    # Any capacity of whole blocks: the labels do not depend on it.
    metrics = ServerMetrics("m", kv_cache_tokens=1024, legacy_names=legacy_names)
    families: dict[str, MetricFact] = {}
    for metric in metrics.registry.collect():
        bounds: tuple[float, ...] | None = None
        if metric.type == "histogram":
            les = {s.labels["le"] for s in metric.samples if s.name.endswith("_bucket")}
            bounds = tuple(sorted(float(le) for le in les if le != "+Inf"))
        labels = {k for s in metric.samples for k in s.labels} - {contract.BUCKET_LABEL}
        families[metric.name] = MetricFact(metric.type, bounds, frozenset(labels))
    return families


def sim_server_releases() -> dict[str, bool]:
    """The release each sim-server mode imitates where releases differ (an info gauge's
    labels are its config's fields), mapped to that mode's ``legacy_names``."""
    from forescale.sim.server_metrics import cache_config_info  # noqa: PLC0415 - sim deps

    return {cache_config_info(legacy_names=legacy).release: legacy for legacy in (False, True)}


def sim_server_routes() -> set[str]:
    from forescale.sim.server import ROUTES  # noqa: PLC0415 - sim deps

    return {path for _, path, _ in ROUTES}


def sim_shutdown_default() -> object:
    from forescale.sim.server_cli import sim_server  # noqa: PLC0415 - sim deps

    option = next(p for p in sim_server.params if "--shutdown-timeout" in p.opts)
    return option.default


def check_sim_server(facts: VllmFacts) -> list[Finding]:
    """The sim-server's families against the release's. An info gauge's labels are the
    fields of the release's config, so they are compared only with the release a mode of
    the sim-server imitates (``sim_server_releases``: the pin and the oldest release),
    with that mode's; against another release only that the gauge exists is."""
    legacy = _legacy_families(facts)
    releases = sim_server_releases()
    mode = releases.get(facts.version)
    families = sim_server_families()
    if mode is not None:
        own = sim_server_families(legacy_names=mode)
        families.update((name, own[name]) for name in INFO_METRIC_CONFIGS if name in own)
    found: list[Finding] = []
    for name, sim in sorted(families.items()):
        if name in INFO_METRIC_CONFIGS and mode is None:
            imitated = " and ".join(sorted(releases))
            ok = name in facts.metrics
            why = f"exists; labels compared with {imitated}, the releases it imitates"
            found.append(Finding("sim-server", ok, f"{name}: {why if ok else 'absent'}"))
            continue
        kind, bounds = sim.kind, sim.buckets
        fact = facts.metrics.get(name)
        if fact is None:
            ok = name in legacy
            why = "another name the reader declares for a metric vLLM has"
            if not ok:
                why = "not a vLLM metric"
            found.append(Finding("sim-server", ok, f"{name}: {why}"))
        elif fact.kind != kind:
            found.append(Finding("sim-server", False, f"{name} is a {kind}, vLLM's a {fact.kind}"))
        elif kind == "histogram" and fact.buckets != bounds:
            found.append(
                Finding("sim-server", False, f"{name} buckets {bounds} vs vLLM {fact.buckets}")
            )
        elif fact.labels != sim.labels:
            found.append(Finding("sim-server", False, _labels_differ(name, sim, fact)))
        else:
            found.append(Finding("sim-server", True, f"{name} matches"))
    if mode is not None:
        found.extend(check_sim_cache_defaults(facts, mode))
    extra = sorted(sim_server_routes() - facts.routes)
    found.append(
        Finding("sim-server", not extra, f"routes vLLM lacks: {extra}" if extra else "routes ok")
    )
    return found


def check_health(facts: VllmFacts) -> list[Finding]:
    missing = [r for r in PROBED_ROUTES if r not in facts.routes]
    message = f"missing routes {missing}" if missing else "/health and /metrics served"
    return [Finding("health", not missing, message)]


MEMORY_FLAG = "--gpu-memory-utilization"
MEMORY_DEFAULT = "CacheConfig.gpu_memory_utilization"


def _labels_differ(name: str, sim: MetricFact, fact: MetricFact) -> str:
    """Which labels differ (an info gauge has dozens, too many to compare by eye)."""
    if sim.labels is None or fact.labels is None:
        return f"{name} labels {_sorted(sim.labels)} vs vLLM {_sorted(fact.labels)}"
    lacks, extra = sorted(fact.labels - sim.labels), sorted(sim.labels - fact.labels)
    return f"{name} labels differ: the sim-server lacks {lacks}, vLLM has no {extra}"


SIM_CACHE_DEFAULTS = {
    "block_size": "CacheConfig.DEFAULT_BLOCK_SIZE",
    "gpu_memory_utilization": MEMORY_DEFAULT,
}
"""``vllm:cache_config_info`` labels the KV runbook reads whose value is a class default in
the wheel: the sim-server must show them as the release it imitates renders them."""


def check_sim_cache_defaults(facts: VllmFacts, legacy_names: bool) -> list[Finding]:
    """The sim-server's block size and memory share are the release's defaults, rendered
    with ``str()`` (``None`` when 0.34 sizes the cache from measured memory). 0.10.1 has no
    class default block size (the platform sets it; the sim-server's 16 is a real scrape's,
    ``tests/unit/sim/``): a default the wheel does not give is said, not guessed."""
    from forescale.sim.server_metrics import cache_config_info  # noqa: PLC0415 - sim deps

    fields = cache_config_info(legacy_names=legacy_names).fields
    found: list[Finding] = []
    for label, default in SIM_CACHE_DEFAULTS.items():
        if default not in facts.config_defaults:
            message = f"cache_config_info {label}={fields[label]}: {default} has no literal"
            found.append(Finding("sim-server", True, message))
            continue
        vllm = str(facts.config_defaults[default])
        ok = fields[label] == vllm
        message = f"cache_config_info {label}={fields[label]} vs vLLM's default {vllm}"
        found.append(Finding("sim-server", ok, message))
    return found


def default_rendering() -> list[str]:
    """The ``vllm serve`` arguments of a spec that sets nothing it need not."""
    return build_vllm_args(LLMDeploymentSpec.model_validate({"model": {"name": "m"}}))


def check_memory_sizing(facts: VllmFacts, rendered: list[str]) -> list[Finding]:
    """Unless the user asks, the KV cache is sized as vLLM sizes it.

    vLLM's default share of GPU memory moved from 0.9 (0.10) to 0.92 (0.33) to none at all
    (0.34: the cache is sized from the memory measured free after start-up, and a share
    given on the command line "takes memory away from the KV cache"). A share rendered by
    default would pin each release's replicas to another release's sizing.
    """
    if MEMORY_DEFAULT not in facts.config_defaults:
        return [Finding("memory", False, f"{MEMORY_DEFAULT}'s default not found")]
    default = facts.config_defaults[MEMORY_DEFAULT]
    vllm_sizing = "sized from measured memory" if default is None else f"a share of {default!r}"
    given = [a.partition("=")[2] for a in rendered if a.partition("=")[0] == MEMORY_FLAG]
    if not given:
        return [Finding("memory", True, f"{MEMORY_FLAG} left to vLLM ({vllm_sizing})")]
    same = isinstance(default, int | float) and float(given[0]) == float(default)
    return [
        Finding(
            "memory",
            same,
            f"{MEMORY_FLAG}={given[0]} rendered by default; vLLM's own: {vllm_sizing}",
        )
    ]


def check(facts: VllmFacts, repo: Path = REPO) -> list[Finding]:
    """Every check against one release's facts."""
    from forescale.vllm_contract.check_logs import check_logs  # noqa: PLC0415 - sim deps

    return [
        *check_flags(facts),
        *check_shutdown(facts, sim_shutdown_default()),
        *check_choices(facts),
        *check_reader(facts),
        *check_references(facts, "alerts", [repo / p for p in ALERT_FILES]),
        *check_references(facts, "dashboard", [repo / p for p in DASHBOARD_FILES]),
        *check_references(facts, "runbooks", runbook_files(repo)),
        *check_sim_server(facts),
        *check_health(facts),
        *check_memory_sizing(facts, default_rendering()),
        *check_logs(facts),
    ]


def failures(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]


def main(argv: list[str] | None = None) -> int:
    versions = (argv if argv is not None else sys.argv[1:]) or list(CHECKED_VLLM_VERSIONS)
    status = 0
    for version in versions:
        wheel = cached_wheel(version)
        if wheel is None:
            print(f"vllm {version}: no wheel cached; run `make vllm-wheels`", file=sys.stderr)
            return 2
        findings = check(read_wheel(wheel))
        print(f"== vllm {version} ({wheel.name})")
        for finding in findings:
            print(f"  {finding}")
        if failures(findings):
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
