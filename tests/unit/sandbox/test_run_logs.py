"""A run keeps its components' logs after the sandbox's work directory is gone."""

from __future__ import annotations

from pathlib import Path

from forescale.sandbox.cluster import Cluster


def test_logs_are_copied_next_to_the_results_without_a_runaway_one(tmp_path: Path) -> None:
    cluster = Cluster(workdir=tmp_path / "work", keep_workdir=True)
    (cluster.logs_dir / "kube-apiserver.log").write_text("started\n")
    with (cluster.logs_dir / "stuck.log").open("wb") as runaway:
        runaway.truncate(20 * 1024 * 1024)  # sparse: 20 MiB without writing them
    (cluster.logs_dir / "fleet").mkdir()
    (cluster.logs_dir / "fleet" / "replica-0.log").write_text("serving\n")
    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "previous-run.log").write_text("stale\n")

    cluster.copy_logs(out)

    copied = sorted(p.relative_to(out / "logs").as_posix() for p in (out / "logs").rglob("*"))
    assert copied == ["fleet", "fleet/replica-0.log", "kube-apiserver.log"]
    assert (out / "logs" / "kube-apiserver.log").read_text() == "started\n"


def test_a_run_without_a_fleet_copies_the_component_logs_alone(tmp_path: Path) -> None:
    cluster = Cluster(workdir=tmp_path / "work", keep_workdir=True)
    (cluster.logs_dir / "etcd.log").write_text("ok\n")
    cluster.copy_logs(tmp_path / "out")
    assert [p.name for p in (tmp_path / "out" / "logs").iterdir()] == ["etcd.log"]
