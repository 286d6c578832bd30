"""bench/no_avx512.py really hides AVX-512 from a process, leaves AVX2 and real crashes alone, and
does nothing unless switched on."""
import json
import platform
import shutil
import signal
import subprocess
import sys

import pytest

from bench import no_avx512

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or not no_avx512.cpuid_faulting_available()
    or not (shutil.which("cc") or shutil.which("gcc")),
    reason="needs x86-64 Linux with CPUID faulting and a C compiler")

# What a child process reports about itself: whether AVX-512 is hidden, CPUID leaf 7 as it sees it,
# and how many CPUID instructions the library answered (NumPy's import asks several).
PROBE = """
import ctypes, json
import numpy
from bench import no_avx512
registers = (ctypes.c_uint * 4)()
library = ctypes.CDLL(str(no_avx512.BUILD))
library.backdrop_cpuid(7, 0, registers)
print(json.dumps({"active": no_avx512.active(), "answered": no_avx512.answered(),
                  "avx512f": no_avx512._bit(registers, no_avx512.AVX512F),
                  "avx2": no_avx512._bit(registers, no_avx512.AVX2)}))
"""


def _probe(env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)


def test_the_child_sees_avx2_without_avx512():
    library = no_avx512.build()
    child = _probe(no_avx512.environment(library))
    assert child["active"] is True
    assert child["avx512f"] is False and child["avx2"] is True
    assert child["answered"] > 0


def test_without_the_switch_the_library_changes_nothing():
    library = no_avx512.build()
    env = no_avx512.environment(library)
    del env[no_avx512.SWITCH]
    plain = _probe({k: v for k, v in env.items() if k != "LD_PRELOAD"})
    child = _probe(env)
    assert child["active"] is False and child["answered"] == 0
    assert child["avx512f"] == plain["avx512f"] and child["avx2"] == plain["avx2"]


def test_a_real_crash_still_crashes():
    env = no_avx512.environment(no_avx512.build())
    done = subprocess.run([sys.executable, "-c", "import ctypes; ctypes.string_at(0)"], env=env,
                          capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGSEGV


def test_a_rerun_that_could_not_hide_stops_instead_of_looping(monkeypatch):
    monkeypatch.setenv(no_avx512.SWITCH, "1")   # as in the re-run, but nothing preloaded
    with pytest.raises(no_avx512.NoAvx512Unavailable, match="did not hide"):
        no_avx512.rerun_hidden("bench.latency", ["--hide-avx512"])
