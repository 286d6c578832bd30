"""Writing a file so that it is either whole or absent: write a temporary sibling, then rename it.

A killed process, a full disk or a crash then never leaves half a file that a reader (the web app
serving a job, a resumed run taking it for finished work, a model loader) would take for a whole one.
The rename is atomic because the temporary is in the same folder as the target.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator


def _temporary_name(path: Path, prefix: str | None = None, suffix: str = "") -> Path:
    """A fresh hidden name beside ``path``, ending in ``.tmp`` so that nothing globbing for finished
    files (``*.png``) takes a leftover for one; ``suffix`` only for writers that need it (Keras picks
    its format by the name). ``prefix`` (default ``.<name>.``) lets a store tell its own leftovers."""
    prefix = f".{path.name}." if prefix is None else prefix
    return path.with_name(f"{prefix}{secrets.token_hex(4)}.tmp{suffix}")


@contextmanager
def atomic_path(path: Path, prefix: str | None = None, suffix: str = "") -> Iterator[Path]:
    """A temporary path to write ``path``'s content to (for writers that want a path, like
    ``keras.Model.save``): renamed over ``path`` when the block ends, deleted if it raises."""
    tmp = _temporary_name(Path(path), prefix, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: Path, data: bytes | str, *, durable: bool = False, private: bool = False,
                 prefix: str | None = None) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all, creating its folder.

    ``durable`` flushes the file to disk before the rename, so a power cut cannot leave a renamed but
    empty file (what a store recording the file in a database needs). ``private`` makes it readable by
    this user only (people's photos).
    """
    path = Path(path)
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    content = data.encode() if isinstance(data, str) else data
    with atomic_path(path, prefix) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
