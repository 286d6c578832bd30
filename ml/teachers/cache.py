"""Where training-time caches live: outside the repository, one folder per kind of data.

``BACKDROP_CACHE`` moves it (default ``~/.cache/backdrop``). Everything in it can be made again by the
script that wrote it, with fixed seeds; only manifests with counts and hashes are committed.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("BACKDROP_CACHE") or Path.home() / ".cache" / "backdrop")

