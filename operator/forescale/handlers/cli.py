"""``forescale run``: the operator process (kopf run with forescale's settings)."""

from __future__ import annotations

import logging
import os

import click
import kopf

from forescale.handlers import configuring, memory_release, telemetry
from forescale.handlers.leader_election import LeaseTimings
from forescale.resources.settings import settings_from_environ


def shard_lease_problem(shard: str, lease: str | None) -> str | None:
    """Why a shard may not lead on ``lease``, or None.

    Shards that share one Lease elect one leader between them: every other shard stands by
    and its LLMDeployments go unserved, with nothing failing. A shard's Lease must carry the
    shard's name (``forescale-a`` for shard ``a``), so a copy of one shard's Deployment
    with only ``--shard`` changed fails at start instead.
    """
    if not shard or lease is None:
        return None
    name = lease.split("/", 1)[-1]
    if name == shard or name.endswith(f"-{shard}") or name.startswith(f"{shard}-"):
        return None
    return (
        f"--shard {shard} with --leader-elect {lease}: shards sharing a Lease elect one leader"
        f" between them and the others serve nothing; name the Lease after the shard"
        f" (--leader-elect {lease.rsplit('/', 1)[0]}/{name}-{shard})"
    )


@click.command(context_settings={"show_default": True})
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    help="Namespace(s) to serve (repeatable); with Roles per namespace, no ClusterRole "
    "beyond node reads is needed (manifests/rbac/namespaced).",
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Serve every namespace.")
@click.option(
    "--prometheus-url", envvar=configuring.PROMETHEUS_URL_ENV, help="Prometheus base URL."
)
@click.option(
    "--liveness-endpoint",
    default="http://127.0.0.1:8080/healthz",
    help="kopf liveness endpoint (bind 0.0.0.0 in a pod).",
)
@click.option(
    "--metrics-port", type=int, default=9090, help="Port of forescale's /metrics (0: off)."
)
@click.option("--metrics-host", default="127.0.0.1", help="Address of forescale's /metrics.")
@click.option(
    "--leader-elect",
    "leader_lease",
    default=None,
    metavar="NAMESPACE/NAME",
    help="Leader election on this coordination.k8s.io Lease (run 2+ replicas with it); "
    "unset: a single replica acts alone.",
)
@click.option(
    "--lease-duration", type=float, default=15.0, help="Seconds a standby waits on a silent Lease."
)
@click.option(
    "--renew-deadline",
    type=float,
    default=10.0,
    help="Seconds after its last renewal a leader stops acting (< lease duration).",
)
@click.option("--retry-period", type=float, default=2.0, help="Seconds between Lease rounds.")
@click.option(
    "--shard",
    default="",
    envvar=configuring.SHARD_ENV,
    help="This operator's shard (docs/operations.md, sharding); a shard's --leader-elect Lease "
    "carries its name (forescale-NAME).",
)
@click.option(
    "--shard-by",
    type=click.Choice(["label", "namespace"]),
    default="label",
    envvar=configuring.SHARD_BY_ENV,
    help="label: serve LLMDeployments labelled forescale.io/shard=<shard>; "
    "namespace: the --namespace list is the shard.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def run(  # noqa: PLR0917 - one parameter per CLI option
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    prometheus_url: str | None,
    liveness_endpoint: str,
    metrics_port: int,
    metrics_host: str,
    leader_lease: str | None,
    lease_duration: float,
    renew_deadline: float,
    retry_period: float,
    shard: str,
    shard_by: str,
    verbose: bool,
) -> None:
    """Run the forescale operator against the cluster of the current kubeconfig."""
    if not namespaces and not all_namespaces:
        raise click.UsageError("pass --namespace NS (repeatable) or --all-namespaces")
    if namespaces and all_namespaces:
        # kopf refuses the pair only once running, with a traceback.
        raise click.UsageError("pass --namespace NS (repeatable) or --all-namespaces, not both")
    if leader_lease is not None and leader_lease.count("/") != 1:
        raise click.UsageError("--leader-elect takes NAMESPACE/NAME of a Lease")
    try:
        LeaseTimings(lease_duration, renew_deadline, retry_period)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if shard_by == "namespace" and (all_namespaces or not shard):
        raise click.UsageError("--shard-by namespace needs --shard NAME and --namespace NS...")
    if problem := shard_lease_problem(shard, leader_lease):
        raise click.UsageError(problem)
    try:
        # FORESCALE_DEFAULT_IMAGE, FORESCALE_MONITOR_LABELS and the tick, resync and rate
        # window: refused here, before kopf runs, whose startup activity would otherwise log
        # the error and retry every minute.
        settings_from_environ(os.environ)
        configuring.durations()
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    os.environ[configuring.SHARD_ENV] = shard
    os.environ[configuring.SHARD_BY_ENV] = shard_by
    os.environ[configuring.NAMESPACES_ENV] = "" if all_namespaces else ",".join(namespaces)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if prometheus_url:
        os.environ[configuring.PROMETHEUS_URL_ENV] = prometheus_url
    if leader_lease:
        os.environ[configuring.LEADER_ELECTION_ENV] = leader_lease
        os.environ[configuring.LEASE_TIMINGS_ENV] = (
            f"{lease_duration},{renew_deadline},{retry_period}"
        )
    memory_release.limit_arenas()  # before any thread starts (docs/scale.md, RSS)
    if metrics_port:
        telemetry.serve(metrics_port, metrics_host)
    kopf.run(
        clusterwide=all_namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=liveness_endpoint,
        standalone=True,
    )
