"""JobStore: ids, atomic writes, transactions, listing, delete, purge and the import of jobs stored
as job.json before the database, including crashes half-way and concurrent writers."""
from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timedelta, timezone

import pytest

from tests.stored import backdate
from webapp import jobstore
from webapp.jobstore import JOB_ID_RE, JobDamaged, JobNotFound, JobStore


@pytest.fixture
def jobs(tmp_path) -> JobStore:
    store = JobStore(tmp_path)
    store.prepare()
    return store


def make(store: JobStore, label: str = "x", owner: str | None = None) -> dict:
    return store.create({"label": label, "owner": owner},
                        {"original.jpg": (b"jpeg bytes " + label.encode(), "image/jpeg")})


def add_render(store: JobStore, job_id: str, data: bytes = b"result") -> dict:
    """What JobRunner.render does: the next number, its file, in one transaction."""
    made = {}

    def change(record):
        number = max((r["n"] for r in record["renders"]), default=0) + 1
        made.update(n=number, model="sinet", background="blur", file=f"result-{number}.jpg")
        record["renders"].append(dict(made))
        return {made["file"]: (data, "image/jpeg")}

    store.update(job_id, change)
    return made


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
        jobs.update(record["id"], lambda current: {name: (b"x", "image/png")})
    with pytest.raises(JobNotFound):
        jobs.open_file(record["id"], name)
    assert jobs.load(record["id"]) == record


def test_recorded_files_are_never_replaced(jobs):
    record = make(jobs)
    with pytest.raises(ValueError, match="never replaced"):
        jobs.update(record["id"], lambda current: {"original.jpg": (b"other", "image/jpeg")})
    assert jobs.read_file(record["id"], "original.jpg") == b"jpeg bytes x"


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
    assert jobs.page(1, 10).total == 0


def test_a_refused_change_keeps_the_old_record_and_leaves_no_file(jobs, monkeypatch):
    """Failure 9 at its source: a write refused half-way (507) must not have changed the record."""
    record = make(jobs)
    add_render(jobs, record["id"])
    before = jobs.load(record["id"])

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jobstore.os, "fsync", full)
    with pytest.raises(OSError):
        add_render(jobs, record["id"], b"second")
    monkeypatch.undo()
    assert jobs.load(record["id"]) == before
    assert sorted(p.name for p in jobs.job_dir(record["id"]).iterdir()) == ["original.jpg", "result-1.jpg"]
    assert add_render(jobs, record["id"])["n"] == 2  # the number was not used up either


def test_concurrent_changes_each_keep_their_own_number_and_file(jobs):
    """Failure 1 at its source: 8 threads x 3 renders of one job, all kept, numbers 1..24 once each."""
    record = make(jobs)
    start = threading.Barrier(8)
    errors = []

    def worker(index: int) -> None:
        start.wait()
        for turn in range(3):
            try:
                add_render(jobs, record["id"], f"render {index}-{turn}".encode())
            except Exception as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = jobs.load(record["id"])
    assert [r["n"] for r in stored["renders"]] == list(range(1, 25))
    contents = {jobs.read_file(record["id"], r["file"]) for r in stored["renders"]}
    assert len(contents) == 24
    for name, meta in stored["files"].items():
        assert (jobs.job_dir(record["id"]) / name).stat().st_size == meta["bytes"]


def test_prepare_removes_what_a_crash_left(jobs):
    record = make(jobs)
    (jobs.tmp_dir / "abc").mkdir()
    (jobs.tmp_dir / "abc" / "half.png").write_bytes(b"x")
    (jobs.job_dir(record["id"]) / f"{jobstore.TMP_PREFIX}zzz").write_bytes(b"half")
    assert jobs.prepare() == 2
    assert list(jobs.tmp_dir.iterdir()) == []
    assert sorted(p.name for p in jobs.job_dir(record["id"]).iterdir()) == ["original.jpg"]


def test_pages_are_newest_first_clamped_and_per_owner(jobs):
    ids = [make(jobs, str(i), owner="a" if i % 2 else "b")["id"] for i in range(5)]
    first = jobs.page(1, 2)
    assert [job["id"] for job in first.jobs] == ids[::-1][:2]
    assert (first.number, first.pages, first.total) == (1, 3, 5)
    assert [job["id"] for job in jobs.page(3, 2).jobs] == ids[:1]
    assert jobs.page(99, 2).number == 3 and jobs.page(-4, 2).number == 1
    assert [job["id"] for job in jobs.page(1, 10, owner="a").jobs] == [ids[3], ids[1]]
    assert jobs.page(1, 10, owner="nobody").total == 0


def test_delete(jobs):
    record = make(jobs)
    jobs.delete(record["id"])
    assert not jobs.job_dir(record["id"]).exists() and list(jobs.tmp_dir.iterdir()) == []
    with pytest.raises(JobNotFound):
        jobs.delete(record["id"])
    with pytest.raises(JobNotFound):
        jobs.update(record["id"], lambda current: {})


def test_a_job_whose_folder_vanished_is_damaged_and_can_be_deleted(jobs):
    record, other = make(jobs), make(jobs)
    os.unlink(jobs.job_dir(record["id"]) / "original.jpg")
    with pytest.raises(JobDamaged, match="original.jpg is missing"):
        jobs.read_file(record["id"], "original.jpg")
    jobs.delete(record["id"])
    assert [job["id"] for job in jobs.page(1, 10).jobs] == [other["id"]]


def test_purge_by_age(jobs):
    old, new = make(jobs, "old"), make(jobs, "new")
    backdate(jobs, old["id"], 30)
    assert jobs.purge(timedelta(hours=24), dry_run=True) == [old["id"]]
    assert jobs.job_dir(old["id"]).exists()
    assert jobs.purge(timedelta(hours=24)) == [old["id"]]
    assert not jobs.job_dir(old["id"]).exists() and jobs.job_dir(new["id"]).exists()
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert jobs.purge(timedelta(hours=1), now=later) == [new["id"]]


def test_purge_removes_folders_a_crash_left_unrecorded(jobs):
    """Killed between moving a new job's folder into place and writing its row: never served, and
    gone once older than the retention."""
    kept = make(jobs)
    orphan = jobs.jobs_dir / jobstore.new_job_id()
    orphan.mkdir()
    (orphan / "original.jpg").write_bytes(b"half a job")
    os.utime(orphan, (1, 1))
    assert jobs.purge(timedelta(hours=24)) == []
    assert not orphan.exists() and jobs.job_dir(kept["id"]).exists()


# -- jobs stored as job.json before the database ---------------------------------------------------
LEGACY = {
    "id": "ignored", "source": "page", "created": "2026-11-20T10:00:00.000001+00:00", "settings": {"model": "sinet"},
    "original": {"file": "original.jpg", "filename": "me.jpg", "width": 2, "height": 2, "bytes": 3,
                 "content_type": "image/jpeg"},
    "masks": {}, "files": {"original.jpg": {"content_type": "image/jpeg", "bytes": 3}},
    "renders": [{"n": 1, "model": "sinet", "background": "blur", "file": "original.jpg", "created": "x",
                 "display": "original.jpg", "timings_ms": {"compose": 1.0}}],
}
BROKEN = {"empty object": b"{}", "a list": b"[1, 2]", "no created": json.dumps({**LEGACY, "created": None}).encode(),
          "truncated": json.dumps(LEGACY).encode()[:40], "garbage": os.urandom(64),
          "bad files": json.dumps({**LEGACY, "files": [1]}).encode()}


def legacy_job(root, record: bytes) -> str:
    job_id = jobstore.new_job_id()
    folder = root / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "original.jpg").write_bytes(b"abc")
    (folder / "job.json").write_bytes(record)
    return job_id


def test_jobs_stored_as_job_json_are_imported_once_none_lost(tmp_path):
    good = legacy_job(tmp_path, json.dumps(LEGACY).encode())
    broken = {label: legacy_job(tmp_path, data) for label, data in BROKEN.items()}
    store = JobStore(tmp_path)
    store.prepare()
    record = store.load(good)
    assert record["created"] == LEGACY["created"] and record["owner"] is None
    assert record["renders"] == LEGACY["renders"] and record["files"] == LEGACY["files"]
    assert store.read_file(good, "original.jpg") == b"abc"
    for label, job_id in broken.items():
        with pytest.raises(JobDamaged, match="job.json"):
            store.load(job_id)
    assert store.page(1, 50).total == 1 + len(BROKEN)  # listed, so they can be seen and deleted
    assert not list(tmp_path.glob("jobs/*/job.json"))  # kept as job.json.imported, never imported twice
    again = JobStore(tmp_path)
    again.prepare()
    assert again.page(1, 50).total == 1 + len(BROKEN)


def test_purge_removes_damaged_jobs_by_age(tmp_path):
    damaged = legacy_job(tmp_path, b"{not json")
    os.utime(tmp_path / "jobs" / damaged, (1, 1))  # last touched long ago
    store = JobStore(tmp_path)
    store.prepare()
    assert store.purge(timedelta(hours=24)) == [damaged]
    assert not (tmp_path / "jobs" / damaged).exists()


def test_start_up_spares_another_hosts_recent_temporaries(jobs):
    """Hosts sharing a data directory: a process id is only meaningful on its own host."""
    theirs = jobs.tmp_dir / "99999999-0badc0de-" / "x"
    theirs.parent.mkdir()
    ours_dead = jobs.tmp_dir / f"99999999-{jobstore.HOST_TAG}-abc"
    ours_dead.mkdir()
    assert jobs.prepare() == 1
    assert theirs.parent.exists() and not ours_dead.exists()
    os.utime(theirs.parent, (1, 1))
    assert jobs.prepare() == 1 and not theirs.parent.exists()
