"""The ``forescale`` command: the single entry point users, tests and the sandbox call.

Subcommands live next to the code they drive and are imported lazily, so that
``forescale crd`` does not pay for importing kopf, numpy or the Kubernetes client, and a
broken optional piece cannot take the whole command down.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group.
_COMMANDS: dict[str, str] = {
    "crd": "forescale.api.cli:crd",
    "render": "forescale.resources.cli:render",
    "run": "forescale.handlers.cli:run",
    "sandbox": "forescale.sandbox.cli:sandbox",
    "sim-server": "forescale.sim.server_cli:sim_server",
    "loadgen": "forescale.sim.loadgen_cli:loadgen",
    "bench": "forescale.sim.bench_cli:bench",
    "inspect-metrics": "forescale.metrics.cli:inspect_metrics",
}


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forescale")
def main() -> None:
    """forescale: scale vLLM on Kubernetes before the spike lands."""
