"""Job ids and file names in URLs are never paths: traversal in any encoding gets a 4xx, the store
serves only files a job's record lists, and no file outside the data directory is read, listed or
changed while such requests are answered (checked with Python audit hooks)."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from webapp import create_app
from webapp.jobstore import JobNotFound, JobStore, new_job_id

from .conftest import TEST_CONFIG, assert_healthy, encode, portrait, upload

FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def traversals(target: str) -> list[str]:
    """``target`` (a path relative to a job folder) spelt the ways attackers spell it."""
    dotted = target.replace("/", "%2f")
    return [target, dotted, target.replace(".", "%2e"), quote(quote(target, safe=""), safe=""),
            target.replace("/", "\\"), target.replace("/", "%5c"), target.replace("../", "..%c0%af"),
            target.replace("../", "....//"), "/" + target, dotted + "%00.png", target.replace("..", "%u002e%u002e")]


@pytest.fixture
def served(tmp_path, canary, form_client_class):
    """An app with one real job, plus the canary's path as seen from inside a job folder."""
    data_dir = tmp_path / "data"
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    app.test_client_class = form_client_class
    client = app.test_client()
    response = upload(client, "/api/v1/remove-background", encode(portrait()))
    job_id = response.headers["X-Job-Id"]
    return app, client, data_dir, job_id, "../../../outside/canary.txt"


def assert_no_escape(file_audit, tmp_path, data_dir, canary, responses) -> None:
    secret = canary.read_bytes()
    for response in responses:
        assert secret not in response.data
    assert file_audit.touching(tmp_path, except_under=data_dir) == []
    assert file_audit.writes_outside(data_dir) == []
    assert not any("passwd" in path or "shadow" in path for _, path in file_audit.events)


def test_traversal_in_file_names_is_not_found(served, file_audit, tmp_path, canary):
    app, client, data_dir, job_id, target = served
    responses = []
    with file_audit.recording():
        for spelling in traversals(target) + traversals("../../../../../../etc/passwd") + ["job.json", ".", ".."]:
            for url in (f"/jobs/{job_id}/files/{spelling}", f"/jobs/{job_id}/files/{spelling}?download=1"):
                response = client.get(url)
                responses.append(response)
                assert 400 <= response.status_code < 500, (url, response.status_code)
    assert_no_escape(file_audit, tmp_path, data_dir, canary, responses)
    assert_healthy(client)


@pytest.mark.parametrize("method,template", [
    ("GET", "/jobs/{id}"), ("GET", "/jobs/{id}/compare"), ("GET", "/jobs/{id}/files/original.jpg"),
    ("GET", "/api/v1/jobs/{id}"), ("DELETE", "/api/v1/jobs/{id}"), ("POST", "/jobs/{id}/delete"),
    ("POST", "/jobs/{id}/model"), ("POST", "/jobs/{id}/background"),
])
def test_traversal_in_job_ids_is_not_found(served, file_audit, tmp_path, canary, method, template):
    app, client, data_dir, job_id, _ = served
    before = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*"))
    responses = []
    with file_audit.recording():
        for spelling in traversals("../outside") + traversals("../jobs/" + job_id) + [job_id.upper(), job_id + "0",
                                                                                      job_id[:-1], "tmp", ".."]:
            response = client.open(template.format(id=spelling), method=method, data={"model": "sinet"})
            responses.append(response)
            assert 400 <= response.status_code < 500, (template, spelling, response.status_code)
    assert_no_escape(file_audit, tmp_path, data_dir, canary, responses)
    assert sorted(p.relative_to(data_dir) for p in data_dir.rglob("*")) == before  # nothing deleted or added


@FUZZ
@given(job=st.text(max_size=80), name=st.text(max_size=80))
def test_generated_job_paths_never_escape(served, file_audit, tmp_path, canary, job, name):
    app, client, data_dir, job_id, _ = served
    with file_audit.recording():
        response = client.get(f"/jobs/{quote(job, safe='')}/files/{quote(name, safe='')}")
        api = client.get(f"/api/v1/jobs/{quote(job, safe='')}")
    assert response.status_code in (404, 405, 400, 308), response.status_code
    assert api.status_code in (404, 405, 400, 308), api.status_code
    assert_no_escape(file_audit, tmp_path, data_dir, canary, [response, api])


def test_store_refuses_paths_itself(tmp_path):
    """Defence in depth: the store checks ids and names too, whatever the routes pass it."""
    store = JobStore(tmp_path / "data")
    store.prepare()
    record = store.create({"source": "test"}, {"original.jpg": (b"x", "image/jpeg")})
    for bad_id in ["../data", "..", "/etc", record["id"] + "/..", record["id"].upper(), "", "0" * 31]:
        with pytest.raises(JobNotFound):
            store.load(bad_id)
        with pytest.raises(JobNotFound):
            store.delete(bad_id)
    for bad_name in ["../job.json", "job.json", "..", "/etc/passwd", "original.jpg/..", "ORIGINAL.JPG"]:
        with pytest.raises(JobNotFound):
            store.open_file(record["id"], bad_name)
    for bad_name in ["../x.png", ".tmp-x.png", "a/b.png", "x", "job.json", "A.PNG"]:
        with pytest.raises(ValueError):
            store.update(record["id"], lambda current, name=bad_name: {name: (b"x", "image/png")})
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if not p.name.startswith("backdrop.db")) == ["jobs", "tmp"]
    assert sorted(p.name for p in (tmp_path / "data" / "jobs" / record["id"]).iterdir()) == ["original.jpg"]


def test_job_ids_are_random_and_unguessable():
    ids = [new_job_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    # No shared prefix or counter: consecutive ids differ in about half of their 128 bits.
    distances = [bin(int(a, 16) ^ int(b, 16)).count("1") for a, b in zip(ids, ids[1:])]
    assert 54 < sum(distances) / len(distances) < 74
    assert len({i[:6] for i in ids}) > 1900


def test_the_audit_sees_reads_and_writes(served, file_audit, tmp_path):
    """The checks above rely on the audit; make sure it records the accesses they look for."""
    app, client, data_dir, job_id, _ = served
    with file_audit.recording():
        assert client.get(f"/jobs/{job_id}/files/original.jpg").status_code == 200
        (tmp_path / "outside" / "written.txt").write_text("x")
    assert any(path.endswith(f"{job_id}/original.jpg") for kind, path in file_audit.events if kind == "read")
    assert file_audit.writes_outside(data_dir) == [tmp_path / "outside" / "written.txt"]
    assert file_audit.touching(tmp_path, except_under=data_dir) == [("write", str(tmp_path / "outside" / "written.txt"))]
