"""``forescale render``: show the objects an LLMDeployment manifest becomes, without a cluster.

Useful to review a change before ``kubectl apply`` (and in code review), and the quickest way
to see the ``vllm serve`` command line forescale derives from a spec.
"""

from __future__ import annotations

from pathlib import Path

import click
import yaml
from pydantic import ValidationError

from forescale.api import identity
from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.children import build_children
from forescale.resources.owner import Owner


@click.command()
@click.option(
    "-f",
    "--filename",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="An LLMDeployment manifest (several documents allowed).",
)
@click.option("--no-pod-monitor", is_flag=True, help="Leave out the PodMonitor.")
def render(path: Path, no_pod_monitor: bool) -> None:
    """Print the Deployment, Service, PDB and PodMonitor for each LLMDeployment in a file."""
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    out: list[dict[str, object]] = []
    for doc in documents:
        if doc.get("kind") != identity.KIND:
            continue
        meta = doc.get("metadata", {})
        try:
            spec = LLMDeploymentSpec.model_validate(doc.get("spec", {}))
        except ValidationError as err:
            raise click.ClickException(f"{meta.get('name', '?')}: invalid spec:\n{err}") from err
        owner = Owner(
            name=meta.get("name", "unnamed"),
            namespace=meta.get("namespace", "default"),
            uid="00000000-0000-0000-0000-000000000000",
            spec=spec,
        )
        out.extend(build_children(owner, pod_monitor=not no_pod_monitor))
    if not out:
        raise click.ClickException(f"no {identity.KIND} in {path}")
    click.echo(yaml.safe_dump_all(out, sort_keys=False), nl=False)
