"""Load, memory, start-up, hostile input and worker-kill figures for the served app.

``python -m bench.load [--requests 500] [--clients 8] [--workers 1 2] [--seq-requests 2000]``

Everything runs against real gunicorn servers that this script starts on 127.0.0.1 (a free port, a
temporary data directory, the same flags as ``make run``) and stops itself:

1. start-up: time from launch to the first healthy answer, resident memory (RSS) per worker with
   both models loaded, whether a worker maps any TensorFlow library, and a ``python -c`` import of
   ``wsgi`` reporting which of tensorflow / keras / ml.models ended up in ``sys.modules``;
2. mixed load, once per worker count: ``--clients`` threads share ``--requests`` requests drawn from
   a fixed mix (background removal with both models on 0.3-12 MP photos, the upload page with its
   CSRF token, ID photos, job reads); afterwards every job the server acknowledged is read back
   file by file and compared with the record and the disk;
3. memory: ``--seq-requests`` requests one after another on one worker, sampling the worker's RSS
   from /proc, to show RSS at the end is within 10 % of RSS at request 200;
4. hostile input over HTTP (random bytes, truncated files, a decompression bomb, a 100 MB upload,
   path traversal...): each must get a 4xx with a message, the server must stay healthy, and a
   canary file next to the data directory must be neither served nor touched;
5. faults: workers SIGKILLed while requests are in flight; every job left must be whole, and a
   restart must leave no temporary file;
6. ``pytest tests/reliability`` (hostile input, faults, security), counted per file.

Results go to ``bench/results/load.json`` and ``docs/reliability-figures.md`` (the README includes the
latter; it is generated here, never edited by hand). Test photos are synthetic (gradients, shapes, a
head-and-shoulders figure) and generated once into ``.cache/bench-photos/``. The ID-photo requests
use the public-domain NASA portrait in ``tests/idphoto/data``. Requests come from one address, so the
servers run with the rate limit off (``BACKDROP_RATE_LIMIT=0``); they do run with an API key.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import cv2
import numpy as np
from PIL import Image

from sqlalchemy import func, select

from bench.machine import cpu_name
from ml.atomic import write_atomic
from webapp import db

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench-photos"
RESULTS = ROOT / "bench" / "results" / "load.json"
FRAGMENT = ROOT / "docs" / "reliability-figures.md"
ID_PHOTO_SOURCE = ROOT / "tests" / "idphoto" / "data" / "astronaut.jpg"
PHOTO_VERSION = 1

# Megapixels of the synthetic photos and how often the mixed load picks each (small ones are common).
PHOTO_SIZES_MP = {0.3: 0.30, 1.0: 0.25, 2.0: 0.18, 4.0: 0.12, 8.0: 0.09, 12.0: 0.06}
SMALL_SIZES_MP = {0.3: 0.6, 1.0: 0.4}  # the 2,000-request memory run
KIND_WEIGHTS = {"remove-sinet": 0.24, "remove-mobile-unet": 0.24, "page-upload": 0.08, "id-photo": 0.08,
                "job-json": 0.18, "job-file": 0.18}
MODELS = {"remove-sinet": "sinet", "remove-mobile-unet": "mobile-unet"}
BACKGROUNDS = [("transparent", "png"), ("#438edb", "jpg"), ("blur", "jpg"), ("#ffffff", "webp"), ("transparent", "webp")]
API_KEY = "bench-" + secrets.token_hex(8)
GOALS = {"startup_s": 3.0, "worker_rss_mb": 300.0, "memory_growth_pct": 10.0}
SETTLE_S = 0.3
TMP_PREFIX = ".tmp-"


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# == test photos =====================================================================================
def synthetic_photo(megapixels: float, seed: int) -> np.ndarray:
    """A portrait-like RGB photo: soft gradient room, blurred shapes, a head-and-shoulders figure, grain.

    Smooth areas and hard edges in photo-like proportions make JPEG sizes and segmentation work
    realistic, which flat noise (incompressible) or flat colour (trivial) would not.
    """
    rng = np.random.default_rng(seed)
    width = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
    height = int(round(width * 4 / 3))
    small_w, small_h = max(8, width // 16), max(8, height // 16)
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    top, bottom = rng.uniform(60, 220, 3), rng.uniform(30, 200, 3)
    room = top + (bottom - top) * (yy / small_h)[..., None] + 25 * np.sin(xx / small_w * 3 + rng.uniform(0, 6))[..., None]
    for _ in range(12):  # furniture, windows, plants: blurred rectangles and discs
        colour = tuple(float(c) for c in rng.uniform(20, 235, 3))
        x0, y0 = int(rng.uniform(0, small_w)), int(rng.uniform(0, small_h))
        if rng.random() < 0.5:
            cv2.rectangle(room, (x0, y0), (x0 + int(rng.uniform(2, small_w / 3)), y0 + int(rng.uniform(2, small_h / 3))), colour, -1)
        else:
            cv2.circle(room, (x0, y0), int(rng.uniform(2, small_w / 5)), colour, -1)
    room = cv2.GaussianBlur(room, (0, 0), 1.2)
    image = cv2.resize(room, (width, height), interpolation=cv2.INTER_CUBIC)
    cx, unit = width // 2 + int(rng.uniform(-0.05, 0.05) * width), width / 100
    shirt = tuple(float(c) for c in rng.uniform(20, 200, 3))
    skin = tuple(float(c) for c in (rng.uniform(150, 225), rng.uniform(110, 170), rng.uniform(90, 140)))
    cv2.ellipse(image, (cx, int(height * 0.95)), (int(42 * unit), int(height * 0.3)), 0, 180, 360, shirt, -1)
    cv2.rectangle(image, (cx - int(42 * unit), int(height * 0.95)), (cx + int(42 * unit), height), shirt, -1)
    cv2.rectangle(image, (cx - int(8 * unit), int(height * 0.5)), (cx + int(8 * unit), int(height * 0.68)), skin, -1)
    cv2.ellipse(image, (cx, int(height * 0.42)), (int(17 * unit), int(22 * unit)), 0, 0, 360, skin, -1)
    cv2.ellipse(image, (cx, int(height * 0.36)), (int(19 * unit), int(14 * unit)), 0, 180, 360,
                tuple(float(c) for c in rng.uniform(10, 90, 3)), -1)
    for side in (-1, 1):  # eyes and a mouth, so the figure reads as a face at a glance
        cv2.circle(image, (cx + side * int(6 * unit), int(height * 0.42)), max(1, int(1.6 * unit)), (40, 30, 30), -1)
    cv2.ellipse(image, (cx, int(height * 0.47)), (int(5 * unit), max(1, int(1.2 * unit))), 0, 0, 180, (150, 60, 60), -1)
    image = cv2.GaussianBlur(image, (0, 0), max(0.6, unit / 8))
    image += rng.normal(0, 4, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def load_photos(sizes: Iterable[float], cache: Path = CACHE) -> dict[float, bytes]:
    """JPEG bytes per size in megapixels, generated on first use and cached."""
    cache.mkdir(parents=True, exist_ok=True)
    photos = {}
    for megapixels in sizes:
        path = cache / f"portrait-{megapixels:g}mp-v{PHOTO_VERSION}.jpg"
        if not path.exists():
            log(f"generating a {megapixels:g} MP test photo -> {path.relative_to(ROOT)}")
            write_atomic(path, jpeg(synthetic_photo(megapixels, seed=int(megapixels * 10))))
        photos[megapixels] = path.read_bytes()
    return photos


def id_photo_inputs() -> list[bytes]:
    """The NASA portrait as shipped (0.26 MP) and upscaled to 1600 px (2.6 MP)."""
    small = ID_PHOTO_SOURCE.read_bytes()
    path = CACHE / f"astronaut-1600-v{PHOTO_VERSION}.jpg"
    if not path.exists():
        rgb = np.asarray(Image.open(io.BytesIO(small)).convert("RGB"))
        path.write_bytes(jpeg(cv2.resize(rgb, (1600, 1600), interpolation=cv2.INTER_CUBIC)))
    return [small, path.read_bytes()]


# == HTTP ============================================================================================
@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    error: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def message(self) -> str:
        """The error message of a JSON or HTML error answer ("" if it has none)."""
        try:
            return str(self.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            text = self.body.decode("utf-8", "replace")
            found = re.search(r"</h1>\s*<p[^>]*>(.*?)</p>", text, re.S) or re.search(r"<title>(.*?)</title>", text, re.S)
            return found.group(1).strip() if found else ""


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes, str]]) -> tuple[bytes, str]:
    """Encode a multipart/form-data body: ``files`` are (field, filename, data, content type)."""
    boundary = "backdrop-bench-" + secrets.token_hex(12)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for name, filename, data, content_type in files:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n")
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One simulated user: its own cookies (session with the CSRF token) and the API key."""

    def __init__(self, port: int, api_key: str = API_KEY, timeout: float = 300) -> None:
        self.port = port
        self.api_key = api_key
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(self, method: str, path: str, body: bytes | Iterable[bytes] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        headers = dict(headers or {})
        if path.startswith("/api/") and self.api_key:
            headers.setdefault("X-API-Key", self.api_key)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        start = time.perf_counter()
        try:
            try:
                connection.request(method, path, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered (413) and closed before reading the whole body: read that answer
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Reply(0, {}, b"", time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                     time.perf_counter() - start)

    def post_form(self, path: str, fields: dict[str, str], files: list[tuple[str, str, bytes, str]],
                  headers: dict[str, str] | None = None) -> Reply:
        body, content_type = multipart(fields, files)
        return self.request("POST", path, body, {"Content-Type": content_type, **(headers or {})})

    def fetch_csrf(self) -> Reply:
        """Open the upload page like a browser and keep the form's CSRF token (empty if it has none)."""
        reply = self.request("GET", "/")
        found = re.search(rb'name="csrf_token"\s+value="([^"]+)"', reply.body)
        self.csrf = found.group(1).decode() if found else ""
        return reply


# == servers =========================================================================================
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def maps_tensorflow(pid: int) -> list[str]:
    """Files of the TensorFlow package mapped into ``pid`` (empty: TensorFlow was never imported)."""
    found = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[5] if len(line.split(maxsplit=5)) == 6 else ""
        if "/site-packages/tensorflow/" in path or "/site-packages/keras/" in path:
            found.add(path)
    return sorted(found)


class Server:
    """gunicorn serving ``wsgi:app`` on a free local port with its own data directory."""

    def __init__(self, workdir: Path, workers: int, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.workers = workers
        self.port = free_port()
        self.env = {**os.environ, "BACKDROP_DATA_DIR": str(self.data_dir), "BACKDROP_RATE_LIMIT": "0",
                    "BACKDROP_API_KEY": API_KEY, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT),
                    **(env or {})}
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.startup_s = float("nan")

    def command(self) -> list[str]:
        # The flags of `make run`, so the figures describe what users run; threads, timeouts and header
        # limits come from gunicorn.conf.py (read from the working directory, the repository).
        return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "wsgi:app"]

    def start(self, timeout: float = 120) -> "Server":
        self.workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=self.log_path.open("ab"),
                                        stderr=subprocess.STDOUT)
        probe = Client(self.port, timeout=5)
        while time.perf_counter() - start < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with status {self.process.returncode}:\n{self.log_tail()}")
            if probe.request("GET", "/healthz").status == 200:
                self.startup_s = time.perf_counter() - start
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log_tail()}")
        self.wait_for_workers(start + timeout)
        return self

    def wait_for_workers(self, deadline: float) -> None:
        """Until every worker has loaded the models (LiteRT mapped) and its memory has settled."""
        previous: dict[int, float] = {}
        while time.perf_counter() < deadline:
            pids = self.worker_pids()
            try:
                current = {pid: rss_mb(pid) for pid in pids}
                loaded = all("ai_edge_litert" in Path(f"/proc/{pid}/maps").read_text() for pid in pids)
            except (OSError, RuntimeError):
                current, loaded = {}, False
            if len(pids) == self.workers and loaded and previous.keys() == current.keys() and \
                    all(abs(current[pid] - previous[pid]) < 1.0 for pid in pids):
                return
            previous = current
            time.sleep(0.5)

    def worker_pids(self) -> list[int]:
        return children(self.process.pid) if self.process else []

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:]) if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# == the request mix =================================================================================
@dataclass
class Outcome:
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
        job_id, name = rng.choice(with_files)
        reply = client.request("GET", f"/jobs/{job_id}/files/{name}")
        return Outcome(kind, reply.status == 200 and len(reply.body) > 0, reply.status, reply.seconds,
                       detail=reply.error or reply.message())

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


def plan(count: int, seed: int, kinds: dict[str, float]) -> list[str]:
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
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))]


def summarize(outcomes: list[Outcome], wall_s: float) -> dict[str, Any]:
    per_kind = {}
    for kind in sorted({o.kind for o in outcomes}):
        times = [o.seconds * 1000 for o in outcomes if o.kind == kind]
        per_kind[kind] = {"requests": len(times), "failed": sum(not o.ok for o in outcomes if o.kind == kind),
                          "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1)}
    failures = [{"kind": o.kind, "status": o.status, "detail": o.detail[:300]} for o in outcomes if not o.ok]
    return {"requests": len(outcomes), "failed": len(failures), "wall_s": round(wall_s, 1),
            "throughput_rps": round(len(outcomes) / wall_s, 2) if wall_s else 0.0, "per_kind": per_kind,
            "failures": failures[:20]}


# == integrity =======================================================================================
def temp_files(data_dir: Path) -> list[str]:
    """Temporaries left in the store: anything in tmp/ and ``.tmp-*`` files inside job folders."""
    left = [str(p.relative_to(data_dir)) for p in (data_dir / "tmp").iterdir()] if (data_dir / "tmp").exists() else []
    return left + [str(p.relative_to(data_dir)) for p in data_dir.glob(f"jobs/*/{TMP_PREFIX}*")]


def check_jobs(port: int, data_dir: Path, job_ids: Iterable[str]) -> dict[str, Any]:
    """Read every acknowledged job back through the server: each listed file must come back whole.

    Whole means: served with status 200 and the stored content type, as many bytes as the record
    says, the same bytes as on disk, and an image that Pillow's integrity check accepts.
    """
    client = Client(port)
    jobs = files = 0
    problems: list[str] = []
    for job_id in sorted(set(job_ids)):
        reply = client.request("GET", f"/api/v1/jobs/{job_id}")
        if reply.status != 200:
            problems.append(f"job {job_id}: {reply.status} {reply.message()}")
            continue
        jobs += 1
        for name, meta in reply.json()["files"].items():
            files += 1
            served = client.request("GET", f"/jobs/{job_id}/files/{name}")
            on_disk = data_dir / "jobs" / job_id / name
            problem = None
            if served.status != 200:
                problem = f"status {served.status}"
            elif served.headers.get("content-type", "").split(";")[0] != meta["content_type"]:
                problem = f"served as {served.headers.get('content-type')}, stored as {meta['content_type']}"
            elif len(served.body) != meta["bytes"]:
                problem = f"{len(served.body)} bytes served, {meta['bytes']} recorded"
            elif not on_disk.is_file() or hashlib.sha256(on_disk.read_bytes()).digest() != hashlib.sha256(served.body).digest():
                problem = "differs from the file on disk"
            else:
                try:
                    Image.open(io.BytesIO(served.body)).verify()
                except Exception as exc:  # any decoder complaint means a damaged file
                    problem = f"not a readable image ({exc})"
            if problem:
                problems.append(f"{job_id}/{name}: {problem}")
    return {"jobs": jobs, "files": files, "lost_or_damaged": len(problems), "problems": problems[:20]}


def check_store_on_disk(data_dir: Path) -> dict[str, Any]:
    """Every job the database records has all its recorded files on disk at their recorded size."""
    engine = db.make_engine(db.database_url(data_dir, None))
    try:
        with engine.connect() as connection:
            jobs = connection.execute(select(func.count()).select_from(db.jobs)).scalar_one()
            recorded = connection.execute(select(db.files.c.job_id, db.files.c.name, db.files.c.bytes)).all()
    finally:
        engine.dispose()
    problems = [f"{job_id}/{name}: missing or wrong size" for job_id, name, size in recorded
                if not (data_dir / "jobs" / job_id / name).is_file()
                or (data_dir / "jobs" / job_id / name).stat().st_size != size]
    return {"jobs": jobs, "files": len(recorded), "problems": problems[:20], "damaged": len(problems)}


# == phases ==========================================================================================
def startup_phase(workdir: Path) -> dict[str, Any]:
    """Import cost of the serving path in a plain interpreter: what a gunicorn worker pays at boot."""
    code = ("import json, sys, time; t = time.perf_counter(); import wsgi; s = time.perf_counter() - t; "
            "rss = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')][0] / 1024; "
            "print(json.dumps({'create_app_s': round(s, 3), 'rss_mb': round(rss, 1), "
            "'tensorflow': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules, "
            "'ml_models': any(m == 'ml.models' or m.startswith('ml.models.') for m in sys.modules)}))")
    env = {**os.environ, "BACKDROP_DATA_DIR": str(workdir / "import-check"), "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"importing wsgi failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_phase(workdir: Path, workers: int, args: argparse.Namespace, workload_factory: Callable[[], Workload]) -> dict[str, Any]:
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


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` with a few compressed rows: tiny file, huge image."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 4, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def hostile_requests(photo: bytes, canary: str) -> list[tuple[str, str, str, Any, dict[str, str]]]:
    """(label, method, path, body, headers): every one must get a 4xx with a message."""
    rng = random.Random(11)
    png = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(png, "PNG")
    png_bytes = png.getvalue()
    cases: list[tuple[str, str, str, Any, dict[str, str]]] = []

    def upload(label: str, data: bytes, content_type: str = "image/jpeg", fields: dict[str, str] | None = None,
               path: str = "/api/v1/remove-background", filename: str = "photo.jpg") -> None:
        body, ctype = multipart(fields or {}, [("image", filename, data, content_type)])
        cases.append((label, "POST", path, body, {"Content-Type": ctype}))

    for n in range(20):
        upload(f"random bytes #{n + 1}", rng.randbytes(rng.choice([1, 17, 1000, 50_000])))
    for cut in (0.1, 0.5, 0.9, 0.99):
        upload(f"JPEG truncated at {cut:.0%}", photo[:int(len(photo) * cut)])
        upload(f"PNG truncated at {cut:.0%}", png_bytes[:int(len(png_bytes) * cut)], "image/png")
    upload("PNG bomb 100000x100000 (few kB)", bomb_png(100_000, 100_000), "image/png")
    upload("PNG bomb 20000x20000", bomb_png(20_000, 20_000), "image/png")
    upload("0x0 PNG", bomb_png(0, 0), "image/png")
    one_pixel = io.BytesIO()
    Image.new("RGB", (1, 1)).save(one_pixel, "PNG")
    upload("1x1 PNG", one_pixel.getvalue(), "image/png")
    upload("empty file", b"")
    upload("text/plain declared", photo, "text/plain")
    upload("application/pdf declared", b"%PDF-1.4\n" + photo[:2000], "application/pdf")
    upload("unknown model", photo, fields={"model": "x" * 5000})
    upload("bad background", photo, fields={"background": "#" + "f" * 20000})
    upload("bad format", photo, fields={"format": "exe"})
    body, ctype = multipart({"model": "sinet"}, [(f"image", f"p{n}.jpg", photo[:100], "image/jpeg") for n in range(12)])
    cases.append(("12 files in one request", "POST", "/api/v1/remove-background", body, {"Content-Type": ctype}))
    body, ctype = multipart({f"f{n}": "x" for n in range(500)}, [("image", "p.jpg", photo, "image/jpeg")])
    cases.append(("500 form fields", "POST", "/api/v1/remove-background", body, {"Content-Type": ctype}))
    cases.append(("JSON body instead of a form", "POST", "/api/v1/remove-background", b'{"image": "../../etc/passwd"}',
                  {"Content-Type": "application/json"}))
    cases.append(("no body", "POST", "/api/v1/remove-background", b"", {"Content-Type": "multipart/form-data; boundary=x"}))
    cases.append(("broken multipart", "POST", "/api/v1/remove-background", b"--x\r\ngarbage" * 100,
                  {"Content-Type": "multipart/form-data; boundary=x"}))
    cases.append(("100 MB upload", "POST", "/api/v1/remove-background", (b"\0" * (1 << 20) for _ in range(100)),
                  {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(100 << 20)}))
    fake_id = "0" * 32
    for path in [f"/jobs/../../{canary}", f"/jobs/..%2f..%2f{canary}/files/x", f"/jobs/%2e%2e/files/{canary}",
                 f"/jobs/{fake_id}/files/..%2f..%2f..%2f{canary}", f"/jobs/{fake_id}/files/%252e%252e%252f{canary}",
                 f"/jobs/{fake_id}/files/..\\..\\{canary}", f"/jobs/{fake_id}/files/job.json",
                 f"/jobs/{fake_id}%00/files/x", f"/api/v1/jobs/..%2f..%2f{canary}", "/api/v1/jobs/" + "a" * 3000, "/api/v1/jobs/" + "a" * 5000,
                 f"/jobs/{'A' * 32}/files/original.jpg", f"/static/..%2f..%2f{canary}",
                 f"/static/vendor/jquery/..%2f..%2f..%2f{canary}"]:
        cases.append((f"GET {path[:70]}", "GET", path, None, {}))
    cases.append(("DELETE traversal", "DELETE", f"/api/v1/jobs/..%2f..%2f{canary}", None, {}))
    return cases


def hostile_phase(workdir: Path, photo: bytes) -> dict[str, Any]:
    """Send every hostile request to a live server; check 4xx + message, health after each, canary untouched."""
    log("hostile input over HTTP")
    server = Server(workdir / "hostile", 1, env={"BACKDROP_MAX_UPLOAD_MB": "20"})
    outside = server.workdir / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    canary = outside / "canary.txt"
    secret = secrets.token_hex(16)
    canary.write_text(secret)
    relative = os.path.relpath(canary, server.data_dir / "jobs")
    before = {p: p.stat().st_mtime_ns for p in server.workdir.rglob("*") if server.data_dir not in p.parents and p != server.data_dir}
    results = []
    with server:
        client = Client(server.port)
        for label, method, path, body, headers in hostile_requests(photo, relative):
            reply = client.request(method, path, body, headers)
            healthy = client.request("GET", "/healthz").status == 200
            message = reply.message()
            results.append({"input": label, "status": reply.status, "message": message[:160],
                            "ok": 400 <= reply.status < 500 and bool(message) and healthy and secret.encode() not in reply.body,
                            "healthy_after": healthy, "error": reply.error})
            if not results[-1]["ok"]:
                log(f"  NOT HANDLED: {label}: {reply.status} {reply.error} {message[:120]!r} healthy={healthy}")
        pids_after = server.worker_pids()
    after = {p: p.stat().st_mtime_ns for p in server.workdir.rglob("*") if server.data_dir not in p.parents and p != server.data_dir}
    touched = sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p) and not p.name.startswith("gunicorn-"))
    return {"tried": len(results), "handled": sum(r["ok"] for r in results), "server_stayed_up": all(r["healthy_after"] for r in results),
            "worker_pids_after": pids_after, "files_touched_outside_data_dir": touched,
            "statuses": dict(sorted(_count(r["status"] for r in results).items())), "cases": results}


def _count(values: Iterable[Any]) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


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


def pytest_phase(workdir: Path) -> dict[str, Any]:
    """The reliability test suite, counted per file from its JUnit report."""
    log("pytest tests/reliability")
    report = workdir / "reliability-junit.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability",
                           f"--junitxml={report}"], cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                          capture_output=True, text=True, timeout=3600)
    per_file: dict[str, dict[str, int]] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = case.get("classname", "").split(".")[-1] or "?"
        state = "failed" if case.find("failure") is not None or case.find("error") is not None else \
            "skipped" if case.find("skipped") is not None else "passed"
        per_file.setdefault(name, {"passed": 0, "failed": 0, "skipped": 0})[state] += 1
    return {"exit_status": done.returncode, "per_file": per_file, "summary": done.stdout.strip().splitlines()[-1:]}


# == report ==========================================================================================
def machine() -> dict[str, Any]:
    training = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                training += b"ml.train" in (entry / "cmdline").read_bytes()
            except OSError:
                pass
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return {"cpus": os.cpu_count(), "cpu": cpu_name(), "memory_gb": round(memory, 1), "python": platform.python_version(),
            "background_training_processes": training}


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def fragment(results: dict[str, Any]) -> str:
    """The README's figures, as markdown, from the results (never typed by hand)."""
    m, lines = results["machine"], []
    add = lines.append
    add(f"<!-- generated by `python -m bench.load` on {results['date']}; do not edit, re-run the script -->")
    add(f"Measured on {m['cpus']} CPU cores ({m['cpu']}), {m['memory_gb']} GB RAM, Python {m['python']}"
        + (f", with {m['background_training_processes']} model-training processes running alongside" if m["background_training_processes"] else "")
        + f". Command: `{results['command']}`.")
    add("")
    if results.get("load"):
        add(f"**Load** ({results['load'][0]['clients']} concurrent clients, mixed requests on 0.3-12 MP photos, gunicorn as in `make run`):")
        add("")
        add("| workers | requests | failed | throughput | jobs re-read | files re-read | files lost or damaged | temp files left |")
        add("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for run in results["load"]:
            add(f"| {run['workers']} | {run['requests']}{' (time limit hit)' if run['timed_out'] else ''} | {run['failed']} | "
                f"{run['throughput_rps']:.2f} req/s | {run['integrity']['jobs']} | {run['integrity']['files']} | "
                f"{run['integrity']['lost_or_damaged']} | {run['temp_files_left']} |")
        add("")
        add("| request kind | " + " | ".join(f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}: n, p50 / p95" for r in results["load"]) + " |")
        add("| --- |" + " ---: |" * len(results["load"]))
        for kind in sorted({k for r in results["load"] for k in r["per_kind"]}):
            cells = []
            for run in results["load"]:
                stats = run["per_kind"].get(kind)
                cells.append(f"{stats['requests']}, {_duration(stats['p50_ms'])} / {_duration(stats['p95_ms'])}" if stats else "-")
            add(f"| {kind} | " + " | ".join(cells) + " |")
        add("")
    if results.get("startup"):
        s = results["startup"]
        boots = ", ".join(f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}: {r['startup_s']:.2f} s" for r in results.get("load", []))
        rss = [v for r in results.get("load", []) for v in r["worker_rss_boot_mb"]]
        after = [v for r in results.get("load", []) for v in r["worker_rss_after_mb"]]
        add(f"**Start-up**: `import wsgi` (settings, job store, both models loaded) takes {s['create_app_s']:.2f} s and "
            f"{s['rss_mb']:.0f} MB; launch to first healthy answer {boots} (goal < {GOALS['startup_s']:g} s). "
            + (f"Worker RSS with both models loaded: {min(rss):.0f}-{max(rss):.0f} MB at boot, "
               f"{min(after):.0f}-{max(after):.0f} MB after the load run (goal < {GOALS['worker_rss_mb']:g} MB). " if rss else "")
            + f"TensorFlow in `sys.modules` after `import wsgi`: {'yes' if s['tensorflow'] else 'no'}; Keras: "
            f"{'yes' if s['keras'] else 'no'}; `ml.models`: {'yes' if s['ml_models'] else 'no'}; TensorFlow files mapped "
            f"into a serving worker: {sum(len(r['tensorflow_mapped']) for r in results.get('load', []))}.")
        add("")
    if results.get("memory") and results["memory"]["growth_pct"] is None:
        add(f"**Memory**: only {results['memory']['requests']} sequential requests were run; growth is measured from request 200.")
        add("")
    elif results.get("memory"):
        mem = results["memory"]
        add(f"**Memory** ({mem['requests']} sequential requests on one worker, 0.3-1 MP photos, same mix): worker RSS "
            f"{mem['rss_at_200_mb']} MB at request 200, {mem['rss_at_end_mb']} MB at request {mem['requests'] - mem['requests'] % 50} "
            f"({mem['growth_pct']:+.1f} %, goal within ±{GOALS['memory_growth_pct']:g} %), highest sample after request 200: "
            f"{mem['rss_max_after_200_mb']} MB; trend over the second half {mem['second_half_slope_mb_per_1000']:+.1f} MB "
            f"per 1,000 requests; {mem['failed']} failed; "
            f"same worker process throughout: {'yes' if mem['same_worker_throughout'] else 'no'}.")
        add("")
    if results.get("hostile"):
        h = results["hostile"]
        add(f"**Hostile input over HTTP**: {h['tried']} bad requests tried (random bytes, truncated JPEG/PNG, "
            f"decompression bombs, 0x0, wrong types, 100 MB upload, too many files/fields, path traversal); "
            f"{h['handled']} answered 4xx with a message (statuses: "
            + ", ".join(f"{k}: {v}" for k, v in h["statuses"].items())
            + f"); server healthy after every one: {'yes' if h['server_stayed_up'] else 'NO'}; files outside the data "
            f"directory touched: {len(h['files_touched_outside_data_dir'])}.")
        add("")
    if results.get("kill"):
        k = results["kill"]
        add(f"**Workers killed mid-request**: {k['kills']} workers SIGKILLed during {k['requests']} requests on 2 workers; "
            f"{k['interrupted_requests']} requests cut off with their worker, {len(k['failed_with_an_answer'])} other "
            f"failures, {k['acknowledged_jobs']} jobs "
            f"acknowledged, {k['integrity']['files']} of their files re-read, {k['integrity']['lost_or_damaged']} lost or damaged; "
            f"job folders with a missing or short file: {k['store_on_disk']['damaged']}; jobs left with their photo but "
            f"no result by cut-off requests: {k['store_on_disk']['jobs'] - k['acknowledged_jobs']}; temporary files "
            f"{k['temp_files_before_restart']} after the kills, {k['temp_files_after_restart']} after a restart.")
        add("")
    if results.get("weights"):
        add("**Broken weights at start-up**: " + "; ".join(
            f"{w['file']} {w['damage']}: {'refused to start' if w['refused_to_start'] else 'STARTED'}"
            f"{', message names the file' if w['message_names_file'] else ''}" for w in results["weights"]) + ".")
        add("")
    if results.get("pytest"):
        p = results["pytest"]
        total = {s: sum(v[s] for v in p["per_file"].values()) for s in ("passed", "failed", "skipped")}
        add(f"**Reliability tests** (`pytest tests/reliability`): {total['passed']} passed, {total['failed']} failed, "
            f"{total['skipped']} skipped: " + ", ".join(f"{name} {v['passed']}/{sum(v.values())}" for name, v in sorted(p["per_file"].items())) + ".")
        add("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    args = parser.parse_args(argv)
    # Stopped from outside: unwind normally, so the servers this script started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    photos = load_photos(PHOTO_SIZES_MP)
    id_inputs = id_photo_inputs()

    def workload() -> Workload:
        return Workload(photos, id_inputs)

    results: dict[str, Any] = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                               "command": "python -m bench.load " + " ".join(argv if argv is not None else sys.argv[1:]),
                               "machine": machine(), "goals": GOALS}
    workdir = Path(tempfile.mkdtemp(prefix="backdrop-load-"))
    log(f"work directory {workdir}")
    try:
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
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    text = fragment(results)
    args.fragment.parent.mkdir(parents=True, exist_ok=True)
    args.fragment.write_text(text + "\n")
    print(text)
    log(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} and "
        f"{args.fragment.relative_to(ROOT) if args.fragment.is_relative_to(ROOT) else args.fragment}")
    failed = sum(r["failed"] for r in results["load"]) + sum(r["integrity"]["lost_or_damaged"] for r in results["load"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
