"""Jobs: metadata in a database (``webapp/db.py``), files on disk, one folder per job.

A job's row (with its renders and its list of files) is the truth; its folder ``jobs/<id>/`` holds
the upload, masks and results named by that row. Every change to a job is one transaction that first
locks the job, then re-reads it, applies the change and places the new files, so concurrent renders
from any number of workers all keep their own number and file, or are refused whole. Files are never
replaced once recorded, are written to a temporary name, flushed and renamed into place, and a new
job is assembled in ``tmp/`` and renamed into ``jobs/`` whole before its row exists: a crash can
leave stray temporaries (cleaned at start-up) but never a record naming a half file.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from sqlalchemy import Connection, Engine, delete, func, insert, select

from ml.atomic import write_atomic

from webapp import db

log = logging.getLogger(__name__)

JOB_ID_RE = re.compile(r"[0-9a-f]{32}")
# File names a job may hold: lower-case words, digits, dashes, one extension. No paths, no dots first.
FILE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}\.[a-z0-9]{2,5}")
LEGACY_FILE = "job.json"  # where a job's record lived before the database; imported at start-up
TMP_PREFIX = ".tmp-"
STALE_AFTER_S = 24 * 3600
# Record keys that have columns or tables of their own; the rest is the row's JSON document.
COLUMNS = ("id", "created", "owner", "source", "files", "renders")
RENDER_COLUMNS = ("n", "model", "background", "file")
# A data directory refusing writes: the store then serves what it has and refuses changes.
READ_ONLY_ERRORS = (errno.EROFS, errno.EACCES, errno.EPERM)

Files = dict[str, tuple[bytes, str]]


class JobNotFound(LookupError):
    """No job with that id (or the id is malformed, which we treat the same: never a path)."""


class JobDamaged(JobNotFound):
    """The job exists but its record or files are missing or unreadable: only it is affected."""


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
    """A timestamp for records, in microseconds: jobs made within one millisecond still sort."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=timezone.utc).isoformat(timespec="microseconds")


def _naive_utc(text: str) -> datetime:
    """An ISO time (with or without offset) as the naive UTC the ``created`` column holds."""
    moment = datetime.fromisoformat(text)
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


# Hosts sharing one data directory tell their temporaries apart by this tag: a process id means
# nothing on another host.
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _owned(name: str) -> str:
    """``name`` tagged with this process's id and host, so that start-up clean-up can tell live
    temporaries (another gunicorn worker, or host, is writing them) from those of a process that died."""
    return f"{os.getpid()}-{HOST_TAG}-{name}"


def _left_by_the_dead(path: Path) -> bool:
    """True for a temporary whose writer is gone: its process no longer exists on this host, it
    carries no owner (older layout), or it is older than a day (a recycled process id cannot keep it
    forever, and another host's temporaries go only then)."""
    match = re.match(r"(\d{1,9})-(?:([0-9a-f]{8})-)?", path.name.removeprefix(TMP_PREFIX))
    pid = int(match.group(1)) if match else 0
    try:
        if pid <= 0 or time.time() - path.lstat().st_mtime > STALE_AFTER_S:
            return True
        if match.group(2) not in (None, HOST_TAG):
            return False  # another host's, and recent: it may be writing it now
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, FileNotFoundError):
        return False  # alive under another user; or already gone
    return False


def _store_file(path: Path, data: bytes) -> None:
    """One job file, flushed to disk before it is renamed into place (its row is committed next) and
    private to this user; its temporary name tells start-up clean-up which process wrote it."""
    write_atomic(path, data, durable=True, private=True, prefix=TMP_PREFIX + _owned(""))


def _document(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in COLUMNS}


def _render_row(job_id: str, render: dict[str, Any]) -> dict[str, Any]:
    details = {key: value for key, value in render.items() if key not in RENDER_COLUMNS}
    return {"job_id": job_id, "n": int(render["n"]), "model": str(render["model"]),
            "background": str(render["background"]), "file": str(render["file"]), "details": details}


def _file_rows(job_id: str, listed: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"job_id": job_id, "name": name, "content_type": str(meta["content_type"]), "bytes": int(meta["bytes"])}
            for name, meta in listed.items()]


def _check_legacy(record: dict[str, Any]) -> None:
    """What every page needs of a record (the rest is checked by inserting it); raises if missing."""
    if not isinstance(record.get("original"), dict) or not isinstance(record.get("masks"), dict):
        raise ValueError("it has no original photo or no masks entry")
    if not isinstance(record.get("files"), dict) or not isinstance(record.get("renders", []), list):
        raise ValueError("its files or renders are not listed")


class JobStore:
    """All access to jobs goes through here, so ids and file names are checked in one place."""

    def __init__(self, root: Path, database_url: str | None = None) -> None:
        self.root = Path(root)
        self.jobs_dir = self.root / "jobs"
        self.tmp_dir = self.root / "tmp"
        self.url = db.database_url(self.root, database_url)
        self.read_only = False
        self._engine: Engine | None = None

    # -- set-up -----------------------------------------------------------------------------
    def prepare(self) -> int:
        """Create the folders, delete temporaries a crash left, migrate the database and import jobs
        stored before it existed; returns how many temporaries went.

        A data directory that refuses writes does not stop start-up: the store then serves what it
        has and every change is refused (503), instead of the whole service going down.
        """
        removed = 0
        try:
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            removed = self._remove_temporaries()
            self._probe_writable()
        except OSError as exc:
            if exc.errno not in READ_ONLY_ERRORS:
                raise
            log.warning("the data directory %s refuses writes (%s): serving what it holds, refusing changes",
                        self.root, exc.strerror or exc)
            self.read_only = True
        self._engine = self._open_database()
        return removed

    def _remove_temporaries(self) -> int:
        """Only temporaries of processes that no longer run go: other workers may be writing theirs."""
        removed = 0
        for leftover in [*self.tmp_dir.iterdir(), *self.jobs_dir.glob(f"*/{TMP_PREFIX}*")]:
            if not _left_by_the_dead(leftover):
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def _probe_writable(self) -> None:
        fd, probe = tempfile.mkstemp(dir=self.tmp_dir, prefix=TMP_PREFIX + _owned("probe-"))
        os.close(fd)
        os.unlink(probe)

    def _open_database(self) -> Engine:
        sqlite_file = Path(self.url.removeprefix("sqlite:///")) if self.url.startswith("sqlite:///") else None
        if self.read_only and sqlite_file is not None and not sqlite_file.exists():
            # Nothing stored in a database yet: serve the job folders' records from memory.
            engine = db.make_engine("sqlite://")
            db.migrate(engine, self._import_legacy)
            return engine
        engine = db.make_engine(self.url, read_only=self.read_only and sqlite_file is not None)
        if not self.read_only:
            for path in db.migrate(engine, self._import_legacy):  # once committed, not before
                path.rename(path.with_name(LEGACY_FILE + ".imported"))
        return engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("JobStore.prepare() must run before the store is used")
        return self._engine

    # -- paths ------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
            raise JobNotFound(job_id)
        return self.jobs_dir / job_id

    def open_file(self, job_id: str, name: str) -> BinaryIO:
        """A file the job's record lists, opened for reading; any other name is "not found", never a
        path. Once open, deleting the job (a user, the purge) no longer disturbs the reader."""
        if name not in self.load(job_id)["files"]:
            raise JobNotFound(f"{job_id}/{name}")
        try:
            return (self.job_dir(job_id) / name).open("rb")
        except FileNotFoundError:
            raise self._missing(job_id, f"its file {name} is missing") from None

    def _missing(self, job_id: str, what: str) -> JobNotFound:
        """What to raise when a job's folder or file is not there: JobNotFound if it is being deleted
        (a delete moves the folder away inside its transaction, and holds the job's lock until it
        commits: waiting for that lock tells the two apart), JobDamaged if it stays."""
        query = select(db.jobs.c.id).where(db.jobs.c.id == job_id)
        if self.read_only:
            with self.engine.connect() as connection:
                row = connection.execute(query).one_or_none()
        else:
            with self._writing() as connection:
                row = connection.execute(query.with_for_update()).one_or_none()
        return JobNotFound(job_id) if row is None else JobDamaged(what)

    # -- transactions -----------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction; refused at once (as the OS would) when the data directory is read-only."""
        if self.read_only:
            raise OSError(errno.EROFS, "the data directory is read-only", str(self.root))
        with self.engine.connect().execution_options(write=True) as connection, connection.begin():
            yield connection

    def _load(self, connection: Connection, job_id: str, lock: bool = False) -> dict[str, Any]:
        self.job_dir(job_id)  # checks the id
        query = select(db.jobs).where(db.jobs.c.id == job_id)
        row = connection.execute(query.with_for_update() if lock else query).one_or_none()
        if row is None:
            raise JobNotFound(job_id)
        if row.damage is not None:
            raise JobDamaged(row.damage)
        return self._assemble([row], connection)[0]

    def _assemble(self, rows: list[Any], connection: Connection) -> list[dict[str, Any]]:
        """Records for job rows, with their renders and files (two queries, however many jobs)."""
        ids = [row.id for row in rows]
        renders: dict[str, list[dict[str, Any]]] = {job_id: [] for job_id in ids}
        for r in connection.execute(select(db.renders).where(db.renders.c.job_id.in_(ids)).order_by(db.renders.c.n)):
            renders[r.job_id].append({**r.details, "n": r.n, "model": r.model, "background": r.background,
                                      "file": r.file})
        files: dict[str, dict[str, Any]] = {job_id: {} for job_id in ids}
        for f in connection.execute(select(db.files).where(db.files.c.job_id.in_(ids)).order_by(db.files.c.name)):
            files[f.job_id][f.name] = {"content_type": f.content_type, "bytes": f.bytes}
        records = []
        for row in rows:
            # A damaged job shows in listings with what is known: its id, time and source.
            document = row.record if row.damage is None else {"original": {}, "masks": {}, "settings": {}}
            records.append({**document, "id": row.id, "created": _iso(row.created), "owner": row.owner,
                            "source": row.source, "files": files[row.id], "renders": renders[row.id],
                            **({"damage": row.damage} if row.damage is not None else {})})
        return records

    def _insert(self, connection: Connection, record: dict[str, Any], damage: str | None = None) -> None:
        connection.execute(insert(db.jobs).values(
            id=record["id"], created=_naive_utc(record["created"]), owner=record.get("owner"),
            source=str(record.get("source") or "unknown")[:16], record=_document(record), damage=damage))
        if record.get("renders"):
            connection.execute(insert(db.renders), [_render_row(record["id"], r) for r in record["renders"]])
        if record.get("files"):
            connection.execute(insert(db.files), _file_rows(record["id"], record["files"]))

    # -- create / read / update ---------------------------------------------------------------
    def create(self, record: dict[str, Any], files: Files) -> dict[str, Any]:
        """Store a new job with ``files`` (name -> (bytes, content type)) and return its record.

        The folder is built under ``tmp/`` and renamed into ``jobs/`` when complete, then the row is
        written: a job is either fully there or not there at all.
        """
        if self.read_only:
            raise OSError(errno.EROFS, "the data directory is read-only", str(self.root))
        job_id = new_job_id()
        staging = self.tmp_dir / _owned(job_id)
        record = {"owner": None, "source": "unknown", **record, "id": job_id, "created": utc_now(), "files": {}, "renders": []}
        staging.mkdir(parents=True)
        try:
            for name, (data, content_type) in files.items():
                self._check_name(name)
                _store_file(staging / name, data)
                record["files"][name] = {"content_type": content_type, "bytes": len(data)}
            os.replace(staging, self.job_dir(job_id))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            with self._writing() as connection:
                self._insert(connection, record)
        except BaseException:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
            raise
        return record

    def load(self, job_id: str) -> dict[str, Any]:
        """The job's record; JobDamaged when its folder is gone (a disk restored without it, say)."""
        with self.engine.connect() as connection:
            record = self._load(connection, job_id)
        if not self.job_dir(job_id).is_dir():
            raise self._missing(job_id, "its folder of files is missing")
        return record

    def owner(self, job_id: str) -> str | None:
        """Who the job belongs to (None: stored before owners existed); damaged jobs too."""
        self.job_dir(job_id)
        with self.engine.connect() as connection:
            row = connection.execute(select(db.jobs.c.owner).where(db.jobs.c.id == job_id)).one_or_none()
        if row is None:
            raise JobNotFound(job_id)
        return row.owner

    def read_file(self, job_id: str, name: str) -> bytes:
        with self.open_file(job_id, name) as handle:
            return handle.read()

    def update(self, job_id: str, change: Callable[[dict[str, Any]], Files | None]) -> dict[str, Any]:
        """Apply ``change`` to the job's current record in one transaction and return the record.

        ``change`` gets the record as stored now (locked: no other worker changes it meanwhile), edits
        it and returns the new files it names. They are written before the transaction commits and
        removed again if it does not, so a refused change (full disk, job deleted meanwhile) leaves the
        job exactly as it was. Recorded files are never replaced.
        """
        folder = self.job_dir(job_id)
        placed: list[Path] = []
        try:
            with self._writing() as connection:
                record = self._load(connection, job_id, lock=True)
                known_renders = {render["n"] for render in record["renders"]}
                new_files = change(record) or {}
                for name, (data, content_type) in new_files.items():
                    self._check_name(name)
                    if name in record["files"]:
                        raise ValueError(f"{name} is already stored; a job's files are never replaced")
                    _store_file(folder / name, data)
                    placed.append(folder / name)
                    record["files"][name] = {"content_type": content_type, "bytes": len(data)}
                connection.execute(db.jobs.update().where(db.jobs.c.id == job_id).values(record=_document(record)))
                added = [_render_row(job_id, r) for r in record["renders"] if r["n"] not in known_renders]
                if added:
                    connection.execute(insert(db.renders), added)
                if new_files:
                    connection.execute(insert(db.files), _file_rows(job_id, {n: record["files"][n] for n in new_files}))
        except BaseException:
            for path in placed:
                with suppress(OSError):
                    path.unlink()
            raise
        return record

    def delete(self, job_id: str) -> None:
        """Remove a job, damaged or not: its folder is renamed away inside the transaction that deletes
        its rows (so a refused rename keeps the job whole), then its files are deleted."""
        folder = self.job_dir(job_id)
        doomed = self.tmp_dir / _owned(f"deleted-{job_id}-{secrets.token_hex(4)}")
        with self._writing() as connection:
            query = select(db.jobs.c.id).where(db.jobs.c.id == job_id).with_for_update()
            if connection.execute(query).one_or_none() is None:
                raise JobNotFound(job_id)
            for table in (db.renders, db.files):
                connection.execute(delete(table).where(table.c.job_id == job_id))
            connection.execute(delete(db.jobs).where(db.jobs.c.id == job_id))
            with suppress(FileNotFoundError):  # a job whose folder is gone can still be removed
                os.replace(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    # -- listing ------------------------------------------------------------------------------
    def page(self, number: int, per_page: int, owner: str | None = None) -> Page:
        """Jobs newest first, ``per_page`` at a time (page numbers start at 1 and are clamped); only
        ``owner``'s when given. One indexed query for the page, one count, two for its details."""
        where = [] if owner is None else [db.jobs.c.owner == owner]
        with self.engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(db.jobs).where(*where)).scalar_one()
            pages = max(1, -(-total // per_page))
            number = min(max(1, number), pages)
            rows = connection.execute(select(db.jobs).where(*where)
                                      .order_by(db.jobs.c.created.desc(), db.jobs.c.id.desc())
                                      .limit(per_page).offset((number - 1) * per_page)).all()
            return Page(self._assemble(rows, connection), number, pages, total)

    def purge(self, older_than: timedelta, now: datetime | None = None, dry_run: bool = False) -> list[str]:
        """Delete jobs created more than ``older_than`` ago, damaged ones included; returns their ids."""
        cutoff = _naive_utc(((now or datetime.now(timezone.utc)) - older_than).isoformat())
        with self.engine.connect() as connection:
            doomed = list(connection.scalars(select(db.jobs.c.id).where(db.jobs.c.created < cutoff)))
        for job_id in [] if dry_run else doomed:
            with suppress(JobNotFound):  # deleted meanwhile
                self.delete(job_id)
        for folder in [] if dry_run else self._orphans(cutoff):
            shutil.rmtree(folder, ignore_errors=True)
        return doomed

    def _orphans(self, cutoff: datetime) -> list[Path]:
        """Job folders without a row, older than ``cutoff``: a process killed between moving a new
        job's folder into place and recording it (never served, so only the purge sees them)."""
        with self.engine.connect() as connection:
            known = set(connection.scalars(select(db.jobs.c.id)))
        return [folder for folder in self.jobs_dir.iterdir()
                if JOB_ID_RE.fullmatch(folder.name) and folder.name not in known
                and not (folder / LEGACY_FILE).exists()
                and datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc).replace(tzinfo=None) < cutoff]

    # -- jobs stored before the database ------------------------------------------------------
    def _import_legacy(self, connection: Connection) -> list[Path]:
        """Import every ``jobs/<id>/job.json`` not yet in the database, damaged ones as damaged jobs
        (404/410 with a message, purged by age); returns the files imported, which the caller renames
        ``job.json.imported`` once committed (kept, never served)."""
        known = set(connection.scalars(select(db.jobs.c.id)))
        imported = []
        for path in sorted(self.jobs_dir.glob(f"*/{LEGACY_FILE}")):
            job_id = path.parent.name
            if not JOB_ID_RE.fullmatch(job_id) or job_id in known:
                continue
            try:
                record = json.loads(path.read_bytes())
                if not isinstance(record, dict):
                    raise ValueError("it is not a JSON object")
                _check_legacy(record)
                with connection.begin_nested():
                    self._insert(connection, {**record, "id": job_id, "owner": None})
            except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
                created = datetime.fromtimestamp(path.parent.stat().st_mtime, timezone.utc).isoformat()
                self._insert(connection, {"id": job_id, "created": created, "source": "unknown"},
                             damage=f"its record ({LEGACY_FILE}) is unreadable: {exc}")
            imported.append(path)
        if imported:
            log.info("imported %d job(s) stored before the database", len(imported))
        return imported

    @staticmethod
    def _check_name(name: str) -> None:
        if not FILE_NAME_RE.fullmatch(name) or name == LEGACY_FILE:
            raise ValueError(f"not a valid job file name: {name!r}")
