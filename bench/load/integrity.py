"""Reading the store back after a run: every acknowledged job whole, on disk as recorded, no temporaries.

Checked through the server and on disk both, because a file can be recorded and missing, or present
and different from what the server hands out; either is a lost result for the user.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Iterable

from PIL import Image
from sqlalchemy import func, select

from devtools.client import Client
from webapp import db
from webapp.jobstore import TMP_PREFIX


def temp_files(data_dir: Path) -> list[str]:
    """Temporaries left in the store: anything in tmp/ and ``.tmp-*`` files inside job folders."""
    left = [str(p.relative_to(data_dir)) for p in (data_dir / "tmp").iterdir()] if (data_dir / "tmp").exists() else []
    return left + [str(p.relative_to(data_dir)) for p in data_dir.glob(f"jobs/*/{TMP_PREFIX}*")]


def check_jobs(port: int, data_dir: Path, job_ids: Iterable[str]) -> dict[str, Any]:
    """Read every acknowledged job back through the server: each listed file must come back whole.

    Whole means: served with status 200 and the stored content type, as many bytes as the record
    says, the same bytes as on disk, and an image that Pillow's integrity check accepts.
    """
    client = Client(port)
    jobs = files = 0
    problems: list[str] = []
    for job_id in sorted(set(job_ids)):
        reply = client.request("GET", f"/api/v1/jobs/{job_id}")
        if reply.status != 200:
            problems.append(f"job {job_id}: {reply.status} {reply.message()}")
            continue
        jobs += 1
        for name, meta in reply.json()["files"].items():
            files += 1
            served = client.request("GET", f"/jobs/{job_id}/files/{name}")
            on_disk = data_dir / "jobs" / job_id / name
            problem = None
            if served.status != 200:
                problem = f"status {served.status}"
            elif served.headers.get("content-type", "").split(";")[0] != meta["content_type"]:
                problem = f"served as {served.headers.get('content-type')}, stored as {meta['content_type']}"
            elif len(served.body) != meta["bytes"]:
                problem = f"{len(served.body)} bytes served, {meta['bytes']} recorded"
            elif not on_disk.is_file() or hashlib.sha256(on_disk.read_bytes()).digest() != hashlib.sha256(served.body).digest():
                problem = "differs from the file on disk"
            else:
                try:
                    Image.open(io.BytesIO(served.body)).verify()
                except Exception as exc:  # any decoder complaint means a damaged file
                    problem = f"not a readable image ({exc})"
            if problem:
                problems.append(f"{job_id}/{name}: {problem}")
    return {"jobs": jobs, "files": files, "lost_or_damaged": len(problems), "problems": problems[:20]}


def check_store_on_disk(data_dir: Path) -> dict[str, Any]:
    """Every job the database records has all its recorded files on disk at their recorded size."""
    engine = db.make_engine(db.database_url(data_dir, None))
    try:
        with engine.connect() as connection:
            jobs = connection.execute(select(func.count()).select_from(db.jobs)).scalar_one()
            recorded = connection.execute(select(db.files.c.job_id, db.files.c.name, db.files.c.bytes)).all()
    finally:
        engine.dispose()
    problems = [f"{job_id}/{name}: missing or wrong size" for job_id, name, size in recorded
                if not (data_dir / "jobs" / job_id / name).is_file()
                or (data_dir / "jobs" / job_id / name).stat().st_size != size]
    return {"jobs": jobs, "files": len(recorded), "problems": problems[:20], "damaged": len(problems)}

