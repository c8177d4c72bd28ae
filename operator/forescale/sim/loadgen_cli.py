"""``forescale loadgen``: flags into a load plan, the run, an output file and a summary.

Exactly one source of arrivals: ``--rate R`` (constant Poisson), ``--curve SPEC`` (see
``load_plan``), or ``--trace PATH`` (CSV; the Azure LLM trace columns by default). Both
bounds have defaults so that a forgotten flag cannot produce an unbounded run.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import click

from forescale.sim.load_plan import (
    PlannedRequest,
    parse_curve,
    plan_from_curve,
    plan_from_trace,
)
from forescale.sim.loadgen import RequestRecord, run_load, summarize
from forescale.sim.loopback import require_loopback_url

_FIELDS = (
    "id",
    "target",
    "scheduled",
    "sent",
    "first_token",
    "end",
    "ttft",
    "latency",
    "prompt_tokens",
    "output_tokens",
    "status",
)


def write_records(records: list[RequestRecord], path: Path) -> None:
    """JSON lines, or CSV when the file name ends in ``.csv``."""
    rows = [{key: record.as_row()[key] for key in _FIELDS} for record in records]
    with path.open("w", newline="") as out:
        if path.suffix == ".csv":
            writer = csv.DictWriter(out, fieldnames=_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        else:
            out.writelines(json.dumps(row) + "\n" for row in rows)


def _plan(
    *,
    rate: float | None,
    curve: str | None,
    trace: Path | None,
    columns: tuple[str, str, str],
    time_scale: float,
    max_seconds: float,
    max_requests: int,
    prompt_tokens: int,
    output_tokens: int,
    seed: int,
) -> list[PlannedRequest]:
    if sum(x is not None for x in (rate, curve, trace)) != 1:
        raise click.UsageError("give exactly one of --rate, --curve, --trace")
    if trace is not None:
        with trace.open(newline="") as lines:
            return plan_from_trace(
                lines,
                time_column=columns[0],
                prompt_column=columns[1],
                output_column=columns[2],
                time_scale=time_scale,
                duration=max_seconds,
                max_requests=max_requests,
            )
    spec = f"constant:rate={rate}" if rate is not None else str(curve)
    return plan_from_curve(
        parse_curve(spec),
        duration=max_seconds,
        max_requests=max_requests,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        seed=seed,
    )


@click.command("loadgen")
@click.option(
    "--target", "targets", multiple=True, required=True, help="Base URL (loopback), repeatable."
)
@click.option(
    "--balance",
    type=click.Choice(["round-robin", "least-outstanding"]),
    default="round-robin",
    show_default=True,
)
@click.option("--rate", type=click.FloatRange(min=0), help="Constant Poisson arrival rate, req/s.")
@click.option("--curve", help="Rate curve, e.g. step:from=2,to=10,at=30 (see docs).")
@click.option("--trace", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--trace-columns",
    default="TIMESTAMP,ContextTokens,GeneratedTokens",
    show_default=True,
    help="Time, prompt-token and output-token column names.",
)
@click.option(
    "--time-scale", type=float, default=1.0, show_default=True, help="Replay N times faster."
)
@click.option("--prompt-tokens", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--output-tokens", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--model", help="Model name to send (default: none, the server's default).")
@click.option("--max-requests", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--max-seconds", type=click.FloatRange(min=0), default=60.0, show_default=True)
@click.option("--drain-seconds", type=click.FloatRange(min=0), default=30.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Records (.jsonl or .csv)."
)
def loadgen(
    *,
    targets: tuple[str, ...],
    balance: str,
    rate: float | None,
    curve: str | None,
    trace: Path | None,
    trace_columns: str,
    time_scale: float,
    prompt_tokens: int,
    output_tokens: int,
    model: str | None,
    max_requests: int,
    max_seconds: float,
    drain_seconds: float,
    seed: int,
    out: Path | None,
) -> None:
    """Send open-loop load to OpenAI-compatible endpoints on loopback and measure TTFT."""
    try:
        for target in targets:
            require_loopback_url(target)
        columns = tuple(c.strip() for c in trace_columns.split(","))
        if len(columns) != 3:
            raise ValueError("--trace-columns needs three comma-separated names")
        plan = _plan(
            rate=rate,
            curve=curve,
            trace=trace,
            columns=(columns[0], columns[1], columns[2]),
            time_scale=time_scale,
            max_seconds=max_seconds,
            max_requests=max_requests,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            seed=seed,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    records = asyncio.run(
        run_load(
            plan,
            targets,
            policy=balance,
            model=model,
            max_seconds=max_seconds,
            drain_seconds=drain_seconds,
        )
    )
    if out is not None:
        write_records(records, out)
    summary = summarize(records)
    click.echo(
        " ".join(
            f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in summary.items()
        )
    )
