"""A gunicorn worker serves several requests at once on threads (``--threads 4``): concurrent requests
must give exactly what the same requests give one at a time."""
from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import cv2

from ml.idphoto.face import detect_faces
from ml.imageio import load_image

from .conftest import encode, portrait

ASTRONAUT = Path(__file__).parents[1] / "idphoto" / "data" / "astronaut.jpg"


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
    small = load_image(ASTRONAUT)
    large = cv2.resize(small, (1600, 1600), interpolation=cv2.INTER_CUBIC)
    images = [small, large] * 8

    def boxes(rgb):
        return [(round(f.left), round(f.top), round(f.right), round(f.bottom)) for f in detect_faces(rgb)]

    alone = [boxes(rgb) for rgb in images[:2]] * 8
    assert in_threads(boxes, images) == alone


def test_concurrent_requests_give_the_same_files_as_sequential_ones(app):
    photos = [encode(portrait(200 + 20 * n, 150 + 10 * n, seed=n)) for n in range(4)] * 3
    astronaut = ASTRONAUT.read_bytes()

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
