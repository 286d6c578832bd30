"""What /proc says about a process: its children, resident memory, mapped libraries.

Read from /proc rather than asked of the server, so the figures hold even for a worker that is
stuck, and so the app carries no instrumentation of its own. Linux only, like the servers it reads.
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


def maps_tensorflow(pid: int) -> list[str]:
    """Files of the TensorFlow package mapped into ``pid`` (empty: TensorFlow was never imported)."""
    found = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[5] if len(line.split(maxsplit=5)) == 6 else ""
        if "/site-packages/tensorflow/" in path or "/site-packages/keras/" in path:
            found.add(path)
    return sorted(found)


def maps_litert(pid: int) -> bool:
    """Whether ``pid`` has mapped LiteRT: a worker has loaded its models once it has."""
    return "ai_edge_litert" in Path(f"/proc/{pid}/maps").read_text()


def running(marker: bytes) -> int:
    """How many processes have ``marker`` in their command line (model training competing for the CPUs)."""
    count = 0
    for pid in pids():
        try:
            count += marker in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            pass
    return count
