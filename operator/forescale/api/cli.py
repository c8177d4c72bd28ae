"""``forescale crd``: print the generated CustomResourceDefinition."""

from __future__ import annotations

import click

from forescale.api.crd import render_crd


@click.command()
def crd() -> None:
    """Print the LLMDeployment CRD generated from the typed API models."""
    click.echo(render_crd(), nl=False)
