"""Job-store figures for issue 11's targets: concurrent re-renders of one job (2 workers; two
instances on one PostgreSQL, data directory and Redis), a History page with 10,000 jobs in the store,
and health probes answered while clients trickle uploads.

``python -m bench.store [--jobs 10000] [--renders 8] [--megapixels 12] [--trickle-s 20]``

Real gunicorn servers (gunicorn.conf.py) and, for the two instances, a throwaway PostgreSQL cluster
and redis-server (devtools/services.py; skipped with a note where they are not installed). Prints the
figures and writes them to ``bench/results/store.json``. A couple of minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.load import log
from bench.load.photos import load_photos
from bench.machine import cpu_name
from devtools import services
from devtools.appserver import Server
from devtools.client import Client
from webapp import create_app, db
from webapp.jobstore import JobStore, new_job_id

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "store.json"


def rerenders(ports: list[int], photo: bytes, count: int) -> dict[str, Any]:
    """One job, then ``count`` re-renders at once spread over ``ports``: how many were kept whole."""
    made = Client(ports[0]).post_form("/api/v1/remove-background", {"format": "jpg", "background": "#438edb"},
                                      [("image", "photo.jpg", photo, "image/jpeg")])
    job_id = made.headers["x-job-id"]
    start = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        replies = list(pool.map(lambda n: Client(ports[n % len(ports)]).post_form(
            f"/api/v1/jobs/{job_id}/renders", {"background": f"#00{n:02x}00", "format": "jpg"}, []), range(count)))
    wall = time.perf_counter() - start
    record = Client(ports[-1]).request("GET", f"/api/v1/jobs/{job_id}").json()
    acknowledged = {int(r.headers["x-render-id"]): r.body for r in replies if r.status == 200}
    kept = sum(1 for render in record["renders"] if render["n"] in acknowledged
               and Client(ports[0]).request("GET", f"/jobs/{job_id}/files/{render['file']}").body == acknowledged[render["n"]])
    return {"requests": count, "acknowledged": len(acknowledged), "kept_whole": kept,
            "lost": len(acknowledged) - kept, "numbers_unique": len(acknowledged) == len({r["n"] for r in record["renders"]}) - 1,
            "wall_s": round(wall, 2)}


def history_page(jobs: int) -> dict[str, Any]:
    """``jobs`` rows in a fresh SQLite store (files are not needed to list them), then the History page
    through the app (shared history: all of them), median of 20, first and last page."""
    with tempfile.TemporaryDirectory() as tmp:
        store = JobStore(Path(tmp))
        store.prepare()
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        rows = [{"id": new_job_id(), "created": now - timedelta(seconds=n), "owner": f"session-{n % 50}",
                 "source": "page", "damage": None,
                 "record": {"original": {"file": "original.jpg", "filename": f"p{n}.jpg", "width": 800, "height": 600},
                            "masks": {"sinet": {}}, "settings": {}}} for n in range(jobs)]
        with store.engine.begin() as connection:
            connection.execute(insert(db.jobs), rows)
        app = create_app({"DATA_DIR": Path(tmp), "SHARED_HISTORY": True, "RATE_LIMIT_PER_MINUTE": 0})
        client = app.test_client()
        timings = {}
        for label, page in (("first page", 1), ("last page", -(-jobs // app.config["JOBS_PER_PAGE"]))):
            samples = []
            for _ in range(20):
                start = time.perf_counter()
                assert client.get(f"/history?page={page}").status_code == 200
                samples.append((time.perf_counter() - start) * 1000)
            timings[label] = round(statistics.median(samples), 1)
        own = []
        for _ in range(20):  # one owner's page: the (owner, created) index
            start = time.perf_counter()
            store.page(1, 12, owner="session-7")
            own.append((time.perf_counter() - start) * 1000)
        return {"jobs": jobs, "history_ms": timings, "one_owner_query_ms": round(statistics.median(own), 1)}


def slow_clients(port: int, trickle_s: float, clients: int = 8) -> dict[str, Any]:
    """``clients`` connections trickling an upload a byte every half second for ``trickle_s`` seconds,
    while a probe asks /healthz every half second: the share of probes answered within 2 s."""
    stop = threading.Event()

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=trickle_s + 30) as sock:
            sock.sendall(b"POST /api/v1/remove-background HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                         b"boundary=b\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.wait(0.5):
                sock.sendall(b"x")

    threads = [threading.Thread(target=trickle, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    waits = []
    deadline = time.monotonic() + trickle_s
    while time.monotonic() < deadline:
        reply = Client(port, timeout=10).request("GET", "/healthz")
        waits.append(reply.seconds if reply.status == 200 else float("inf"))
        time.sleep(0.5)
    stop.set()
    within = sum(1 for wait in waits if wait <= 2.0)
    return {"clients": clients, "seconds": trickle_s, "probes": len(waits), "within_2s": within,
            "share_within_2s": round(within / len(waits), 3), "slowest_s": round(max(waits), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--renders", type=int, default=8)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--trickle-s", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    photo = load_photos([args.megapixels])[args.megapixels]
    results: dict[str, Any] = {"date": datetime.now().strftime("%Y-%m-%d"), "machine": cpu_name(),
                               "load_average_1min": round(os.getloadavg()[0], 2)}
    log(f"history page with {args.jobs} jobs")
    results["history"] = history_page(args.jobs)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        log("2 workers: concurrent re-renders, then slow clients")
        two = Server(Path(tmp) / "two-workers", workers=2).start()
        stack.callback(two.stop)
        results["startup_s"] = {"2 workers, SQLite": round(two.startup_s, 2)}
        results["rerenders_2_workers"] = rerenders([two.port], photo, args.renders)
        results["slow_clients"] = slow_clients(two.port, args.trickle_s)
        two.stop()
        if services.postgres_bin() and services.redis_bin():
            log("two instances on PostgreSQL + Redis: concurrent re-renders")
            pg = stack.enter_context(services.postgres())
            env = {"BACKDROP_DATABASE_URL": services.create_database(pg, "bench"), "BACKDROP_DATA_DIR": str(Path(tmp) / "shared"),
                   "BACKDROP_REDIS_URL": stack.enter_context(services.redis()), "BACKDROP_SECRET_KEY": "bench-" + "k" * 32}
            pair = [Server(Path(tmp) / name, workers=2, env=env).start() for name in ("a", "b")]
            for server in pair:
                stack.callback(server.stop)
            results["startup_s"]["two instances, PostgreSQL"] = [round(server.startup_s, 2) for server in pair]
            results["rerenders_two_instances"] = rerenders([server.port for server in pair], photo, args.renders)
        else:
            results["rerenders_two_instances"] = "skipped: PostgreSQL or redis-server not installed"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
