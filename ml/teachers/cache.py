"""Where training-time caches live: outside the repository, one folder per kind of data.

``BACKDROP_CACHE`` moves it (default ``~/.cache/backdrop``). Everything in it can be made again by the
script that wrote it, with fixed seeds; only manifests with counts and hashes are committed.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("BACKDROP_CACHE") or Path.home() / ".cache" / "backdrop")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name, then rename: a killed run never leaves half a file
    that a resumed run would take for finished work."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
