"""``forescale sandbox up|down|status``: a local cluster with fake GPU nodes.

Why ``up`` stays in the foreground: the process that started the components is the one
that can reliably stop them (process groups, parent-death signal). ``down`` therefore
asks that process to exit (SIGTERM) and only falls back to killing the recorded
process groups itself if the ``up`` process is gone or stuck.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import click

from forescale.sandbox.gpu_nodes import DEFAULT_LOAD_SECONDS, GpuNodePool
from forescale.sandbox.processes import ComponentError

STATE_DIR_ENV = "FORESCALE_SANDBOX_DIR"


def state_dir() -> Path:
    """Where ``up`` keeps its work dir and state file ($FORESCALE_SANDBOX_DIR)."""
    override = os.environ.get(STATE_DIR_ENV)
    return Path(override) if override else Path.home() / ".cache" / "forescale" / "sandbox"


def _state_file(directory: Path) -> Path:
    return directory / "state.json"


def _read_state(directory: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(_state_file(directory).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state


def _alive(pid: int | None, expect: str | None = None) -> bool:
    """True if ``pid`` runs and (when given) its command line mentions ``expect``.

    The command-line check stops ``down`` from signalling an unrelated process that
    reused a recorded pid after a reboot or a crash.
    """
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return expect is None or expect in cmdline


def claim_sandbox() -> tuple[Path, Path]:
    """The state directory and an emptied run directory, if no sandbox is running.

    One sandbox at a time: ``up``, ``demo`` and ``compare`` share the state directory.
    """
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    previous = _read_state(directory)
    if previous and _alive(previous.get("pid"), "sandbox"):
        raise click.ClickException(
            f"a sandbox is already running (pid {previous['pid']}); run `forescale sandbox down`"
        )
    workdir = directory / "run"
    if workdir.exists():
        shutil.rmtree(workdir)
    return directory, workdir


@click.group()
def sandbox() -> None:
    """A local Kubernetes control plane with fake GPU nodes (all on 127.0.0.1)."""


@sandbox.command()
@click.option("--nodes", default=4, show_default=True, help="Fake GPU nodes in the pool.")
@click.option("--gpus-per-node", default=8, show_default=True)
@click.option("--gpu-product", default="NVIDIA-H100-80GB-HBM3", show_default=True)
@click.option(
    "--load-seconds",
    default=DEFAULT_LOAD_SECONDS,
    show_default=True,
    help="Default simulated model-load time before a pod turns Ready "
    "(per pod: annotation forescale.io/simulated-load-seconds).",
)
@click.option(
    "--fleet/--no-fleet",
    default=True,
    show_default=True,
    help="Also run Prometheus, the fleet bridge (one sim-server per forescale pod) and the "
    "router, so applied LLMDeployments serve and show live metrics.",
)
@click.option(
    "--with-keda",
    is_flag=True,
    help="Also run KEDA's operator and metrics server, serving external.metrics.k8s.io "
    "(ScaledObjects then drive the HPA controller; see docs/keda-comparison.md).",
)
def up(  # noqa: PLR0917 - one parameter per CLI option
    nodes: int,
    gpus_per_node: int,
    gpu_product: str,
    load_seconds: float,
    fleet: bool,
    with_keda: bool,
) -> None:
    """Start the sandbox and keep it running until `forescale sandbox down` or Ctrl-C."""
    from forescale.sandbox.stack import (  # noqa: PLC0415 - keep CLI import light
        fleet_stack,
        standard_cluster,
    )

    directory, workdir = claim_sandbox()
    pool = GpuNodePool(count=nodes, gpus_per_node=gpus_per_node, product=gpu_product)
    stack = (
        fleet_stack(workdir=workdir, pool=pool, default_load_seconds=load_seconds)
        if fleet
        else None
    )
    cluster = (
        stack.cluster
        if stack is not None
        else standard_cluster(workdir=workdir, pool=pool, default_load_seconds=load_seconds)
    )
    if with_keda:
        from forescale.sandbox.keda import Keda  # noqa: PLC0415

        cluster.add(Keda())
    started = time.monotonic()
    click.echo(f"starting sandbox in {workdir} (logs in {workdir / 'logs'}) ...")
    try:
        with cluster:
            state = {"pid": os.getpid(), **cluster.state()}
            _state_file(directory).write_text(json.dumps(state, indent=2))
            access = cluster.require_access()
            click.echo(f"sandbox ready in {time.monotonic() - started:.1f}s")
            click.echo(f"  server:              {access.server}")
            click.echo(f"  admin kubeconfig:    {access.admin_kubeconfig}")
            click.echo(f"  operator kubeconfig: {access.operator_kubeconfig}")
            click.echo(f"  fake GPU nodes:      {nodes} x {gpus_per_node} {gpu_product}")
            if with_keda:
                click.echo("  KEDA:                external.metrics.k8s.io served (namespace keda)")
            if stack is not None:
                click.echo(f"  Prometheus:          {stack.prometheus.url}")
                click.echo(
                    f"  alerts:              {stack.prometheus.url}/alerts "
                    "(manifests/prometheus/rules.yaml)"
                )
                click.echo(
                    f"  Alertmanager:        {stack.alertmanager.require().url} "
                    "(manifests/prometheus/alertmanager.yaml)"
                )
                click.echo(f"  router (OpenAI API): {stack.router.url}")
                click.echo(f"  replica logs:        {workdir / 'logs' / 'fleet'}")
            click.echo("use it with:")
            click.echo(f"  export KUBECONFIG={access.admin_kubeconfig}")
            click.echo("stop with `forescale sandbox down` or Ctrl-C")
            if stack is not None:
                operator_config = access.operator_kubeconfig
                click.echo("try it (see docs/sandbox.md):")
                click.echo("  kubectl apply -f crds/ && kubectl create namespace demo")
                click.echo(
                    f"  KUBECONFIG={operator_config} forescale run -n demo "
                    f"--prometheus-url {stack.prometheus.url} "
                    f"--metrics-port {stack.operator_metrics_port} &"
                )
                click.echo("  kubectl apply -n demo -f manifests/samples/llmdeployment-demo.yaml")
                click.echo(
                    f"  forescale loadgen --target {stack.router.url} --model llama-demo "
                    "--rate 2 --max-seconds 60"
                )
                click.echo(
                    "  kubectl logs -n demo -l forescale.io/llmdeployment=llama-demo -c vllm "
                    "--prefix   # each replica's vLLM log"
                )
            while True:
                time.sleep(2)
                cluster.check()
                if stack is not None:
                    stack.bridge.check()
    except (KeyboardInterrupt, SystemExit):
        # Ctrl-C, or SIGTERM from `forescale sandbox down` (turned into SystemExit).
        click.echo("stopping sandbox")
    except ComponentError as error:
        raise click.ClickException(str(error)) from None
    finally:
        _state_file(directory).unlink(missing_ok=True)
    click.echo("sandbox stopped")


@sandbox.command()
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds to wait for `up` to exit."
)
def down(timeout: float) -> None:
    """Stop the sandbox started by `forescale sandbox up`."""
    directory = state_dir()
    state = _read_state(directory)
    if state is None:
        click.echo("no sandbox is running")
        return
    pid = state.get("pid")
    if _alive(pid, "sandbox"):
        os.kill(int(pid), signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + timeout
        while _alive(pid, "sandbox") and time.monotonic() < deadline:
            time.sleep(0.2)
    # Whatever `up` did not stop (it was killed, or is stuck): kill the process groups.
    for process in state.get("processes", []):
        child = process.get("pid")
        if _alive(child, Path(str(process.get("name", ""))).name):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(child), signal.SIGKILL)
    if _alive(pid, "sandbox"):
        os.kill(int(pid), signal.SIGKILL)  # type: ignore[arg-type]
    _state_file(directory).unlink(missing_ok=True)
    click.echo("sandbox stopped")


@sandbox.command()
def status() -> None:
    """Show whether the sandbox runs, its components' pids and the kubeconfig path."""
    state = _read_state(state_dir())
    if state is None or not _alive(state.get("pid"), "sandbox"):
        click.echo("sandbox: not running")
        raise SystemExit(3)
    click.echo(f"sandbox: running (pid {state['pid']}), server {state.get('server')}")
    healthy = True
    for process in state.get("processes", []):
        alive = _alive(process.get("pid"), process.get("name"))
        healthy &= alive
        click.echo(f"  {process['name']:<24} pid {process['pid']:<8} {'up' if alive else 'DOWN'}")
    click.echo(f"export KUBECONFIG={state.get('kubeconfig')}")
    if not healthy:
        raise SystemExit(1)


@sandbox.command()
@click.option(
    "--duration",
    default=240.0,
    show_default=True,
    type=click.FloatRange(30, 1800),
    help="Seconds of traffic: steady, then the spike, then steady again.",
)
@click.option(
    "--spike-factor",
    default=5.0,
    show_default=True,
    type=click.FloatRange(1, 20),
    help="The spike's rate as a multiple of the steady rate.",
)
@click.option(
    "--base-rate",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 20),
    help="The steady arrival rate, req/s (one demo replica serves about 2).",
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the timeline, request records, summary and logs go [default: out/demo].",
)
@click.option(
    "--keep", is_flag=True, help="Keep the cluster up at the end (for kubectl) until Ctrl-C."
)
def demo(
    duration: float, spike_factor: float, base_rate: float, out_dir: Path | None, keep: bool
) -> None:
    """Run the operator against a simulated vLLM fleet through a traffic spike (bounded)."""
    from forescale.sandbox import binaries  # noqa: PLC0415 - keep CLI import light
    from forescale.sandbox.demo import DemoSettings, run_demo  # noqa: PLC0415
    from forescale.sandbox.stack import FleetStack  # noqa: PLC0415

    repo = binaries.repo_root() or Path.cwd()
    directory, workdir = claim_sandbox()
    settings = DemoSettings(
        duration_seconds=duration,
        spike_factor=spike_factor,
        base_rate=base_rate,
        out_dir=out_dir or repo / "out" / "demo",
        keep=keep,
    )

    def record_state(stack: FleetStack) -> None:
        # Atomic (write, rename): `status`/`down` may read it at any moment.
        state = {"pid": os.getpid(), **stack.cluster.state()}
        temporary = directory / ".state.json.tmp"
        temporary.write_text(json.dumps(state, indent=2))
        os.replace(temporary, _state_file(directory))

    def wait_keep(stack: FleetStack) -> None:
        access = stack.cluster.require_access()
        record_state(stack)
        click.echo("")
        click.echo("the cluster stays up (--keep); in another shell:")
        click.echo(f"  export KUBECONFIG={access.admin_kubeconfig}")
        click.echo(f"  kubectl get llmd -n {settings.namespace}")
        click.echo(f"  kubectl describe llmd -n {settings.namespace}")
        click.echo(f"  kubectl get events -n {settings.namespace} --sort-by=.lastTimestamp")
        click.echo(f"  kubectl get pods -n {settings.namespace} -o wide")
        click.echo(f"  Prometheus: {stack.prometheus.url}   router: {stack.router.url}")
        click.echo(f"  Alertmanager: {stack.alertmanager.require().url}")
        click.echo("stop with Ctrl-C or `forescale sandbox down`")
        while True:
            time.sleep(2)
            stack.cluster.check()

    try:
        run_demo(settings, click.echo, workdir=workdir, on_ready=record_state, wait_keep=wait_keep)
    except (KeyboardInterrupt, SystemExit) as stop:
        if keep and (not isinstance(stop, SystemExit) or stop.code == 128 + signal.SIGTERM):
            return  # the normal end of --keep
        click.echo("demo interrupted")
        raise SystemExit(130) from None
    except ComponentError as error:
        raise click.ClickException(str(error)) from None
    finally:
        _state_file(directory).unlink(missing_ok=True)


@sandbox.command()
@click.option(
    "--deployments", required=True, type=click.IntRange(1, 5000), help="LLMDeployments to create."
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The JSON file of figures.",
)
@click.option(
    "--loaded",
    default=3,
    show_default=True,
    type=click.IntRange(0, 50),
    help="How many get simulated replicas and light load (a sample).",
)
@click.option("--load-rate", default=1.0, show_default=True, help="req/s to each loaded one.")
@click.option("--quiet-seconds", default=60.0, show_default=True, type=click.FloatRange(10, 600))
@click.option(
    "--converge-timeout", default=900.0, show_default=True, type=click.FloatRange(30, 3600)
)
@click.option(
    "--without-operator",
    is_flag=True,
    help="The floor: no operator; apply the Services, PDBs and Deployments it would "
    "create as plain objects and time the workload alone.",
)
def scale(  # noqa: PLR0917 - one parameter per CLI option
    deployments: int,
    out_file: Path,
    loaded: int,
    load_rate: float,
    quiet_seconds: float,
    converge_timeout: float,
    without_operator: bool,
) -> None:
    """Measure one operator with N LLMDeployments (docs/scale.md); figures to a JSON file."""
    from forescale.sandbox import binaries  # noqa: PLC0415 - keep CLI import light
    from forescale.sandbox.scale_bench import (  # noqa: PLC0415
        ScaleSettings,
        run_scale,
        run_workload_baseline,
        write_result,
    )

    try:
        settings = ScaleSettings(
            deployments=deployments,
            loaded=min(loaded, deployments),
            load_rate=load_rate,
            quiet_seconds=quiet_seconds,
            converge_timeout=converge_timeout,
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    repo = binaries.repo_root() or Path.cwd()
    if without_operator:
        try:
            result = run_workload_baseline(settings, repo, click.echo, out=out_file)
        except ComponentError as error:
            raise click.ClickException(str(error)) from None
        write_result(result, out_file)
        click.echo(f"figures written to {out_file}")
        return
    try:
        result = run_scale(
            settings,
            repo,
            click.echo,
            logs=Path("/tmp") / f"{out_file.stem}-logs",
            out=out_file,
        )
    except ComponentError as error:
        raise click.ClickException(str(error)) from None
    write_result(result, out_file)
    click.echo(f"figures written to {out_file}")


# The option set lives with the command in compare_cli (kept out of this module so the
# other sandbox commands stay small).
from forescale.sandbox.compare_cli import compare  # noqa: E402

sandbox.add_command(compare)
