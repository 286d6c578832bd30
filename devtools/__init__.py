"""What the test suite and the benchmarks both use, so that neither imports the other.

``services`` (throwaway PostgreSQL and Redis servers), ``ports`` (a free local port), ``client`` (one
simulated user over HTTP and the API key), ``procfs`` (gunicorn's workers as /proc shows them),
``appserver`` (``Server``: gunicorn on a free port with its own data directory) and ``portrait`` (the
public-domain sample portrait in ``data/``, its hand-checked mask and ``StoredMask``, a stand-in
segmenter that answers with that mask). Not part of the installed package: it serves the
repository's own tests and ``bench/``.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
