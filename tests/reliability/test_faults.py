"""Faults: a process killed while writing a job, and missing or corrupt weights at start-up.

The kill is real: a child process writes through the real ``JobStore`` and is SIGKILLed half-way
through writing a file; the parent then checks what a reader and a restarted app see.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ml.errors import ModelError
from webapp import create_app
from webapp.config import REPO_ROOT
from webapp.jobstore import JobNotFound, JobStore

from .conftest import TEST_CONFIG, encode, portrait

# Runs in a child: write through the real store, but stop dead half-way through the Nth file write.
CHILD = r"""
import os, sys, time
from pathlib import Path
from webapp.jobstore import JobStore
data_dir, mode, stall_at, ready, job_id, go = sys.argv[1:7]
store = JobStore(Path(data_dir))
store.prepare()
real_fdopen, calls = os.fdopen, [0]

class HalfWriter:
    def __init__(self, handle): self.handle = handle
    def __enter__(self): return self
    def __exit__(self, *exc): return self.handle.__exit__(*exc)
    def write(self, data):
        self.handle.write(data[:len(data) // 2]); self.handle.flush()
        Path(ready).write_text("writing")
        for _ in range(6000):  # until told to go on (or killed)
            if Path(go).exists():
                return self.handle.write(data[len(data) // 2:]) + len(data) // 2
            time.sleep(0.1)
    def __getattr__(self, name): return getattr(self.handle, name)

def stalling_fdopen(fd, *args, **kwargs):
    calls[0] += 1
    handle = real_fdopen(fd, *args, **kwargs)
    return HalfWriter(handle) if calls[0] == int(stall_at) else handle

os.fdopen = stalling_fdopen
big = os.urandom(400_000)
if mode == "create":
    record = store.create({"source": "child"}, {"original.jpg": (big, "image/jpeg"), "input.jpg": (big, "image/jpeg")})
    print(record["id"])
else:
    def change(record):
        record["renders"].append({"n": 2, "model": "sinet", "background": "blur", "file": "result-2.png"})
        return {"result-2.png": (big, "image/png")}
    store.update(job_id, change)
"""


def start_writer(data_dir: Path, mode: str, stall_at: int, job_id: str = "-") -> tuple[subprocess.Popen, Path]:
    """Start the child and wait until it is half-way through a write; returns it and its "go on" file."""
    ready, go = data_dir.parent / f"ready-{mode}", data_dir.parent / f"go-{mode}"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir), mode, str(stall_at), str(ready), job_id,
                              str(go)], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None, child.stderr.read()
        assert time.monotonic() < deadline, "the child never started writing"
        time.sleep(0.02)
    return child, go


def kill_mid_write(data_dir: Path, mode: str, stall_at: int, job_id: str = "-") -> None:
    """Start the child, wait until it is half-way through a write, then SIGKILL it."""
    child, _ = start_writer(data_dir, mode, stall_at, job_id)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL


def temporaries(data_dir: Path) -> list[Path]:
    return list((data_dir / "tmp").iterdir()) + list(data_dir.glob("jobs/*/.tmp-*"))


@pytest.fixture
def existing_job(data_dir):
    """A complete job written before the crash, as the app writes it: its id, files and record."""
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    client = app.test_client()
    response = client.post("/api/v1/remove-background", data={
        "image": (io.BytesIO(encode(portrait())), "p.jpg", "image/jpeg")}, content_type="multipart/form-data")
    job_id = response.headers["X-Job-Id"]
    folder = data_dir / "jobs" / job_id
    return job_id, {p.name: p.read_bytes() for p in folder.iterdir()}, client.get(f"/api/v1/jobs/{job_id}").get_json()


@pytest.mark.parametrize("stall_at", [1, 2], ids=["first file", "second file"])
def test_killed_while_creating_a_job_serves_nothing_of_it(data_dir, existing_job, stall_at):
    job_id, files, record = existing_job
    kill_mid_write(data_dir, "create", stall_at)
    left = temporaries(data_dir)
    assert left, "the kill should have left a staging folder"
    half_id = left[0].name.split("-")[-1]  # staging folders are named <writer pid>-<job id>
    reader = JobStore(data_dir)  # a worker starting now
    reader.prepare()
    assert [job["id"] for job in reader.page(1, 50).jobs] == [job_id]
    with pytest.raises(JobNotFound):
        reader.load(half_id)

    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})  # restart: temporaries go
    client = app.test_client()
    assert temporaries(data_dir) == []
    assert client.get(f"/api/v1/jobs/{half_id}").status_code == 404
    assert client.get(f"/jobs/{half_id}/files/original.jpg").status_code == 404
    assert {p.name: p.read_bytes() for p in (data_dir / "jobs" / job_id).iterdir()} == files
    assert client.get(f"/api/v1/jobs/{job_id}").get_json() == record
    for name in record["files"]:
        assert client.get(f"/jobs/{job_id}/files/{name}").data == files[name]


def test_killed_while_updating_a_job_keeps_the_job_as_it_was(data_dir, existing_job):
    """Killed half-way through writing a new file, inside the transaction that would record it (and
    holding the database's write lock): the old record and its files stay, the new file is never
    served, and the next writer is not blocked by the dead one."""
    job_id, files, record = existing_job
    kill_mid_write(data_dir, "update", 1, job_id)
    folder = data_dir / "jobs" / job_id
    assert any(p.name.startswith(".tmp-") for p in folder.iterdir())

    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    client = app.test_client()
    assert temporaries(data_dir) == []
    assert client.get(f"/api/v1/jobs/{job_id}").get_json() == record
    for name, data in files.items():
        assert client.get(f"/jobs/{job_id}/files/{name}").data == data
    assert client.get(f"/jobs/{job_id}/files/result-2.png").status_code == 404
    assert app.extensions["backdrop"].store.update(job_id, lambda current: {})["id"] == job_id  # not locked out


def test_a_worker_starting_spares_the_temporaries_of_workers_still_writing(data_dir, existing_job):
    """gunicorn restarts a crashed worker while the others serve: its start-up clean-up must only take
    what dead processes left, or it would pull files from under live requests."""
    child, go = start_writer(data_dir, "create", 2)
    in_flight = temporaries(data_dir)
    create_app({**TEST_CONFIG, "DATA_DIR": data_dir})  # another worker boots now
    assert temporaries(data_dir) == in_flight
    go.write_text("go")
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    job_id = out.strip()
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    assert app.extensions["backdrop"].store.read_file(job_id, "input.jpg")  # the child's job arrived whole
    assert temporaries(data_dir) == []


# -- weights -------------------------------------------------------------------------------------------
@pytest.fixture
def weights_copy(tmp_path) -> Path:
    target = tmp_path / "weights"
    target.mkdir()
    for path in (REPO_ROOT / "weights").glob("*"):
        if path.suffix in (".tflite", ".json"):
            shutil.copy2(path, target / path.name)
    return target


DAMAGE = {
    "missing": lambda p: p.unlink(),
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 3]),
    "random bytes": lambda p: p.write_bytes(os.urandom(p.stat().st_size)),
    "a directory": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.mark.parametrize("stem", ["sinet", "mobile_unet"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_broken_weights_stop_start_up_naming_the_file(data_dir, weights_copy, stem, damage):
    victim = weights_copy / f"{stem}.tflite"
    DAMAGE[damage](victim)
    # A directory in the file's place surfaces as the OS error itself (which names the path too).
    with pytest.raises((ModelError, OSError) if damage == "a directory" else ModelError) as caught:
        create_app({**TEST_CONFIG, "DATA_DIR": data_dir, "WEIGHTS_DIR": weights_copy})
    assert str(victim) in str(caught.value)


def test_weights_that_compute_nan_stop_start_up(data_dir, monkeypatch):
    """A file that loads but whose weights went bad (NaN, as a broken export gave once) is caught at
    start-up by running each model once, not on the first user's upload."""
    from ml.registry import TFLiteRuntime

    real_run = TFLiteRuntime._run

    def nan_for_sinet(self, batch):
        out = real_run(self, batch)
        return np.full_like(out, np.nan) if self.name == "sinet" else out

    monkeypatch.setattr(TFLiteRuntime, "_run", nan_for_sinet)
    with pytest.raises(ModelError, match=r"sinet\.tflite produced non-finite output"):
        create_app({**TEST_CONFIG, "DATA_DIR": data_dir})


def test_a_worker_with_broken_weights_exits_with_the_message(tmp_path, weights_copy):
    """What gunicorn's worker does at boot (import wsgi): exit non-zero, the file named on stderr."""
    victim = weights_copy / "mobile_unet.tflite"
    victim.write_bytes(victim.read_bytes()[:1000])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "BACKDROP_WEIGHTS_DIR": str(weights_copy),
           "BACKDROP_DATA_DIR": str(tmp_path / "data"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ml.errors.ModelError") and str(victim) in last_line
