"""Load, memory, start-up, hostile input and worker-kill figures for the served app.

``python -m bench.load [--requests 500] [--clients 8] [--workers 1 2] [--seq-requests 2000]``

Everything runs against real gunicorn servers that this script starts on 127.0.0.1 (a free port, a
temporary data directory, the same flags as ``make run``) and stops itself:

1. start-up: time from launch to the first healthy answer, resident memory (RSS) per worker with
   both models loaded, whether a worker maps any TensorFlow library, and a ``python -c`` import of
   ``wsgi`` reporting which of tensorflow / keras / ml.training.models ended up in ``sys.modules``;
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
use the public-domain NASA portrait in ``devtools/data``. Requests come from one address, so the
servers run with the rate limit off (``BACKDROP_RATE_LIMIT=0``); they do run with an API key.

The modules, in the order a run uses them: ``photos`` (the synthetic test photos), ``probes`` (what
/proc says about TensorFlow and competing processes), ``workload`` (the request mix and the threads
that send it), ``integrity`` (reading the store back), the phases ``startup``, ``traffic``,
``hostile``, ``faults`` and ``suite``, and ``report`` (the markdown fragment). ``__main__`` runs them
in order. The gunicorn servers (``Server``), the HTTP client and the /proc probes a server needs come
from ``devtools``, which the reliability tests share.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The targets the figures are held against; the report prints them next to what was measured.
GOALS = {"startup_s": 3.0, "worker_rss_mb": 300.0, "memory_growth_pct": 10.0}


def log(message: str) -> None:
    """Progress on stdout with the time of day: a full run takes the better part of an hour."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)
