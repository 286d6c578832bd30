"""What /proc says about gunicorn's workers: their process ids, resident memory, whether LiteRT is mapped.

``Server`` needs these to know its workers have loaded the models and settled; the benchmarks read
the same figures. Read from /proc rather than asked of the server, so they hold even for a worker that
is stuck, and so the app carries no instrumentation of its own. Linux only, like the servers it reads.
"""
from __future__ import annotations

from pathlib import Path


def pids() -> list[int]:
    """Every process id /proc lists now."""
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for child in pids():
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(child)
    return sorted(found)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB, as the kernel counts it (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def maps_litert(pid: int) -> bool:
    """Whether ``pid`` has mapped LiteRT: a worker has loaded its models once it has."""
    return "ai_edge_litert" in Path(f"/proc/{pid}/maps").read_text()
