"""The ``forescale`` command: the single entry point users, tests and the sandbox call.

Subcommands live next to the code they drive and are imported lazily, so that
``forescale crd`` does not pay for importing kopf, numpy or the Kubernetes client, and a
broken optional piece cannot take the whole command down.
"""

from __future__ import annotations

import importlib

import click

# name -> ("module:attribute" of a click command or group, one-line help for the listing).
_COMMANDS: dict[str, tuple[str, str]] = {
    "crd": ("forescale.api.cli:crd", "Print the LLMDeployment CRD generated from the API."),
    "render": ("forescale.resources.cli:render", "Print the objects an LLMDeployment becomes."),
    "run": ("forescale.handlers.cli:run", "Run the operator (wraps kopf run)."),
    "sandbox": ("forescale.sandbox.cli:sandbox", "A local cluster, Prometheus and a fake fleet."),
    "sim-server": ("forescale.sim.server_cli:sim_server", "Serve a simulated vLLM replica."),
    "loadgen": ("forescale.sim.loadgen_cli:loadgen", "Replay a trace or rate curve."),
    "bench": ("forescale.sim.bench_cli:bench", "Benchmark scaling policies on traces."),
    "inspect-metrics": (
        "forescale.metrics.cli:inspect_metrics",
        "Show what forescale reads from a vLLM /metrics.",
    ),
}


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        target = entry[0]
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing must not import every subcommand: use the static one-line help.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, help_) in sorted(_COMMANDS.items())])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forescale")
def main() -> None:
    """forescale: scale vLLM on Kubernetes before the spike lands."""
