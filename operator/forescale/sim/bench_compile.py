"""Compile the simulator's hot modules with mypyc for the long benchmark sweep.

The full sweep replays tens of millions of requests; the replica engine and the fleet's
event loop are plain typed Python, which mypyc (shipped with mypy, a dev dependency)
compiles to C extensions about twice as fast, with the same IEEE double arithmetic. This
copies the ``forescale`` package to ``DIR``, compiles ``sim/replica_model.py`` and
``sim/fleet.py`` there, and leaves the sources untouched: ``PYTHONPATH=DIR forescale bench
...`` then runs the compiled simulator (``make bench`` does so, after replaying the pinned
figures of ``tests/unit/sim/test_fleet_equivalence.py`` against it, so a compiled build
that behaves differently stops the sweep before it starts).

Usage: ``python -m forescale.sim.bench_compile DIR``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import forescale

#: The modules the sweep spends its time in (everything else stays interpreted).
HOT_MODULES = ("forescale/sim/replica_model.py", "forescale/sim/fleet.py")


def build(out: Path) -> Path:
    """Copy the package to ``out`` and compile the hot modules there; returns ``out``."""
    source = Path(forescale.__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    target = out / "forescale"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    mypyc = Path(sys.executable).with_name("mypyc")
    command = [str(mypyc) if mypyc.exists() else "mypyc", *HOT_MODULES]
    subprocess.run(command, cwd=out, check=True, stdout=subprocess.DEVNULL)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="build directory (put it first on PYTHONPATH)")
    args = parser.parse_args(argv)
    print(build(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
