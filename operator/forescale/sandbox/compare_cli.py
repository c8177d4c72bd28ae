"""``forescale sandbox compare``: its options (the run itself is forescale.sandbox.compare)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from forescale.sandbox.processes import ComponentError


@click.command()
@click.option(
    "--trace",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Trace CSV [default: ../shared/traces/azure-llm-2023-code.csv].",
)
@click.option(
    "--duration",
    default=900.0,
    show_default=True,
    type=click.FloatRange(60, 3600),
    help="Seconds the whole trace is compressed to.",
)
@click.option(
    "--peak-replicas",
    default=6.0,
    show_default=True,
    type=click.FloatRange(1, 16),
    help="Scale the rate so the busiest 30 s need this many replicas.",
)
@click.option(
    "--load-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(5, 600),
    help="Simulated model load of a new replica.",
)
@click.option(
    "--keda-target",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Per-pod arrival-rate target of the ScaledObject, req/s "
    "[default: --keda-target-share x the rate one replica sustains within the SLO].",
)
@click.option(
    "--keda-target-share",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0.1, 1.5),
    help="The benchmark's tuned share of the within-SLO per-pod rate.",
)
@click.option(
    "--keda-window",
    default=30.0,
    show_default=True,
    type=click.FloatRange(5, 600),
    help="Range of the trigger's rate() window, seconds.",
)
@click.option(
    "--scale-down-stabilization",
    default=60,
    show_default=True,
    type=click.IntRange(0, 3600),
    help="Scale-down stabilization window of both contenders, seconds.",
)
@click.option(
    "--tutorial",
    is_flag=True,
    help="Add a third contender: KEDA on vllm:num_requests_waiting > 5 "
    "(the production-stack tutorial).",
)
@click.option("--max-replicas", default=10, show_default=True, type=click.IntRange(2, 32))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--no-simulate", is_flag=True, help="Skip the simulator replay (fidelity figures).")
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where summary, timeline, requests, PNG and logs go [default: out/compare].",
)
def compare(  # noqa: PLR0917 - one parameter per CLI option
    trace: Path | None,
    duration: float,
    peak_replicas: float,
    load_seconds: float,
    keda_target: float | None,
    keda_target_share: float,
    keda_window: float,
    scale_down_stabilization: int,
    tutorial: bool,
    max_replicas: int,
    seed: int,
    no_simulate: bool,
    out_dir: Path | None,
) -> None:
    """forescale and the real KEDA + HPA side by side on the same compressed trace."""
    from forescale.sandbox import binaries  # noqa: PLC0415 - keep CLI import light
    from forescale.sandbox.cli import _state_file, claim_sandbox  # noqa: PLC0415
    from forescale.sandbox.compare import DEFAULT_TRACE, CompareSettings, run_compare  # noqa: PLC0415
    from forescale.sandbox.stack import FleetStack  # noqa: PLC0415

    repo = binaries.repo_root() or Path.cwd()
    directory, workdir = claim_sandbox()
    settings = CompareSettings(
        trace=trace or Path(DEFAULT_TRACE),
        duration_seconds=duration,
        peak_replicas=peak_replicas,
        load_seconds=load_seconds,
        keda_target=keda_target,
        keda_target_share=keda_target_share,
        keda_window_seconds=keda_window,
        scale_down_stabilization_seconds=scale_down_stabilization,
        tutorial=tutorial,
        max_replicas=max_replicas,
        seed=seed,
        simulate=not no_simulate,
        out_dir=out_dir or repo / "out" / "compare",
    )

    def record_state(stack: FleetStack) -> None:
        state = {"pid": os.getpid(), **stack.cluster.state()}
        temporary = directory / ".state.json.tmp"
        temporary.write_text(json.dumps(state, indent=2))
        os.replace(temporary, _state_file(directory))

    try:
        run_compare(settings, click.echo, workdir=workdir, on_ready=record_state)
    except (KeyboardInterrupt, SystemExit):
        click.echo("compare interrupted")
        raise SystemExit(130) from None
    except ComponentError as error:
        raise click.ClickException(str(error)) from None
    finally:
        _state_file(directory).unlink(missing_ok=True)
