"""What /proc says for the figures alone: TensorFlow libraries mapped into a worker, competing processes.

The probes a server needs to know its workers are ready (their ids, memory, LiteRT mapped) are in
``devtools.procfs``, shared with the tests. Linux only, like the servers it reads.
"""
from __future__ import annotations

from pathlib import Path

from devtools.procfs import pids


def maps_tensorflow(pid: int) -> list[str]:
    """Files of the TensorFlow package mapped into ``pid`` (empty: TensorFlow was never imported)."""
    found = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[5] if len(line.split(maxsplit=5)) == 6 else ""
        if "/site-packages/tensorflow/" in path or "/site-packages/keras/" in path:
            found.add(path)
    return sorted(found)


def running(marker: bytes) -> int:
    """How many processes have ``marker`` in their command line (model training competing for the CPUs)."""
    count = 0
    for pid in pids():
        try:
            count += marker in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            pass
    return count
