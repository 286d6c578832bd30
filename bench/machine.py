"""What machine a benchmark ran on, written next to its figures so timings from different machines
are not compared by mistake."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The processor's marketing name (Linux), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may run on, which is what its timings had (not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def describe_machine() -> str:
    """"<processor>, <N> cores"."""
    return f"{cpu_name()}, {usable_cores()} cores"
