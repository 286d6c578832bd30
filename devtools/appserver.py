"""The gunicorn servers the reliability tests and the load benchmarks start: a free local port, a
temporary data directory, stopped afterwards.

Real servers with the flags of ``make run`` rather than Flask's test client, because what the tests and
figures are about (worker memory, start-up, killed workers, gunicorn's own parsing of bad requests)
exists only there.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools import ROOT
from devtools.client import API_KEY, Client
from devtools.ports import free_port
from devtools.procfs import children, maps_litert, rss_mb


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
        """Launch and wait for a healthy answer and settled workers; raise with the log tail if it never comes."""
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
                loaded = all(maps_litert(pid) for pid in pids)
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
        """SIGTERM (gunicorn's graceful stop), SIGKILL after 30 s; safe to call twice or before ``start``."""
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

