"""The request mix: what one simulated user sends, the threads that share a plan of requests, and
the per-kind latency summary.

The mix stands for real traffic (mostly background removal with both models, some upload-page,
ID-photo and job reads) and is drawn from fixed seeds, so two runs send the same requests.
"""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.load import log
from devtools.client import Client

KIND_WEIGHTS = {"remove-sinet": 0.24, "remove-mobile-unet": 0.24, "page-upload": 0.08, "id-photo": 0.08,
                "job-json": 0.18, "job-file": 0.18}
MODELS = {"remove-sinet": "sinet", "remove-mobile-unet": "mobile-unet"}
BACKGROUNDS = [("transparent", "png"), ("#438edb", "jpg"), ("blur", "jpg"), ("#ffffff", "webp"), ("transparent", "webp")]


@dataclass
class Outcome:
    """One request's result; status 0 means no answer came at all (the connection dropped)."""

    kind: str
    ok: bool
    status: int
    seconds: float
    job_id: str | None = None
    detail: str = ""


@dataclass
class Workload:
    """Runs requests of each kind and remembers the jobs the server acknowledged."""

    photos: dict[float, bytes]
    id_photos: list[bytes]
    jobs: list[str] = field(default_factory=list)
    job_files: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, job_id: str | None) -> None:
        if job_id:
            with self.lock:
                self.jobs.append(job_id)

    def run(self, client: Client, kind: str, rng: random.Random, sizes: dict[float, float]) -> Outcome:
        """One request of ``kind``; job reads fall back to a removal until the server has made a job."""
        with self.lock:
            known = list(self.jobs)
            with_files = [(j, n) for j, names in self.job_files.items() for n in names]
        if kind == "job-file" and not with_files:
            kind = "job-json"
        if kind == "job-json" and not known:
            kind = "remove-sinet"
        photo = self.photos[rng.choices(list(sizes), list(sizes.values()))[0]]
        if kind in MODELS:
            return self._remove(client, kind, photo, rng)
        if kind == "page-upload":
            return self._page_upload(client, photo, rng)
        if kind == "id-photo":
            return self._id_photo(client, rng)
        if kind == "job-json":
            return self._job_json(client, rng.choice(known))
        return self._job_file(client, *rng.choice(with_files))

    def _remove(self, client: Client, kind: str, photo: bytes, rng: random.Random) -> Outcome:
        background, fmt = rng.choice(BACKGROUNDS)
        output = "mask" if rng.random() < 0.1 else "image"
        fields = {"model": MODELS[kind], "background": background, "format": fmt, "output": output}
        reply = client.post_form("/api/v1/remove-background", fields, [("image", "photo.jpg", photo, "image/jpeg")])
        ok = reply.status == 200 and reply.headers.get("content-type", "").startswith("image/") and len(reply.body) > 100
        job_id = reply.headers.get("x-job-id") if ok else None
        self.remember(job_id)
        return Outcome(kind, ok, reply.status, reply.seconds, job_id, reply.error or ("" if ok else reply.message()))

    def _page_upload(self, client: Client, photo: bytes, rng: random.Random) -> Outcome:
        """What the upload page's script does: the form (with its CSRF token), answered as JSON."""
        if not client.csrf:
            client.fetch_csrf()
        fields = {"model": rng.choice(list(MODELS.values())), "background": "color", "color": "#438edb"}
        if client.csrf:
            fields["csrf_token"] = client.csrf
        reply = client.post_form("/jobs", fields, [("image", "photo.jpg", photo, "image/jpeg")],
                                 {"Accept": "application/json"})
        ok = reply.status == 201
        job_id = reply.json().get("id") if ok else None
        self.remember(job_id)
        return Outcome("page-upload", ok, reply.status, reply.seconds, job_id, reply.error or ("" if ok else reply.message()))

    def _id_photo(self, client: Client, rng: random.Random) -> Outcome:
        fields = {"preset": rng.choice(["eu-passport", "us-passport"]), "model": rng.choice(list(MODELS.values())),
                  "layout": rng.choice(["single", "sheet-4x6"])}
        reply = client.post_form("/api/v1/id-photo", fields,
                                 [("image", "portrait.jpg", rng.choice(self.id_photos), "image/jpeg")])
        ok = reply.status == 200 and reply.headers.get("content-type") == "image/jpeg"
        job_id = reply.headers.get("x-job-id") if ok else None
        self.remember(job_id)
        return Outcome("id-photo", ok, reply.status, reply.seconds, job_id, reply.error or ("" if ok else reply.message()))

    def _job_json(self, client: Client, job_id: str) -> Outcome:
        reply = client.request("GET", f"/api/v1/jobs/{job_id}")
        ok = reply.status == 200
        if ok:
            with self.lock:
                self.job_files[job_id] = list(reply.json()["files"])
        return Outcome("job-json", ok, reply.status, reply.seconds, detail=reply.error or ("" if ok else reply.message()))

    def _job_file(self, client: Client, job_id: str, name: str) -> Outcome:
        reply = client.request("GET", f"/jobs/{job_id}/files/{name}")
        return Outcome("job-file", reply.status == 200 and len(reply.body) > 0, reply.status, reply.seconds,
                       detail=reply.error or reply.message())


def plan(count: int, seed: int, kinds: dict[str, float]) -> list[str]:
    """The kinds of ``count`` requests drawn with ``kinds``' weights, seeded so that runs compare."""
    rng = random.Random(seed)
    return rng.choices(list(kinds), list(kinds.values()), k=count)


def run_concurrent(port: int, workload: Workload, kinds: list[str], clients: int, time_limit: float,
                   sizes: dict[float, float], seed: int) -> tuple[list[Outcome], float, bool]:
    """``clients`` threads, each a user with its own session, work through ``kinds`` in order."""
    queue = list(enumerate(kinds))
    queue_lock = threading.Lock()
    outcomes: list[Outcome] = []
    deadline = time.perf_counter() + time_limit
    timed_out = threading.Event()

    def user(number: int) -> None:
        client, rng = Client(port), random.Random(seed * 1000 + number)
        while True:
            with queue_lock:
                if not queue:
                    return
                if time.perf_counter() > deadline:
                    timed_out.set()
                    return
                index, kind = queue.pop(0)
            outcome = workload.run(client, kind, rng, sizes)
            with queue_lock:
                outcomes.append(outcome)
                done = len(outcomes)
            if not outcome.ok:
                log(f"  FAILED {outcome.kind}: {outcome.status} {outcome.detail[:200]}")
            if done % 50 == 0:
                log(f"  {done}/{len(kinds)} requests")

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        try:
            list(pool.map(user, range(clients)))
        except BaseException:  # interrupted: let the users finish their current request, then stop
            with queue_lock:
                queue.clear()
            raise
    return outcomes, time.perf_counter() - start, timed_out.is_set()


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, no interpolation: every figure reported is a time some request really took."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))]


def summarize(outcomes: list[Outcome], wall_s: float) -> dict[str, Any]:
    """Counts and p50 / p95 per request kind, and the first 20 failures for the JSON."""
    per_kind = {}
    for kind in sorted({o.kind for o in outcomes}):
        times = [o.seconds * 1000 for o in outcomes if o.kind == kind]
        per_kind[kind] = {"requests": len(times), "failed": sum(not o.ok for o in outcomes if o.kind == kind),
                          "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1)}
    failures = [{"kind": o.kind, "status": o.status, "detail": o.detail[:300]} for o in outcomes if not o.ok]
    return {"requests": len(outcomes), "failed": len(failures), "wall_s": round(wall_s, 1),
            "throughput_rps": round(len(outcomes) / wall_s, 2) if wall_s else 0.0, "per_kind": per_kind,
            "failures": failures[:20]}

