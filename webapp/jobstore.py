"""Jobs on disk: one folder per job holding the upload, its masks, its results and ``job.json``.

Why files and not a database: the app only ever needs "this job's files" and "the newest jobs", and a
folder per job is easy to inspect, back up and purge. Every write goes to a temporary file that is
then renamed into place, and a new job is assembled in ``tmp/`` and renamed into ``jobs/`` whole, so
a crash can leave stray temporary files (cleaned at start-up) but never a half file the app serves.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

JOB_ID_RE = re.compile(r"[0-9a-f]{32}")
# File names a job may hold: lower-case words, digits, dashes, one extension. No paths, no dots first.
FILE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}\.[a-z0-9]{2,5}")
JOB_FILE = "job.json"
TMP_PREFIX = ".tmp-"
STALE_AFTER_S = 24 * 3600


class JobNotFound(LookupError):
    """No job with that id (or the id is malformed, which we treat the same: never a path)."""


@dataclass(frozen=True)
class Page:
    """One page of the history, newest first."""

    jobs: list[dict[str, Any]]
    number: int
    pages: int
    total: int


def new_job_id() -> str:
    """128 random bits in hex: unguessable, so knowing one job's address reveals no other."""
    return secrets.token_hex(16)


def utc_now() -> str:
    """Creation time in microseconds: history is sorted by it, and jobs made within one millisecond
    (a fast client, or two workers) must still list newest first."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _owned(name: str) -> str:
    """``name`` tagged with this process's id, so that start-up clean-up can tell live temporaries
    (another gunicorn worker is writing them) from those of a process that died."""
    return f"{os.getpid()}-{name}"


def _left_by_the_dead(path: Path) -> bool:
    """True for a temporary whose writer is gone: its process no longer exists, it carries no owner
    (older layout), or it is older than a day (a recycled process id cannot keep it forever)."""
    match = re.match(r"(\d{1,9})-", path.name.removeprefix(TMP_PREFIX))
    pid = int(match.group(1)) if match else 0
    try:
        if pid <= 0 or time.time() - path.lstat().st_mtime > STALE_AFTER_S:
            return True
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, FileNotFoundError):
        return False  # alive under another user; or already gone
    return False


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary sibling, flush it to disk, then rename over ``path`` in one step."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX + _owned(""))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JobStore:
    """All access to job folders goes through here, so ids and file names are checked in one place."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.jobs_dir = self.root / "jobs"
        self.tmp_dir = self.root / "tmp"
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- set-up -----------------------------------------------------------------------------
    def prepare(self) -> int:
        """Create the folders and delete temporaries a crash left behind; returns how many went.

        Only temporaries of processes that no longer run go: other workers sharing the directory may
        be writing theirs right now.
        """
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        removed = 0
        for leftover in self.tmp_dir.iterdir():
            if not _left_by_the_dead(leftover):
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            removed += 1
        for leftover in self.jobs_dir.glob(f"*/{TMP_PREFIX}*"):
            if _left_by_the_dead(leftover):
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- paths ------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
            raise JobNotFound(job_id)
        return self.jobs_dir / job_id

    def file_path(self, job_id: str, name: str) -> Path:
        """Path of a file the job's record lists; anything else is "not found", never a path."""
        job = self.load(job_id)
        if name not in job.get("files", {}):
            raise JobNotFound(f"{job_id}/{name}")
        return self.job_dir(job_id) / name

    def lock(self, job_id: str) -> threading.Lock:
        """Serialises read-modify-write of one job's record (two clicks on "other model" at once)."""
        with self._locks_guard:
            return self._locks.setdefault(job_id, threading.Lock())

    # -- create / read / update ---------------------------------------------------------------
    def create(self, record: dict[str, Any], files: dict[str, tuple[bytes, str]]) -> dict[str, Any]:
        """Store a new job with ``files`` (name -> (bytes, content type)) and return its record.

        The folder is built under ``tmp/`` and renamed into ``jobs/`` when complete, so a job is either
        fully there or not there at all.
        """
        job_id = new_job_id()
        staging = self.tmp_dir / _owned(job_id)
        staging.mkdir(parents=True)
        try:
            record = {**record, "id": job_id, "created": utc_now(), "files": {}}
            for name, (data, content_type) in files.items():
                self._check_name(name)
                _write_atomic(staging / name, data)
                record["files"][name] = {"content_type": content_type, "bytes": len(data)}
            _write_atomic(staging / JOB_FILE, json.dumps(record, indent=2).encode())
            os.replace(staging, self.job_dir(job_id))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return record

    def load(self, job_id: str) -> dict[str, Any]:
        path = self.job_dir(job_id) / JOB_FILE
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError:
            raise JobNotFound(job_id) from None

    def read_file(self, job_id: str, name: str) -> bytes:
        return self.file_path(job_id, name).read_bytes()

    def add_files(self, job_id: str, files: dict[str, tuple[bytes, str]]) -> None:
        """Write files into an existing job; the caller records them with :meth:`save`."""
        folder = self.job_dir(job_id)
        for name, (data, _) in files.items():
            self._check_name(name)
            _write_atomic(folder / name, data)

    def save(self, record: dict[str, Any], files: dict[str, tuple[bytes, str]] | None = None) -> None:
        """Write ``files`` then the updated record, so the record never names a file not yet there."""
        files = files or {}
        self.add_files(record["id"], files)
        for name, (data, content_type) in files.items():
            record["files"][name] = {"content_type": content_type, "bytes": len(data)}
        _write_atomic(self.job_dir(record["id"]) / JOB_FILE, json.dumps(record, indent=2).encode())

    def delete(self, job_id: str) -> None:
        """Remove a job: renamed away first so it vanishes at once, then its files are deleted."""
        folder = self.job_dir(job_id)
        doomed = self.tmp_dir / _owned(f"deleted-{job_id}-{secrets.token_hex(4)}")
        try:
            os.replace(folder, doomed)
        except FileNotFoundError:
            raise JobNotFound(job_id) from None
        shutil.rmtree(doomed, ignore_errors=True)
        with self._locks_guard:
            self._locks.pop(job_id, None)

    # -- listing ------------------------------------------------------------------------------
    def _records(self) -> Iterator[dict[str, Any]]:
        for folder in self.jobs_dir.iterdir() if self.jobs_dir.exists() else ():
            if JOB_ID_RE.fullmatch(folder.name):
                try:
                    yield self.load(folder.name)
                except (JobNotFound, ValueError):
                    continue  # deleted meanwhile, or unreadable: not a job we can show

    def page(self, number: int, per_page: int) -> Page:
        """Jobs newest first, ``per_page`` at a time; page numbers start at 1 and are clamped."""
        records = sorted(self._records(), key=lambda job: job["created"], reverse=True)
        pages = max(1, -(-len(records) // per_page))
        number = min(max(1, number), pages)
        start = (number - 1) * per_page
        return Page(records[start:start + per_page], number, pages, len(records))

    def purge(self, older_than: timedelta, now: datetime | None = None, dry_run: bool = False) -> list[str]:
        """Delete jobs created more than ``older_than`` ago; returns their ids (only lists them if dry)."""
        cutoff = (now or datetime.now(timezone.utc)) - older_than
        doomed = [job["id"] for job in self._records() if datetime.fromisoformat(job["created"]) < cutoff]
        for job_id in [] if dry_run else doomed:
            try:
                self.delete(job_id)
            except JobNotFound:
                continue
        return doomed

    @staticmethod
    def _check_name(name: str) -> None:
        if not FILE_NAME_RE.fullmatch(name) or name == JOB_FILE:
            raise ValueError(f"not a valid job file name: {name!r}")
