"""A gunicorn worker serves several requests at once on threads (``--threads 4``): concurrent requests
must give exactly what the same requests give one at a time."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import time

import cv2

from devtools.portrait import PORTRAIT
from ml.idphoto.face import detect_faces
from ml.imageio import load_image

from .conftest import encode, portrait


def in_threads(work, jobs: list, threads: int = 4) -> list:
    """Run ``work(job)`` for every job on ``threads`` threads started together; results in job order."""
    results: list = [None] * len(jobs)
    start = threading.Barrier(threads)

    def worker(offset: int) -> None:
        start.wait()
        for index in range(offset, len(jobs), threads):
            try:
                results[index] = work(jobs[index])
            except Exception as exc:  # reported as a result, so the assertion shows it
                results[index] = exc

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def test_face_detection_is_the_same_on_concurrent_threads():
    small = load_image(PORTRAIT)
    large = cv2.resize(small, (1600, 1600), interpolation=cv2.INTER_CUBIC)
    images = [small, large] * 8

    def boxes(rgb):
        return [(round(f.left), round(f.top), round(f.right), round(f.bottom)) for f in detect_faces(rgb)]

    alone = [boxes(rgb) for rgb in images[:2]] * 8
    assert in_threads(boxes, images) == alone


def test_concurrent_requests_give_the_same_files_as_sequential_ones(app):
    photos = [encode(portrait(200 + 20 * n, 150 + 10 * n, seed=n)) for n in range(4)] * 3
    astronaut = PORTRAIT.read_bytes()

    def remove(args):
        photo, model = args
        response = app.test_client().post("/api/v1/remove-background", data={
            "image": (io.BytesIO(photo), "p.jpg", "image/jpeg"), "model": model, "format": "png"})
        assert response.status_code == 200, response.data[:200]
        return hashlib.sha256(response.data).hexdigest()

    def id_photo(_):
        response = app.test_client().post("/api/v1/id-photo", data={
            "image": (io.BytesIO(astronaut), "me.jpg", "image/jpeg"), "preset": "eu-passport"})
        assert response.status_code == 200, response.data[:200]
        return hashlib.sha256(response.data).hexdigest()

    jobs = [(photo, "sinet" if n % 2 else "mobile-unet") for n, photo in enumerate(photos)]
    assert in_threads(remove, jobs) == [remove(job) for job in jobs]
    assert in_threads(id_photo, list(range(8))) == [id_photo(None)] * 8


# Runs in each child process: one gunicorn worker's worth of renders on one shared job.
RENDERER = r"""
import sys
from pathlib import Path
from webapp.jobstore import JobStore
data_dir, job_id, tag, count = sys.argv[1:5]
store = JobStore(Path(data_dir))
store.prepare()
for turn in range(int(count)):
    def change(record, turn=turn):
        number = max((r["n"] for r in record["renders"]), default=0) + 1
        record["renders"].append({"n": number, "model": "sinet", "background": f"#{tag}", "file": f"result-{number}.jpg"})
        return {f"result-{number}.jpg": (f"{tag}-{turn}".encode() * 1000, "image/jpeg")}
    store.update(job_id, change)
"""


def test_renders_from_many_processes_are_all_kept(tmp_path):
    """Failure 1: a per-process lock let 8 workers hand out one render number twice and lose records.
    8 processes x 3 renders of one job: 24 renders, numbers 1-24 once each, every file as recorded."""
    from webapp.config import REPO_ROOT
    from webapp.jobstore import JobStore

    store = JobStore(tmp_path)
    store.prepare()
    job_id = store.create({"source": "test"}, {"original.jpg": (b"photo", "image/jpeg")})["id"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", RENDERER, str(tmp_path), job_id, f"{n:06x}", "3"], env=env,
                                 stderr=subprocess.PIPE, text=True) for n in range(8)]
    for child in children:
        assert child.wait(timeout=120) == 0, child.stderr.read()
    record = store.load(job_id)
    assert [r["n"] for r in record["renders"]] == list(range(1, 25))
    assert sorted(r["background"] for r in record["renders"]) == sorted(f"#{n:06x}" for n in range(8) for _ in range(3))
    for render in record["renders"]:
        data = store.read_file(job_id, render["file"])
        assert len(data) == record["files"][render["file"]]["bytes"] and data.startswith(render["background"][1:].encode())


def test_deleting_a_job_while_requests_write_it(app, form_client_class):
    """Failure 5: deleted (or purged) while requests were writing it, 11 of 15 writers answered 500
    (FileNotFoundError on their temporary file). Now each is answered as the job was when it wrote:
    done (303), or "no such job" (404); nothing is left behind."""
    app.test_client_class = form_client_class
    owner = app.test_client()
    made = owner.post("/jobs", data={"image": (io.BytesIO(encode(portrait())), "p.jpg", "image/jpeg")},
                      content_type="multipart/form-data")
    job_id = made.headers["Location"].split("/jobs/")[1].split("?")[0]
    writers = [app.test_client() for _ in range(15)]
    tokens = [writer.page_token() for writer in writers]
    start = threading.Barrier(16)
    statuses: list = [None] * 15

    def write(index: int) -> None:
        start.wait()
        statuses[index] = writers[index].post(f"/jobs/{job_id}/background", data={
            "background": "#00ff00" if index % 2 else "blur", "csrf_token": tokens[index]}).status_code

    threads = [threading.Thread(target=write, args=(n,)) for n in range(15)]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(0.05)
    assert owner.post(f"/jobs/{job_id}/delete").status_code == 303
    for thread in threads:
        thread.join()
    assert set(statuses) <= {303, 404}, statuses
    store = app.extensions["backdrop"].store
    assert not store.job_dir(job_id).exists() and list(store.tmp_dir.iterdir()) == []
