"""JobStore: ids, atomic writes, listing, delete and purge, including crashes half-way."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

from webapp import jobstore
from webapp.jobstore import JOB_ID_RE, JobNotFound, JobStore


@pytest.fixture
def jobs(tmp_path) -> JobStore:
    store = JobStore(tmp_path)
    store.prepare()
    return store


def make(store: JobStore, label: str = "x") -> dict:
    return store.create({"label": label}, {"original.jpg": (b"jpeg bytes " + label.encode(), "image/jpeg")})


def test_create_and_read_back(jobs):
    record = make(jobs)
    assert JOB_ID_RE.fullmatch(record["id"])
    assert jobs.load(record["id"]) == record
    assert jobs.read_file(record["id"], "original.jpg") == b"jpeg bytes x"
    assert record["files"]["original.jpg"] == {"content_type": "image/jpeg", "bytes": 12}
    assert list(jobs.tmp_dir.iterdir()) == []


def test_ids_are_random_and_unguessable(jobs):
    ids = {make(jobs)["id"] for _ in range(20)}
    assert len(ids) == 20 and all(len(i) == 32 for i in ids)


@pytest.mark.parametrize("job_id", ["../etc", "0" * 31, "0" * 33, "G" * 32, "A" * 32, "", None, "0" * 31 + "/"])
def test_malformed_ids_are_not_found(jobs, job_id):
    with pytest.raises(JobNotFound):
        jobs.load(job_id)


@pytest.mark.parametrize("name", ["../x.png", "job.json", ".hidden.png", "a/b.png", "noext", "UPPER.PNG"])
def test_bad_file_names_are_refused(jobs, name):
    record = make(jobs)
    with pytest.raises(ValueError):
        jobs.save(record, {name: (b"x", "image/png")})
    with pytest.raises(JobNotFound):
        jobs.file_path(record["id"], name)


def test_a_crash_while_creating_leaves_no_job(jobs, monkeypatch):
    real_replace = os.replace

    def crash_on_folder(src, dst):
        if os.path.isdir(src):
            raise OSError("disk gone")
        real_replace(src, dst)

    monkeypatch.setattr(jobstore.os, "replace", crash_on_folder)
    with pytest.raises(OSError):
        make(jobs)
    assert list(jobs.jobs_dir.iterdir()) == [] and list(jobs.tmp_dir.iterdir()) == []


def test_a_crash_while_saving_keeps_the_old_file_and_record(jobs, monkeypatch):
    record = make(jobs)
    before = jobs.load(record["id"])

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(jobstore.os, "replace", crash)
    record["label"] = "changed"
    with pytest.raises(OSError):
        jobs.save(record, {"original.jpg": (b"half", "image/jpeg")})
    monkeypatch.undo()
    assert jobs.load(record["id"]) == before
    assert jobs.read_file(record["id"], "original.jpg") == b"jpeg bytes x"
    # No temporary file is left next to the job's files either.
    assert sorted(p.name for p in jobs.job_dir(record["id"]).iterdir()) == ["job.json", "original.jpg"]


def test_prepare_removes_what_a_crash_left(jobs):
    record = make(jobs)
    (jobs.tmp_dir / "abc").mkdir()
    (jobs.tmp_dir / "abc" / "half.png").write_bytes(b"x")
    (jobs.job_dir(record["id"]) / f"{jobstore.TMP_PREFIX}zzz").write_bytes(b"half")
    assert jobs.prepare() == 2
    assert list(jobs.tmp_dir.iterdir()) == []
    assert sorted(p.name for p in jobs.job_dir(record["id"]).iterdir()) == ["job.json", "original.jpg"]


def test_pages_are_newest_first_and_clamped(jobs):
    ids = [make(jobs, str(i))["id"] for i in range(5)]
    first = jobs.page(1, 2)
    assert [job["id"] for job in first.jobs] == ids[::-1][:2]
    assert (first.number, first.pages, first.total) == (1, 3, 5)
    assert [job["id"] for job in jobs.page(3, 2).jobs] == ids[:1]
    assert jobs.page(99, 2).number == 3 and jobs.page(-4, 2).number == 1


def test_unreadable_records_are_skipped_in_listings(jobs):
    good = make(jobs)
    broken = make(jobs)
    (jobs.job_dir(broken["id"]) / "job.json").write_text("{not json")
    assert [job["id"] for job in jobs.page(1, 10).jobs] == [good["id"]]


def test_delete(jobs):
    record = make(jobs)
    jobs.delete(record["id"])
    assert not jobs.job_dir(record["id"]).exists() and list(jobs.tmp_dir.iterdir()) == []
    with pytest.raises(JobNotFound):
        jobs.delete(record["id"])


def test_purge_by_age(jobs):
    old, new = make(jobs, "old"), make(jobs, "new")
    path = jobs.job_dir(old["id"]) / "job.json"
    record = json.loads(path.read_text())
    record["created"] = (datetime.now(timezone.utc) - timedelta(hours=30)).isoformat()
    path.write_text(json.dumps(record))
    assert jobs.purge(timedelta(hours=24), dry_run=True) == [old["id"]]
    assert jobs.job_dir(old["id"]).exists()
    assert jobs.purge(timedelta(hours=24)) == [old["id"]]
    assert not jobs.job_dir(old["id"]).exists() and jobs.job_dir(new["id"]).exists()
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert jobs.purge(timedelta(hours=1), now=later) == [new["id"]]
