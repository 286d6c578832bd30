"""Traffic phases: the mixed load on each worker count, and the long sequential run that shows memory.

Both go through the same request mix (``workload``); the load run checks every acknowledged job
afterwards, the memory run samples the worker's RSS between requests.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any, Callable

from bench.load import GOALS, log
from bench.load.integrity import check_jobs, temp_files
from bench.load.photos import PHOTO_SIZES_MP, SMALL_SIZES_MP
from bench.load.probes import maps_tensorflow
from bench.load.workload import KIND_WEIGHTS, Workload, plan, run_concurrent, summarize
from devtools.appserver import Server
from devtools.client import Client
from devtools.procfs import rss_mb

SETTLE_S = 0.3  # the worker trims its heap after sending a reply: wait this long before sampling RSS


def load_phase(workdir: Path, workers: int, args: argparse.Namespace, workload_factory: Callable[[], Workload]) -> dict[str, Any]:
    """``args.requests`` mixed requests from ``args.clients`` threads, then every acknowledged job read back."""
    log(f"mixed load: {workers} worker(s), {args.requests} requests, {args.clients} clients")
    server = Server(workdir / f"load-{workers}w", workers)
    with server:
        pids = server.worker_pids()
        boot_rss = {pid: round(rss_mb(pid), 1) for pid in pids}
        tf_maps = sorted({path for pid in pids for path in maps_tensorflow(pid)})
        log(f"  started in {server.startup_s:.2f} s; worker RSS {list(boot_rss.values())} MB; "
            f"TensorFlow files mapped: {len(tf_maps)}")
        workload = workload_factory()
        kinds = plan(args.requests, seed=workers, kinds=KIND_WEIGHTS)
        outcomes, wall, timed_out = run_concurrent(server.port, workload, kinds, args.clients, args.time_limit,
                                                   PHOTO_SIZES_MP, seed=workers)
        after_rss = {pid: round(rss_mb(pid), 1) for pid in server.worker_pids()}
        log(f"  {len(outcomes)} requests in {wall:.0f} s; checking {len(set(workload.jobs))} jobs")
        integrity = check_jobs(server.port, server.data_dir, workload.jobs)
        leftovers = temp_files(server.data_dir)
    return {"workers": workers, "clients": args.clients, "planned": args.requests, "timed_out": timed_out,
            "startup_s": round(server.startup_s, 2), "worker_rss_boot_mb": list(boot_rss.values()),
            "worker_rss_after_mb": list(after_rss.values()), "worker_restarts": sorted(set(after_rss) ^ set(boot_rss)),
            "tensorflow_mapped": tf_maps, **summarize(outcomes, wall), "integrity": integrity,
            "temp_files_left": len(leftovers)}


def memory_phase(workdir: Path, args: argparse.Namespace, workload: Workload) -> dict[str, Any]:
    """Sequential requests on one worker; RSS read from /proc every ``sample_every`` requests."""
    log(f"memory: {args.seq_requests} sequential requests on 1 worker")
    sample_every = 50
    server = Server(workdir / "memory", 1)
    with server:
        pid = server.worker_pids()[0]
        client, rng = Client(server.port), random.Random(7)
        samples, outcomes = {0: round(rss_mb(pid), 1)}, []
        deadline = time.perf_counter() + args.time_limit
        start = time.perf_counter()
        for number, kind in enumerate(plan(args.seq_requests, seed=7, kinds=KIND_WEIGHTS), start=1):
            if time.perf_counter() > deadline:
                break
            outcomes.append(workload.run(client, kind, rng, SMALL_SIZES_MP))
            if not outcomes[-1].ok:
                log(f"  FAILED {kind}: {outcomes[-1].status} {outcomes[-1].detail[:200]}")
            if number % sample_every == 0:
                time.sleep(SETTLE_S)  # the worker trims its heap after sending: sample between requests
                samples[number] = round(rss_mb(pid), 1)
                if number % 200 == 0:
                    log(f"  request {number}: worker RSS {samples[number]} MB")
        wall = time.perf_counter() - start
        same_worker = server.worker_pids() == [pid]
    done = len(outcomes)
    at_200, at_end = samples.get(200), samples.get(done - done % sample_every)
    growth = round((at_end - at_200) / at_200 * 100, 1) if at_200 and at_end else None
    return {"requests": done, "planned": args.seq_requests, "failed": sum(not o.ok for o in outcomes),
            "wall_s": round(wall, 1), "rss_mb_at": samples, "rss_at_200_mb": at_200, "rss_at_end_mb": at_end,
            "rss_max_after_200_mb": max((v for k, v in samples.items() if k >= 200), default=None),
            "second_half_slope_mb_per_1000": second_half_slope(samples, done),
            "growth_pct": growth, "same_worker_throughout": same_worker,
            "within_goal": growth is not None and abs(growth) <= GOALS["memory_growth_pct"] and done == args.seq_requests}


def second_half_slope(samples: dict[int, float], done: int) -> float | None:
    """Least-squares RSS trend over the second half of the run, in MB per 1,000 requests.

    A leak keeps climbing; allocator fragmentation settles. The slope once things have settled tells
    the two apart better than any two single samples.
    """
    points = [(k, v) for k, v in samples.items() if k >= done / 2]
    if len(points) < 3:
        return None
    mean_k = sum(k for k, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    slope = sum((k - mean_k) * (v - mean_v) for k, v in points) / sum((k - mean_k) ** 2 for k, _ in points)
    return round(slope * 1000, 1)
