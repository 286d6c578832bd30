"""What the web and reliability tests look at in a data directory: a fingerprint of everything stored
(to prove a refused request changed nothing) and back-dating a job (for the retention tests)."""
from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from webapp import db


def snapshot(root: Path) -> dict[str, str]:
    """Every stored file and, per job, its database rows (the database's own files change on reads
    too: SQLite's write-ahead log and its shared-memory index)."""
    found = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(db.DB_FILE)}
    with closing(sqlite3.connect(f"file:{root / db.DB_FILE}?mode=ro", uri=True)) as connection:
        for (job_id,) in connection.execute("SELECT id FROM jobs").fetchall():
            rows = [connection.execute(f"SELECT * FROM {table} WHERE {column} = ? ORDER BY 1, 2", (job_id,)).fetchall()
                    for table, column in (("jobs", "id"), ("renders", "job_id"), ("files", "job_id"))]
            found[f"database: job {job_id}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return found


def backdate(store, job_id: str, hours: float) -> None:
    """Make a job look ``hours`` old, as the purge sees it (its row's creation time)."""
    created = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=hours)
    with store.engine.begin() as connection:
        connection.execute(db.jobs.update().where(db.jobs.c.id == job_id).values(created=created))
