"""Fixtures for the reliability tests: an app on a temporary data directory, a record of every file
the process opens, writes, renames or deletes (Python audit hooks), and hostile files made on the fly.
"""
from __future__ import annotations

import io
import os
import struct
import sys
import tempfile
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest
from PIL import Image

from devtools import services
from webapp import create_app

# Small limits keep hostile cases cheap; the models and code paths are the production ones. The rate
# limit is off because one test client sends hundreds of requests (test_security.py tests the limit).
TEST_CONFIG = {"TESTING": True, "MAX_UPLOAD_MB": 2, "MAX_PIXELS": 4_000_000, "RATE_LIMIT_PER_MINUTE": 0}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)


# -- images ------------------------------------------------------------------------------------------
def portrait(height: int = 240, width: int = 180, seed: int = 0) -> np.ndarray:
    """A head-and-shoulders figure on a gradient: enough structure for the models, made in a millisecond."""
    rng = np.random.default_rng(seed)
    yy = np.mgrid[0:height, 0:width][0]
    image = np.dstack([70 + 90 * yy / height, 130 + 0 * yy, 180 - 50 * yy / height]) + rng.normal(0, 5, (height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    cx = width // 2
    cv2.ellipse(image, (cx, int(height * 0.95)), (int(width * 0.42), int(height * 0.3)), 0, 180, 360, (40, 60, 150), -1)
    cv2.ellipse(image, (cx, int(height * 0.4)), (int(width * 0.17), int(height * 0.2)), 0, 0, 360, (205, 160, 130), -1)
    return image


def encode(rgb: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header claiming ``width`` x ``height`` followed by a few rows: a bomb's shape."""
    rows = zlib.compress(b"\x00" * (min(width, 4096) * 3 + 1) * 4, 9)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is rewritten to claim ``width`` x ``height``."""
    data = bytearray(encode(portrait(64, 48)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_with_a_damaged_second_page(rgb: np.ndarray) -> bytes:
    """A two-page TIFF whose second page lacks its ImageWidth tag: Pillow's n_frames raises TypeError
    on it (failure 3), though the first page, the photo, is whole."""
    buffer = io.BytesIO()
    page = Image.fromarray(rgb)
    page.save(buffer, "TIFF", save_all=True, append_images=[page])
    data = bytearray(buffer.getvalue())
    first = struct.unpack("<I", data[4:8])[0]
    entries = struct.unpack("<H", data[first:first + 2])[0]
    second = struct.unpack("<I", data[first + 2 + 12 * entries:first + 6 + 12 * entries])[0]
    for index in range(struct.unpack("<H", data[second:second + 2])[0]):
        entry = second + 2 + 12 * index
        if struct.unpack("<H", data[entry:entry + 2])[0] == 256:  # ImageWidth -> a private tag
            data[entry:entry + 2] = struct.pack("<H", 65000)
    return bytes(data)


def last_idat_end(png: bytes) -> int:
    """Offset just past the last IDAT chunk's data (before its CRC): cutting before it loses pixels."""
    offset, end = 8, 0
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        if kind == b"IDAT":
            end = offset + 8 + length
        offset += 12 + length
    return end


# -- app ---------------------------------------------------------------------------------------------
@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app(data_dir: Path):
    return create_app({**TEST_CONFIG, "DATA_DIR": data_dir})


@pytest.fixture
def client(app, form_client_class):
    app.test_client_class = form_client_class  # form posts carry the page's CSRF token
    return app.test_client()


@pytest.fixture
def photo() -> bytes:
    return encode(portrait())


def job_count(app) -> int:
    jobs_dir = app.extensions["backdrop"].store.jobs_dir
    return sum(1 for _ in jobs_dir.iterdir())


def upload(client, url: str, data: bytes, content_type: str = "image/jpeg", filename: str = "photo.jpg",
           fields: dict | None = None, field: str = "image"):
    """POST one file like a script would (JSON answers on every route)."""
    form = {**(fields or {}), field: (io.BytesIO(data), filename, content_type)}
    return client.post(url, data=form, content_type="multipart/form-data", headers={"Accept": "application/json"})


def assert_refused(response, statuses: range | tuple = range(400, 500)) -> str:
    """A 4xx with a JSON message and no stack trace; returns the message."""
    assert response.status_code in statuses, (response.status_code, response.data[:300])
    body = response.get_json()
    assert body and body["error"]["message"], response.data[:300]
    assert b"Traceback" not in response.data and b'File "' not in response.data
    return body["error"]["message"]


def assert_healthy(client) -> None:
    assert client.get("/healthz").status_code == 200


# -- real servers (devtools/services.py) ------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the whole run (URL without a database; see services.create_database)."""
    if services.postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed here (make test installs Debian's postgresql)")
    with services.postgres() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if services.redis_bin() is None:
        pytest.skip("redis-server is not installed here (make test installs Debian's redis-server)")
    with services.redis() as url:
        yield url


# -- file access audit -------------------------------------------------------------------------------
class FileAudit:
    """Every path this process reads or changes while ``recording()``, from Python's audit events.

    Audit hooks cannot be removed, so one hook is installed for the session and stays idle unless a
    test is recording. Only the test's own thread is recorded (the Flask test client runs the app on
    the calling thread).
    """

    _installed: "FileAudit | None" = None

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._thread: int | None = None
        sys.addaudithook(self._hook)

    @classmethod
    def instance(cls) -> "FileAudit":
        if cls._installed is None:
            cls._installed = cls()
        return cls._installed

    @contextmanager
    def recording(self) -> Iterator["FileAudit"]:
        self.events = []
        self._thread = threading.get_ident()
        try:
            yield self
        finally:
            self._thread = None

    def _hook(self, event: str, args: tuple) -> None:
        if self._thread != threading.get_ident():
            return
        try:
            self._record(event, args)
        except Exception:  # an audit hook must never break the operation it watches
            pass

    def _record(self, event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int) or path is None:
                return
            if _O_TMPFILE and isinstance(flags, int) and flags & _O_TMPFILE == _O_TMPFILE:
                return  # an anonymous temporary file (upload spooling): it has no name and no place
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and bool(flags & _WRITE_FLAGS))
            self.events.append(("write" if writing else "read", os.fsdecode(path)))
        elif event in ("os.rename", "os.link", "os.symlink"):
            self.events += [("write", os.fsdecode(args[0])), ("write", os.fsdecode(args[1]))]
        elif event in ("os.remove", "os.rmdir", "os.mkdir", "os.truncate", "os.chmod", "os.chown", "os.utime",
                       "shutil.rmtree", "shutil.copyfile", "shutil.move"):
            if not isinstance(args[0], int):
                self.events.append(("write", os.fsdecode(args[0])))
        elif event in ("os.listdir", "os.scandir"):
            if args and args[0] is not None and not isinstance(args[0], int):
                self.events.append(("read", os.fsdecode(args[0])))

    def paths(self, kind: str) -> list[Path]:
        return [Path(os.path.abspath(path)) for k, path in self.events if k == kind]

    def writes_outside(self, root: Path) -> list[Path]:
        root = Path(os.path.abspath(root))
        return [p for p in self.paths("write")
                if root != p and root not in p.parents and "__pycache__" not in p.parts]

    def touching(self, area: Path, except_under: Path) -> list[tuple[str, str]]:
        """Reads or writes inside ``area`` but not inside ``except_under``."""
        area, allowed = Path(os.path.abspath(area)), Path(os.path.abspath(except_under))
        hits = []
        for kind, path in self.events:
            p = Path(os.path.abspath(path))
            inside = area == p or area in p.parents
            if inside and not (allowed == p or allowed in p.parents):
                hits.append((kind, path))
        return hits


@pytest.fixture
def file_audit() -> FileAudit:
    return FileAudit.instance()


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A secret file next to the data directory: no request may read it, list it or change it."""
    path = tmp_path / "outside" / "canary.txt"
    path.parent.mkdir()
    path.write_text("canary-" + os.urandom(8).hex())
    return path


def system_tmp() -> Path:
    return Path(tempfile.gettempdir())
