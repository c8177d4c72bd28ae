"""``forescale inspect-metrics``: check what a vLLM ``/metrics`` endpoint says, per model.

Reads a live endpoint (``--url``, http or https only, fetched once with a timeout) or a
saved scrape (``--file``), and prints the contract's signals per model, with which metric
name each came from, so an SRE can tell at a glance whether a vLLM version speaks the names
forescale reads. Any URL the user types is allowed (it is their explicit request, often a
``kubectl port-forward`` on loopback); other schemes are refused so ``file:`` or ``ftp:``
tricks cannot turn this into a file reader. Parse errors name the line.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click

from forescale.metrics import contract
from forescale.metrics.errors import ExpositionError
from forescale.metrics.exposition import parse_exposition
from forescale.metrics.inspect import ModelMetrics, inspect_exposition

_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


@click.command("inspect-metrics")
@click.option("--url", help="A vLLM /metrics URL (http or https).")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A saved /metrics scrape.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for --url.")
def inspect_metrics(url: str | None, path: Path | None, as_json: bool, timeout: float) -> None:
    """Print per-model vLLM load, counters and latency quantiles from one scrape."""
    if url is not None and path is None:
        text = _fetch(url, timeout)
    elif path is not None and url is None:
        text = path.read_text("utf-8")
    else:
        raise click.UsageError("give exactly one of --url or --file")
    try:
        models = inspect_exposition(parse_exposition(text))
    except ExpositionError as error:
        raise click.ClickException(f"malformed exposition: {error}") from error
    if not models:
        raise click.ClickException("no vllm: series with a model_name label in this scrape")
    if as_json:
        click.echo(json.dumps([_as_dict(m) for m in models.values()], indent=2))
    else:
        click.echo("\n".join(_table(m) for m in models.values()), nl=False)


def _fetch(url: str, timeout: float) -> str:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise click.BadParameter("only http:// and https:// URLs are accepted", param_hint="--url")
    request = urllib.request.Request(url, headers={"Accept": _ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read()
    except (urllib.error.URLError, OSError) as error:
        raise click.ClickException(f"cannot read {url}: {error}") from error
    return body.decode("utf-8", errors="replace")


def _as_dict(model: ModelMetrics) -> dict[str, Any]:
    return {**dataclasses.asdict(model), "missing": list(model.missing)}


def _table(model: ModelMetrics) -> str:
    def num(value: float | None, digits: int = 0) -> str:
        return "missing" if value is None else f"{value:.{digits}f}"

    engines = f"{model.engines} engine" + ("s" if model.engines != 1 else "")
    kv = model.kv_cache_usage
    reasons = model.requests_by_reason
    lines = [
        f"model {model.model} ({engines})",
        f"  running             {num(model.running)}",
        f"  waiting             {num(model.waiting)}",
        f"  kv_cache_usage      {'missing' if kv is None else f'{kv:.2%}'}",
        "  requests            "
        + ("missing" if reasons is None else " ".join(f"{k}={v:.0f}" for k, v in reasons.items())),
        f"  prompt_tokens       {num(model.prompt_tokens)}",
        f"  generation_tokens   {num(model.generation_tokens)}",
        f"  preemptions         {num(model.preemptions)}",
        f"  {'latency (s)':<20}{'count':>8}{'p50':>10}{'p95':>10}{'p99':>10}",
    ]
    for key, latency in model.latency.items():
        if latency is None:
            lines.append(f"  {key:<20}{'missing':>8}")
            continue
        quantiles = "".join(f"{num(v, 4):>10}" for v in (latency.p50, latency.p95, latency.p99))
        lines.append(f"  {key:<20}{num(latency.count):>8}{quantiles}")
    current = {signal.key: signal.name for signal in contract.ALL_SIGNALS}
    lines.extend(
        f"  {key} read from older name {name}"
        for key, name in sorted(model.sources.items())
        if name != current[key]
    )
    if model.missing:
        lines.append(f"  missing: {', '.join(model.missing)}")
    return "\n".join(lines) + "\n"
