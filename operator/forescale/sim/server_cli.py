"""``forescale sim-server``: command-line flags mapped onto ``ServerConfig``.

Flags follow ``vllm serve`` where one exists (``--host``, ``--port``, ``--served-model-name``,
``--max-num-seqs`` is reachable as ``--set max_num_seqs=N``). The host must be a loopback
address unless ``--allow-non-loopback`` is given: the simulator is a test fixture and should
never be reachable from another machine by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TextIO

import click

from forescale.sim.loopback import is_loopback
from forescale.sim.replica_profiles import PROFILES, UnknownProfileError, get_profile
from forescale.sim.server import ServerConfig, serve
from forescale.sim.server_logging import VllmLog
from forescale.sim.server_metrics import cache_config_info


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    """``key=value`` pairs into a dict; a malformed pair is a usage error."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--set")
        overrides[key.strip()] = value.strip()
    return overrides


@click.command("sim-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--allow-non-loopback", is_flag=True, help="Permit binding a non-loopback --host.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--model", default="meta-llama/Llama-3.1-8B-Instruct", show_default=True)
@click.option("--served-model-name", multiple=True, help="Name(s) clients use; default --model.")
@click.option(
    "--profile",
    "profile_name",
    default="llama-3.1-8b-h100",
    show_default=True,
    help=f"Replica performance profile: {', '.join(sorted(PROFILES))}.",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a profile field."
)
@click.option(
    "--load-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Simulated model load before the port opens [default: the profile's load_seconds].",
)
@click.option(
    "--max-requests", type=click.IntRange(min=1), help="Stop after this many completions."
)
@click.option(
    "--max-seconds", type=click.FloatRange(min=0), help="Stop this long after becoming ready."
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed for output lengths without max_tokens."
)
@click.option(
    "--legacy-metric-names",
    is_flag=True,
    help="Be vLLM 0.10 in /metrics: also emit pre-V1 metric names, and 0.10.1's "
    "vllm:cache_config_info (16-token blocks, 0.9 of GPU memory).",
)
@click.option(
    "--shutdown-timeout",
    "--drain-seconds",
    "shutdown_timeout",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="As vLLM's: seconds in-flight requests may take to finish after SIGTERM (or a "
    "self-stop); 0 aborts them. --drain-seconds is an older name.",
)
@click.option(
    "--cri-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also append each log line to this file in the CRI format a container runtime "
    "writes (the sandbox serves it to kubectl logs).",
)
def sim_server(
    *,
    host: str,
    allow_non_loopback: bool,
    port: int,
    model: str,
    served_model_name: tuple[str, ...],
    profile_name: str,
    overrides: tuple[str, ...],
    load_seconds: float | None,
    max_requests: int | None,
    max_seconds: float | None,
    seed: int,
    legacy_metric_names: bool,
    shutdown_timeout: int,
    cri_log: Path | None,
) -> None:
    """Serve a simulated vLLM replica (OpenAI API, /health, /metrics) on loopback."""
    if not allow_non_loopback and not is_loopback(host):
        raise click.BadParameter(
            f"{host} is not a loopback address; pass --allow-non-loopback to bind it anyway",
            param_hint="--host",
        )
    try:
        profile = get_profile(profile_name, **parse_overrides(overrides))
        # Fail here, not after the model load, when the cache holds no whole block.
        cache_config_info(legacy_names=legacy_metric_names).whole_blocks(profile)
    except (UnknownProfileError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--profile/--set") from error
    config = ServerConfig(
        profile=profile,
        host=host,
        port=port,
        model=model,
        served_model_names=served_model_name,
        load_seconds=profile.load_seconds if load_seconds is None else load_seconds,
        max_requests=max_requests,
        max_seconds=max_seconds,
        seed=seed,
        legacy_metric_names=legacy_metric_names,
        shutdown_timeout=shutdown_timeout,
    )
    with contextlib.ExitStack() as files:
        cri: TextIO | None = None
        if cri_log is not None:
            cri = files.enter_context(cri_log.open("a", encoding="utf-8"))
        asyncio.run(serve(config, VllmLog(sys.stdout, cri)))
