"""Fault phases: workers killed while they serve, and weights files broken before start-up.

A killed worker must cost at most the requests it was serving: every job acknowledged before must be
whole, and a restart must clear what it left half-written. Broken weights must stop the server at
start-up with the file named, not fail later on a user's request.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bench.load import ROOT, log
from bench.load.integrity import check_jobs, check_store_on_disk, temp_files
from bench.load.photos import SMALL_SIZES_MP
from bench.load.workload import Workload, plan, run_concurrent
from devtools.appserver import Server


def kill_phase(workdir: Path, workload_factory: Callable[[], Workload], kills: int, requests: int) -> dict[str, Any]:
    """SIGKILL workers while they serve; then every job must be whole and a restart must leave no temp."""
    log(f"faults: {kills} worker kills during {requests} requests")
    server = Server(workdir / "kill", 2)
    workload = workload_factory()
    killed: list[int] = []
    with server:
        stop = threading.Event()

        def killer() -> None:
            rng = random.Random(3)
            while len(killed) < kills and not stop.wait(rng.uniform(2.0, 5.0)):
                pids = server.worker_pids()
                if pids:
                    victim = rng.choice(pids)
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                    log(f"  killed worker {victim}")

        thread = threading.Thread(target=killer)
        thread.start()
        kinds = plan(requests, seed=5, kinds={"remove-sinet": 0.35, "remove-mobile-unet": 0.35, "page-upload": 0.15,
                                              "id-photo": 0.15})
        outcomes, wall, _ = run_concurrent(server.port, workload, kinds, 4, 1800, SMALL_SIZES_MP | {4.0: 0.3}, seed=5)
        stop.set()
        thread.join()
        time.sleep(1.0)
        temps_before_restart = temp_files(server.data_dir)
        on_disk = check_store_on_disk(server.data_dir)
        integrity = check_jobs(server.port, server.data_dir, workload.jobs)
    server.start()  # same data directory: start-up must clear what the killed workers left
    with_restart = temp_files(server.data_dir)
    after_restart = check_store_on_disk(server.data_dir)
    server.stop()
    # A killed worker drops its connections (no status); any answered failure is a real one.
    interrupted = [o for o in outcomes if not o.ok and o.status == 0]
    answered_failures = [{"kind": o.kind, "status": o.status, "detail": o.detail[:300]} for o in outcomes
                         if not o.ok and o.status != 0]
    return {"workers": 2, "kills": len(killed), "requests": len(outcomes), "interrupted_requests": len(interrupted),
            "failed_with_an_answer": answered_failures, "acknowledged_jobs": len(set(workload.jobs)),
            "integrity": integrity, "store_on_disk": on_disk, "temp_files_before_restart": len(temps_before_restart),
            "temp_files_after_restart": len(with_restart), "store_after_restart": after_restart}


def broken_weights_phase(workdir: Path) -> list[dict[str, Any]]:
    """gunicorn with a missing, a truncated and a garbage weights file must refuse to start, naming it."""
    log("faults: broken weights files at start-up")
    results = []
    source = ROOT / "weights"
    for label, damage in (("missing", lambda p: p.unlink()), ("truncated", lambda p: p.write_bytes(p.read_bytes()[:4096])),
                          ("random bytes", lambda p: p.write_bytes(os.urandom(p.stat().st_size)))):
        weights = workdir / f"weights-{label.replace(' ', '-')}"
        shutil.rmtree(weights, ignore_errors=True)
        weights.mkdir(parents=True)
        for path in source.glob("*"):
            if path.suffix in (".tflite", ".json"):
                shutil.copy2(path, weights / path.name)
        victim = weights / "mobile_unet.tflite"
        damage(victim)
        server = Server(workdir / f"weights-run-{label.replace(' ', '-')}", 1, env={"BACKDROP_WEIGHTS_DIR": str(weights)})
        start = time.perf_counter()
        try:
            server.start(timeout=60)
            refused, output = False, ""
        except RuntimeError as exc:
            refused, output = True, str(exc)
        finally:
            server.stop()
        results.append({"damage": label, "file": victim.name, "refused_to_start": refused,
                        "message_names_file": str(victim) in output or victim.name in output,
                        "seconds": round(time.perf_counter() - start, 1),
                        "message": next((line.strip() for line in output.splitlines() if victim.name in line), "")[:300]})
    return results
