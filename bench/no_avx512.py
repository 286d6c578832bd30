"""Run a benchmark as on a CPU with AVX2 but no AVX-512 or VNNI, on a machine that has them.

Mobile-UNet is served as an int8 graph, and XNNPACK's int8 kernels are several times faster with
AVX-512 VNNI than with AVX2 alone, while many laptop CPUs have only AVX2 (the float32 graphs of SINet
and MediaPipe hardly care). The sessions' machines change and most have AVX-512, so the model-call target
could not be checked on the CPUs users have. This module builds ``bench/no_avx512.c`` with the system
C compiler and re-runs a benchmark with it preloaded: CPUID then hides AVX-512 and VNNI, and every
library in the process (LiteRT, NumPy, OpenCV) picks the kernels it would pick on an AVX2-only CPU.
The clock, caches and memory stay this machine's, so the figures are "these kernels on this core",
not a laptop's; comparing the old graph's figure with its real AVX2 machine's (bench/results/
latency_avx2.json) says how far apart the two are.

It needs Linux on x86-64 with CPUID faulting (``cpuid_fault`` in /proc/cpuinfo, as this
session's AMD EPYC has) and a C compiler (``make setup-test`` installs gcc).
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ml.errors import BackdropError
from ml.paths import ROOT

SOURCE = Path(__file__).with_suffix(".c")
BUILD = ROOT / ".cache" / "bench" / "no_avx512.so"
SWITCH = "BACKDROP_HIDE_AVX512"
AVX512F = (7, 0, 1, 16)     # CPUID leaf, sub-leaf, register index (EAX=0 ... EDX=3), bit
AVX2 = (7, 0, 1, 5)


class NoAvx512Unavailable(BackdropError):
    """This machine cannot hide AVX-512 from a process (no CPUID faulting, not x86-64 Linux, no compiler)."""


def cpuid_faulting_available() -> bool:
    """Whether the kernel can make CPUID fault in user space, which the preloaded library needs."""
    try:
        return "cpuid_fault" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def build(source: Path = SOURCE, target: Path = BUILD) -> Path:
    """The preload library, compiled again when the source is newer."""
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise NoAvx512Unavailable("no C compiler (cc or gcc) to build bench/no_avx512.c: run make setup-test")
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(target), str(source)], check=True)
    return target


def environment(library: Path) -> dict[str, str]:
    """This process's environment with the library preloaded and switched on."""
    preload = " ".join(filter(None, [str(library), os.environ.get("LD_PRELOAD", "")]))
    return {**os.environ, "LD_PRELOAD": preload, SWITCH: "1"}


def _loaded() -> ctypes.CDLL | None:
    """The preloaded library, when this process has it."""
    if os.environ.get(SWITCH) != "1":
        return None
    try:
        return ctypes.CDLL(str(BUILD), mode=os.RTLD_NOLOAD)
    except OSError:
        return None


def active() -> bool:
    """Whether this process runs with AVX-512 hidden: the library is loaded, faulting is on, and the
    CPUID instruction really answers without AVX-512F while still reporting AVX2."""
    library = _loaded()
    if library is None or not ctypes.c_int.in_dll(library, "backdrop_avx512_hidden").value:
        return False
    registers = (ctypes.c_uint * 4)()
    library.backdrop_cpuid(7, 0, registers)
    return not _bit(registers, AVX512F) and _bit(registers, AVX2)


def answered() -> int:
    """How many CPUID instructions this process has had answered with AVX-512 hidden."""
    library = _loaded()
    return ctypes.c_long.in_dll(library, "backdrop_cpuid_answered").value if library is not None else 0


def _bit(registers, feature: tuple[int, int, int, int]) -> bool:
    return bool(registers[feature[2]] >> feature[3] & 1)


def rerun_hidden(module: str, argv: list[str]) -> int | None:
    """None when this process already runs with AVX-512 hidden (the benchmark goes on); otherwise
    ``python -m module argv`` is run again that way and its exit status returned."""
    if active():
        return None
    if os.environ.get(SWITCH) == "1":   # the re-run itself: never loop
        raise NoAvx512Unavailable("the preloaded library did not hide AVX-512 in this process")
    if not cpuid_faulting_available():
        raise NoAvx512Unavailable("this kernel or CPU has no CPUID faulting (cpuid_fault in /proc/cpuinfo), "
                                  "so AVX-512 cannot be hidden here")
    return subprocess.run([sys.executable, "-m", module, *argv], env=environment(build())).returncode


def describe() -> str:
    """What a results file says about the instruction sets its process saw."""
    return "AVX-512 and VNNI hidden from CPUID (bench/no_avx512.py)" if active() else "all of this CPU's instruction sets"
