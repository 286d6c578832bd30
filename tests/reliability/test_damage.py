"""Damage stays local: a job whose record or files are missing or corrupt answers 404/410 with a
message, while the History page, the purge and every other job go on (failure 2), and the purge or
a delete removes it."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from ml.catalogue import DEFAULT_MODEL
from tests.stored import backdate
from webapp import create_app
from webapp.config import REPO_ROOT
from webapp.jobstore import new_job_id

from .conftest import TEST_CONFIG, encode, portrait

# job.json files as a crash, a bad disk or a hand edit left them before the database existed.
BROKEN_RECORDS = {"empty object": b"{}", "a list": b"[]", "no created": b'{"source": "page", "files": {}}',
                  "no original": b'{"source": "page", "created": "2026-11-20T10:00:00+00:00", "files": {}, "masks": {}}',
                  "truncated": b'{"source": "page", "created": "2026-11-', "garbage": bytes(range(256))}


@pytest.fixture
def broken_legacy_jobs(data_dir) -> dict[str, str]:
    ids = {}
    for label, data in BROKEN_RECORDS.items():
        folder = data_dir / "jobs" / new_job_id()
        folder.mkdir(parents=True)
        (folder / "original.jpg").write_bytes(encode(portrait()))
        (folder / "job.json").write_bytes(data)
        ids[label] = folder.name
    return ids


def make_job(client) -> str:
    response = client.post("/jobs", data={"image": (io.BytesIO(encode(portrait())), "p.jpg", "image/jpeg")},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    return response.headers["Location"].split("/jobs/")[1].split("?")[0]


def assert_gone_with_a_message(client, job_id: str) -> None:
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 410 and "can no longer be shown" in page.get_data(as_text=True)
    api = client.get(f"/api/v1/jobs/{job_id}")
    assert api.status_code == 410 and "can no longer be shown" in api.get_json()["error"]["message"]
    assert client.get(f"/jobs/{job_id}/files/original.jpg").status_code in (404, 410)
    assert client.post(f"/jobs/{job_id}/background", data={"background": "blur"}).status_code in (404, 410)


def test_broken_job_records_harm_only_their_own_job(data_dir, broken_legacy_jobs, form_client_class):
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir, "SHARED_HISTORY": True})
    app.test_client_class = form_client_class
    client = app.test_client()
    good = make_job(client)
    history = client.get("/history")
    assert history.status_code == 200 and good in history.get_data(as_text=True)
    for label, job_id in broken_legacy_jobs.items():
        assert_gone_with_a_message(client, job_id)
    assert client.get(f"/jobs/{good}").status_code == 200
    assert client.post(f"/jobs/{broken_legacy_jobs['garbage']}/delete").status_code == 303
    assert not (data_dir / "jobs" / broken_legacy_jobs["garbage"]).exists()


def test_the_purge_goes_on_and_removes_broken_jobs(data_dir, broken_legacy_jobs):
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    store = app.extensions["backdrop"].store
    for job_id in broken_legacy_jobs.values():
        backdate(store, job_id, 48)
    env = {**os.environ, "BACKDROP_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "webapp.purge"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"deleted {len(BROKEN_RECORDS)} job(s)" in done.stdout
    assert list((data_dir / "jobs").iterdir()) == []


@pytest.mark.parametrize("damage", ["folder deleted", "original deleted", "original garbage", "mask garbage"])
def test_jobs_whose_files_are_damaged_answer_410(app, client, data_dir, damage):
    store = app.extensions["backdrop"].store
    job_id, other = make_job(client), make_job(client)
    folder = data_dir / "jobs" / job_id
    record = store.load(job_id)
    original = folder / record["original"]["file"]
    if damage == "folder deleted":
        shutil.rmtree(folder)
    elif damage == "original deleted":
        original.unlink()
    elif damage == "original garbage":
        original.write_bytes(b"not a photo any more")
    else:
        (folder / f"alpha-{DEFAULT_MODEL}.png").write_bytes(b"not a png")
    changed = client.post(f"/jobs/{job_id}/background", data={"background": "blur"})
    assert changed.status_code == 410, changed.get_data(as_text=True)[:300]
    assert "can no longer be shown" in changed.get_data(as_text=True)
    assert client.get("/history").status_code == 200 and client.get(f"/jobs/{other}").status_code == 200
    assert client.post(f"/jobs/{job_id}/delete").status_code == 303
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 404
