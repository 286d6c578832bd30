"""Start-up phase: what importing the serving path costs a gunicorn worker, in a plain interpreter.

A separate ``python -c`` so nothing this script imported (NumPy, OpenCV, SQLAlchemy) is counted, and
so ``sys.modules`` shows whether TensorFlow, Keras or the Keras model builders crept into serving.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.load import ROOT


def startup_phase(workdir: Path) -> dict[str, Any]:
    """Import cost of the serving path in a plain interpreter: what a gunicorn worker pays at boot."""
    code = ("import json, sys, time; t = time.perf_counter(); import wsgi; s = time.perf_counter() - t; "
            "rss = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')][0] / 1024; "
            "print(json.dumps({'create_app_s': round(s, 3), 'rss_mb': round(rss, 1), "
            "'tensorflow': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules, "
            "'ml_models': any(m == 'ml.training.models' or m.startswith('ml.training.models.') for m in sys.modules)}))")
    env = {**os.environ, "BACKDROP_DATA_DIR": str(workdir / "import-check"), "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"importing wsgi failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
