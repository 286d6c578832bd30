"""Two instances, one service: two gunicorn masters (2 workers each) on two ports share one PostgreSQL
database, one data directory and one Redis, as two hosts behind a balancer would. A job made on one is
read, re-rendered, listed and deleted on the other; concurrent re-renders through both keep every
render; the rate limit is counted once for both. The servers are real, started by this test run."""
from __future__ import annotations

import json
import re
import threading
import urllib.request
from urllib.error import HTTPError

import pytest

from devtools import services
from devtools.appserver import Server
from devtools.client import API_KEY
from webapp.jobstore import JobStore

from .conftest import encode, portrait

SECRET = "two-instances-" + "s" * 32
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_server, redis_url):
    root = tmp_path_factory.mktemp("two")
    env = {"BACKDROP_DATABASE_URL": services.create_database(postgres_server, "two_instances"),
           "BACKDROP_REDIS_URL": redis_url, "BACKDROP_DATA_DIR": str(root / "shared-data"),
           "BACKDROP_SECRET_KEY": SECRET, "BACKDROP_RATE_LIMIT": "12", "BACKDROP_RATE_BURST": "12"}
    started = [Server(root / name, workers=2, env=env) for name in ("a", "b")]
    try:
        for server in started:
            server.start()
        yield started
    finally:
        for server in started:
            server.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the tests look at the 303 itself


class Browser:
    """A browser's cookie jar, sent to whichever instance it talks to."""

    def __init__(self) -> None:
        self.cookie = ""
        self.opener = urllib.request.build_opener(NoRedirect)

    def call(self, port: int, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                         headers={**(headers or {}), **({"Cookie": self.cookie} if self.cookie else {})})
        try:
            with self.opener.open(request, timeout=120) as response:
                status, answer, data = response.status, response.headers, response.read()
        except HTTPError as error:
            status, answer, data = error.code, error.headers, error.read()
        if answer.get("Set-Cookie"):
            self.cookie = answer["Set-Cookie"].split(";")[0]
        return status, dict(answer), data


def multipart(fields: dict[str, str], image: bytes | None = None) -> tuple[bytes, str]:
    boundary = "backdrop-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    if image is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
                     f'Content-Type: image/jpeg\r\n\r\n'.encode() + image + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def api(port: int, method: str, path: str, fields: dict[str, str] | None = None, image: bytes | None = None):
    body, kind = multipart(fields or {}, image) if method == "POST" else (None, "")
    headers = {"X-API-Key": API_KEY, **({"Content-Type": kind} if kind else {})}
    return Browser().call(port, method, path, body, headers)


def test_a_job_made_on_one_instance_lives_on_the_other(pair):
    a, b = (server.port for server in pair)
    status, headers, _ = api(a, "POST", "/api/v1/remove-background", {"background": "#00ff00", "format": "jpg"},
                             encode(portrait()))
    assert status == 200, headers
    job_id = headers["X-Job-Id"]
    status, headers, data = api(b, "POST", f"/api/v1/jobs/{job_id}/renders", {"background": "blur", "format": "png"})
    assert status == 200 and headers["X-Render-Id"] == "2"
    assert api(a, "GET", f"/jobs/{job_id}/files/result-2.png")[2] == data

    results: list = [None] * 8
    start = threading.Barrier(8)

    def rerender(index: int) -> None:
        start.wait()
        port = (a, b)[index % 2]
        results[index] = api(port, "POST", f"/api/v1/jobs/{job_id}/renders", {"background": f"#0000{index:02x}"})

    threads = [threading.Thread(target=rerender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _, _ in results] == [200] * 8
    numbers = sorted(int(headers["X-Render-Id"]) for _, headers, _ in results)
    assert numbers == list(range(3, 11))
    record = json.loads(api(b, "GET", f"/api/v1/jobs/{job_id}")[2])
    assert [r["n"] for r in record["renders"]] == list(range(1, 11))
    for render in record["renders"][2:]:
        served = api(a, "GET", f"/jobs/{job_id}/files/{render['file']}")[2]
        assert len(served) == record["files"][render["file"]]["bytes"]

    assert api(b, "DELETE", f"/api/v1/jobs/{job_id}")[0] == 204
    assert api(a, "GET", f"/api/v1/jobs/{job_id}")[0] == 404


def test_a_browser_moving_between_instances_keeps_its_history(pair):
    a, b = (server.port for server in pair)
    browser = Browser()
    token = TOKEN_RE.search(browser.call(a, "GET", "/")[2].decode()).group(1)
    body, kind = multipart({"csrf_token": token, "background": "blur"}, encode(portrait(seed=4)))
    status, headers, _ = browser.call(a, "POST", "/jobs", body, {"Content-Type": kind})
    assert status == 303, status
    job_id = headers["Location"].split("/jobs/")[1].split("?")[0]
    assert job_id in browser.call(b, "GET", "/history")[2].decode()
    assert job_id not in Browser().call(b, "GET", "/history")[2].decode()  # another browser's history
    body, kind = multipart({"csrf_token": token})
    assert browser.call(b, "POST", f"/jobs/{job_id}/delete", body, {"Content-Type": kind})[0] == 303
    assert browser.call(a, "GET", f"/jobs/{job_id}")[0] == 404


def test_the_rate_limit_is_shared_through_redis(pair):
    """12 requests a minute per address in all: with counts per worker, 4 workers would allow 48."""
    a, b = (server.port for server in pair)
    statuses = [Browser().call((a, b)[n % 2], "POST", "/jobs", b"", {"Content-Type": "text/plain"})[0]
                for n in range(16)]
    assert 429 in statuses and statuses.index(429) <= 12, statuses


def test_the_store_on_postgresql_keeps_concurrent_renders(tmp_path, postgres_server):
    store = JobStore(tmp_path, services.create_database(postgres_server, "store"))
    store.prepare()
    job_id = store.create({"source": "test"}, {"original.jpg": (b"photo", "image/jpeg")})["id"]
    start = threading.Barrier(8)

    def render(index: int) -> None:
        start.wait()
        for turn in range(3):
            def change(record, tag=f"{index}-{turn}"):
                number = max((r["n"] for r in record["renders"]), default=0) + 1
                record["renders"].append({"n": number, "model": "sinet", "background": "blur",
                                          "file": f"result-{number}.jpg"})
                return {f"result-{number}.jpg": (tag.encode(), "image/jpeg")}
            store.update(job_id, change)

    threads = [threading.Thread(target=render, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = store.load(job_id)
    assert [r["n"] for r in record["renders"]] == list(range(1, 25))
    assert len({store.read_file(job_id, r["file"]) for r in record["renders"]}) == 24
