"""``python -m bench.load``: the arguments, the phases in order, and where the results are written.

The phases live in their own modules (see the package's docstring); this one only sequences them,
so a short trial (``--requests 40 --seq-requests 0 --kills 0 --skip pytest``) runs the same code.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import bench.load
from bench.load import GOALS, ROOT, log
from bench.load.faults import broken_weights_phase, kill_phase
from bench.load.hostile import hostile_phase
from bench.load.photos import PHOTO_SIZES_MP, id_photo_inputs, load_photos
from bench.load.report import fragment, machine
from bench.load.startup import startup_phase
from bench.load.suite import pytest_phase
from bench.load.traffic import load_phase, memory_phase
from bench.load.workload import Workload

RESULTS = ROOT / "bench" / "results" / "load.json"
FRAGMENT = ROOT / "docs" / "reliability-figures.md"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The run's size; the defaults are the published figures, smaller values make a quick trial."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=bench.load.__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="mixed requests per worker count")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seq-requests", type=int, default=2000, help="sequential requests for the memory run (0: skip)")
    parser.add_argument("--kills", type=int, default=5, help="workers to SIGKILL in the fault run (0: skip)")
    parser.add_argument("--kill-requests", type=int, default=120)
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds per load or memory run")
    parser.add_argument("--skip", nargs="*", default=[], choices=["hostile", "weights", "pytest"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--fragment", type=Path, default=FRAGMENT)
    return parser.parse_args(argv)


def run_phases(args: argparse.Namespace, workdir: Path, results: dict[str, Any]) -> None:
    """Each phase in order, its figures stored under its key in ``results`` (skipped phases leave none)."""
    photos = load_photos(PHOTO_SIZES_MP)
    id_inputs = id_photo_inputs()

    def workload() -> Workload:
        """A fresh mix per server, so each run reads back only the jobs it made."""
        return Workload(photos, id_inputs)

    results["startup"] = startup_phase(workdir)
    log(f"import wsgi: {results['startup']}")
    results["load"] = [load_phase(workdir, n, args, workload) for n in args.workers]
    if args.seq_requests:
        results["memory"] = memory_phase(workdir, args, workload())
    if "hostile" not in args.skip:
        results["hostile"] = hostile_phase(workdir, photos[0.3])
    if args.kills:
        results["kill"] = kill_phase(workdir, workload, args.kills, args.kill_requests)
    if "weights" not in args.skip:
        results["weights"] = broken_weights_phase(workdir)
    if "pytest" not in args.skip:
        results["pytest"] = pytest_phase(workdir)


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def write(results: dict[str, Any], out: Path, fragment_path: Path) -> None:
    """The JSON for the README's tables and the markdown page, then the page on stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    text = fragment(results)
    fragment_path.parent.mkdir(parents=True, exist_ok=True)
    fragment_path.write_text(text + "\n")
    print(text)
    log(f"wrote {_shown(out)} and {_shown(fragment_path)}")


def main(argv: list[str] | None = None) -> int:
    """Run the phases against servers started here; exit 1 if a load run failed or lost a file."""
    args = parse_arguments(argv)
    # Stopped from outside: unwind normally, so the servers this script started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, Any] = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                               "command": "python -m bench.load " + " ".join(argv if argv is not None else sys.argv[1:]),
                               "machine": machine(), "goals": GOALS}
    workdir = Path(tempfile.mkdtemp(prefix="backdrop-load-"))
    log(f"work directory {workdir}")
    try:
        run_phases(args, workdir, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write(results, args.out, args.fragment)
    failed = sum(r["failed"] for r in results["load"]) + sum(r["integrity"]["lost_or_damaged"] for r in results["load"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
