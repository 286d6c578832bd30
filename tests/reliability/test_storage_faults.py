"""A full or read-only data directory: a clear 507 or 503, reads keep working, and nothing stored
before is lost or changed. The operating system's refusals are simulated by making the calls the
store uses fail with ENOSPC (at fsync, where a full disk reports) or EROFS, for paths inside the data
directory only, exactly as the kernel would answer.
"""
from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest

from devtools.portrait import PORTRAIT
from tests.models import OTHER_MODEL
from tests.stored import snapshot
from webapp import create_app

from .conftest import TEST_CONFIG, encode, portrait

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def fail_storage(monkeypatch, data_dir: Path, code: int) -> None:
    """From now on the data directory refuses writes with ``code`` (ENOSPC or EROFS)."""
    root = os.path.abspath(data_dir)

    def inside(path) -> bool:
        if isinstance(path, int):
            return False
        path = os.path.abspath(os.fsdecode(path))
        return path == root or path.startswith(root + os.sep)

    def refuse(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    if code == errno.ENOSPC:
        real_fsync = os.fsync

        def fsync(fd):
            if inside(os.readlink(f"/proc/self/fd/{fd}")):
                refuse(os.readlink(f"/proc/self/fd/{fd}"))
            return real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        return
    for name in ("mkdir", "replace", "rename", "unlink", "rmdir"):
        def wrapped(path, *args, _real=getattr(os, name), **kwargs):
            if inside(path):
                refuse(path)
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, wrapped)
    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if flags & WRITE_FLAGS and inside(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


@pytest.fixture
def stored(app, client, data_dir):
    """A job with a render, and a fingerprint of everything in the data directory."""
    response = client.post("/jobs", data={"image": (io.BytesIO(encode(portrait())), "p.jpg", "image/jpeg")},
                           content_type="multipart/form-data")
    job_id = response.headers["Location"].split("/jobs/")[1].split("?")[0]
    return job_id, snapshot(data_dir)


def photo_form(**fields):
    return {"image": (io.BytesIO(encode(portrait(seed=5))), "p.jpg", "image/jpeg"), **fields}


def attempts(job_id: str) -> list[tuple[str, str, dict, dict]]:
    """Every kind of write a user can cause: (method, url, form, headers)."""
    as_json = {"Accept": "application/json"}
    return [
        ("POST", "/api/v1/remove-background", photo_form(), {}),
        ("POST", "/jobs", photo_form(), as_json),
        ("POST", "/jobs", photo_form(), {}),  # the page without JavaScript: an HTML error page
        ("POST", "/compare", photo_form(), as_json),
        ("POST", "/api/v1/id-photo", {"image": (io.BytesIO(PORTRAIT.read_bytes()), "me.jpg", "image/jpeg")}, {}),
        ("POST", f"/jobs/{job_id}/background", {"model": "sinet", "background": "blur"}, {}),
        ("POST", f"/jobs/{job_id}/model", {"model": "mobile-unet"}, {}),
    ]


@pytest.mark.parametrize("code,status,words", [(errno.ENOSPC, 507, "storage is full"),
                                               (errno.EROFS, 503, "read-only")])
def test_refused_writes_get_a_clear_status_and_lose_nothing(app, client, data_dir, stored, monkeypatch,
                                                            code, status, words):
    job_id, before = stored
    fail_storage(monkeypatch, data_dir, code)
    for method, url, form, headers in attempts(job_id):
        response = client.open(url, method=method, data=form, headers=headers, content_type="multipart/form-data")
        assert response.status_code == status, (url, response.status_code, response.data[:200])
        body = response.get_data(as_text=True)
        assert words in body and "Traceback" not in body, url
        if response.is_json:
            assert response.get_json()["error"]["status"] == status
        assert snapshot(data_dir) == before, url  # nothing added, changed or half-written
    # Reading keeps working meanwhile: the job, its files, the pages.
    record = client.get(f"/api/v1/jobs/{job_id}").get_json()
    for name, meta in record["files"].items():
        assert len(client.get(f"/jobs/{job_id}/files/{name}").data) == meta["bytes"]
    for url in ["/", "/history", f"/jobs/{job_id}", "/healthz"]:
        assert client.get(url).status_code == 200, url


def test_other_model_refused_late_changes_nothing(app, client, data_dir, stored, monkeypatch):
    """Failure 9: "other model" answered 507 "nothing was saved" after its new mask was already in the
    job's record. Here the disk fills just as the render itself is written, after the new mattes."""
    job_id, before = stored
    real_fsync = os.fsync

    def full_at_the_render(fd):
        if full_at_the_render.count >= 2:  # the two mattes went through; the render does not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        full_at_the_render.count += 1
        return real_fsync(fd)

    full_at_the_render.count = 0
    monkeypatch.setattr(os, "fsync", full_at_the_render)
    response = client.post(f"/jobs/{job_id}/model", data={"model": OTHER_MODEL})  # the job has the default's mattes
    assert response.status_code == 507 and "nothing was saved" in response.get_data(as_text=True)
    assert full_at_the_render.count == 2
    monkeypatch.undo()
    assert snapshot(data_dir) == before
    assert OTHER_MODEL not in client.get(f"/api/v1/jobs/{job_id}").get_json()["masks"]


def test_deleting_on_read_only_storage_keeps_the_job(app, client, data_dir, stored, monkeypatch):
    job_id, before = stored
    fail_storage(monkeypatch, data_dir, errno.EROFS)
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 503
    assert client.post(f"/jobs/{job_id}/delete").status_code == 503
    assert snapshot(data_dir) == before and client.get(f"/jobs/{job_id}").status_code == 200


def test_service_resumes_when_space_is_back(app, client, data_dir, stored, monkeypatch):
    job_id, before = stored
    with monkeypatch.context() as full:
        fail_storage(full, data_dir, errno.ENOSPC)
        assert client.post("/api/v1/remove-background", data=photo_form()).status_code == 507
    response = client.post("/api/v1/remove-background", data=photo_form())
    assert response.status_code == 200
    assert client.get(f"/api/v1/jobs/{response.headers['X-Job-Id']}").status_code == 200
    assert {k: v for k, v in snapshot(data_dir).items() if k in before} == before


def test_a_server_restarted_on_read_only_storage_serves_what_it_has(data_dir, stored, monkeypatch, form_client_class):
    job_id, before = stored
    fail_storage(monkeypatch, data_dir, errno.EROFS)
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    app.test_client_class = form_client_class
    client = app.test_client()
    assert client.get(f"/jobs/{job_id}").status_code == 200
    assert client.post("/api/v1/remove-background", data=photo_form()).status_code == 503
    assert snapshot(data_dir) == before


def test_start_up_on_read_only_storage_despite_a_crash_leftover(app, client, data_dir, stored, monkeypatch,
                                                                form_client_class):
    """Failure 6: a temporary that a crash left could not be removed, and start-up failed, so the whole
    service went down instead of serving reads. The first server stopped cleanly here (its database
    has no write-ahead log left), the other read-only case from the test above."""
    job_id, _ = stored
    app.extensions["backdrop"].store.engine.dispose()
    (data_dir / "jobs" / job_id / ".tmp-99999999-half").write_bytes(b"half")  # its writer is long gone
    before = snapshot(data_dir)
    fail_storage(monkeypatch, data_dir, errno.EROFS)
    restarted = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    restarted.test_client_class = form_client_class
    session = client.get_cookie("backdrop_session").value
    client = restarted.test_client()
    client.set_cookie("backdrop_session", session)  # the browser that made the job comes back
    assert client.get(f"/jobs/{job_id}").status_code == 200
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["id"] == job_id
    assert job_id in client.get("/history").get_data(as_text=True)
    for response in (client.post("/api/v1/remove-background", data=photo_form()),
                     client.delete(f"/api/v1/jobs/{job_id}"),
                     client.post(f"/jobs/{job_id}/background", data={"background": "blur"})):
        assert response.status_code == 503 and "read-only" in response.get_data(as_text=True)
    assert snapshot(data_dir) == before


def test_the_simulation_really_refuses(data_dir, monkeypatch):
    """The tests above mean something only if the simulated disk refuses like a real one."""
    data_dir.mkdir(parents=True)
    outside = data_dir.parent / "outside.txt"
    with monkeypatch.context() as patch:
        fail_storage(patch, data_dir, errno.EROFS)
        with pytest.raises(OSError) as caught:
            (data_dir / "x").mkdir()
        assert caught.value.errno == errno.EROFS
        outside.write_text("fine")  # elsewhere, writes work
    with monkeypatch.context() as patch:
        fail_storage(patch, data_dir, errno.ENOSPC)
        with open(data_dir / "f", "wb") as handle, pytest.raises(OSError) as caught:
            handle.write(b"x")
            handle.flush()
            os.fsync(handle.fileno())
        assert caught.value.errno == errno.ENOSPC
