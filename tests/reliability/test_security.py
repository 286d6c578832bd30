"""CSRF tokens on the forms, the optional API key, the per-client rate limit, request-shape limits and
the security headers (webapp/security.py), exercised through the real app and its real pages."""
from __future__ import annotations

import io
import re
import stat
import threading
from pathlib import Path

import pytest

from devtools.portrait import PORTRAIT
from webapp import create_app, security
from webapp.config import REPO_ROOT

from .conftest import TEST_CONFIG, encode, job_count, portrait

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_RE = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
KEY = "k3y-" + "x" * 28


@pytest.fixture
def make_app(tmp_path):
    def make(**overrides):
        return create_app({**TEST_CONFIG, "DATA_DIR": tmp_path / "data", **overrides})
    return make


@pytest.fixture
def app(make_app):
    return make_app()


def token_from(client, url: str = "/") -> str:
    """The token the page puts in its form, as a browser would submit it."""
    found = TOKEN_RE.search(client.get(url).get_data(as_text=True))
    assert found, f"{url} has no CSRF field"
    return found.group(1)


def photo_form(**fields):
    return {"image": (io.BytesIO(encode(portrait())), "p.jpg", "image/jpeg"), **fields}


def make_job(client) -> str:
    response = client.post("/jobs", data=photo_form(csrf_token=token_from(client)), content_type="multipart/form-data")
    assert response.status_code == 303, response.data[:300]
    return response.headers["Location"].split("/jobs/")[1].split("?")[0]


# -- CSRF --------------------------------------------------------------------------------------------
def test_every_post_form_on_every_page_carries_the_token(app):
    client = app.test_client()
    job_id = make_job(client)
    client.post(f"/jobs/{job_id}/model", data={"model": "mobile-unet", "next": "compare",
                                              "csrf_token": token_from(client)})
    # Flask-WTF signs the session's one token with a timestamp in seconds, so two reads may differ
    # after the first dot; the token itself (before it) must be the session's in every form.
    session_token = token_from(client).split(".")[0]
    pages = ["/", "/compare", "/id-photo", "/history", f"/jobs/{job_id}", f"/jobs/{job_id}/compare"]
    forms = 0
    for url in pages:
        html = client.get(url).get_data(as_text=True)
        for form in FORM_RE.findall(html):
            if re.search(r'method="post"', form, re.I):
                forms += 1
                found = re.search(r'name="csrf_token" value="([^"]+)"', form)
                assert found and found.group(1).split(".")[0] == session_token, (url, form[:300])
    assert forms >= 6


@pytest.mark.parametrize("sent", [None, "", "forged-token", "A" * 43])
def test_forms_without_the_sessions_token_are_refused(app, sent):
    client = app.test_client()
    job_id = make_job(client)
    fields = {} if sent is None else {"csrf_token": sent}
    attempts = {
        "/jobs": photo_form(**fields), "/compare": photo_form(**fields),
        f"/jobs/{job_id}/model": {"model": "mobile-unet", **fields},
        f"/jobs/{job_id}/background": {"background": "blur", **fields},
        f"/jobs/{job_id}/delete": dict(fields),
    }
    for url, form in attempts.items():
        response = client.post(url, data=form, content_type="multipart/form-data")
        assert response.status_code == 403, url
        assert "did not come from this site" in response.get_data(as_text=True)
    assert job_count(app) == 1
    assert len(client.get(f"/api/v1/jobs/{job_id}").get_json()["renders"]) == 1  # nothing re-rendered


def test_a_token_from_another_session_is_refused(app):
    victim, attacker = app.test_client(), app.test_client()
    job_id = make_job(victim)
    stolen_shape = token_from(attacker)  # a valid token, but for the attacker's own session
    response = victim.post(f"/jobs/{job_id}/delete", data={"csrf_token": stolen_shape})
    assert response.status_code == 403 and job_count(app) == 1


def test_the_pages_script_can_send_the_token_as_a_header(app):
    client = app.test_client()
    token = token_from(client)
    response = client.post("/jobs", data=photo_form(), content_type="multipart/form-data",
                           headers={"Accept": "application/json", "X-CSRF-Token": token})
    assert response.status_code == 201 and response.get_json()["id"]
    refused = client.post("/jobs", data=photo_form(), content_type="multipart/form-data",
                          headers={"Accept": "application/json", "X-CSRF-Token": token[::-1]})
    assert refused.status_code == 403 and "did not come from this site" in refused.get_json()["error"]["message"]


def test_session_cookie_is_httponly_and_samesite(app):
    client = app.test_client()
    response = client.get("/")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("backdrop_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_workers_on_one_data_directory_share_the_session_key(make_app, tmp_path):
    """Two gunicorn workers are two apps: a form served by one must be accepted by the other."""
    first, second = make_app(), make_app()
    key_file = tmp_path / "data" / security.SECRET_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    browser = first.test_client()
    token = token_from(browser)
    cookie = browser.get_cookie("backdrop_session")
    other = second.test_client()
    other.set_cookie("backdrop_session", cookie.value)
    response = other.post("/jobs", data=photo_form(csrf_token=token), content_type="multipart/form-data")
    assert response.status_code == 303


def test_concurrent_workers_agree_on_one_key(tmp_path):
    keys, start = [], threading.Barrier(8)

    def boot():
        start.wait()
        keys.append(security.load_secret_key(tmp_path))

    threads = [threading.Thread(target=boot) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1 and len(keys[0]) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == [security.SECRET_FILE]  # no temporaries left


# -- API key -----------------------------------------------------------------------------------------
def api_post(client, headers=None):
    return client.post("/api/v1/remove-background", data=photo_form(), content_type="multipart/form-data",
                       headers=headers or {})


def test_without_a_key_the_api_is_open(app):
    assert api_post(app.test_client()).status_code == 200


def test_with_a_key_the_api_needs_it(make_app):
    app = make_app(API_KEY=KEY)
    client = app.test_client()
    missing = api_post(client)
    assert missing.status_code == 401 and "needs a key" in missing.get_json()["error"]["message"]
    assert api_post(client, {"X-API-Key": KEY[:-1]}).status_code == 403
    assert api_post(client, {"Authorization": "Bearer wrong"}).status_code == 403
    job_id = api_post(client, {"X-API-Key": KEY}).headers["X-Job-Id"]
    assert api_post(client, {"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401
    assert client.get(f"/api/v1/jobs/{job_id}", headers={"X-API-Key": KEY}).status_code == 200
    assert job_count(app) == 2


def test_with_a_key_the_sites_own_pages_still_work(make_app):
    """The ID-photo page posts its form (with its CSRF token) to a page route, not to the API."""
    client = make_app(API_KEY=KEY).test_client()
    token = token_from(client, "/id-photo")
    assert 'action="/id-photo"' in client.get("/id-photo").get_data(as_text=True)
    astronaut = PORTRAIT.read_bytes()
    form = {"image": (io.BytesIO(astronaut), "me.jpg", "image/jpeg"), "preset": "eu-passport", "csrf_token": token}
    response = client.post("/id-photo", data=form, content_type="multipart/form-data",
                           headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.mimetype == "image/jpeg"


def test_with_a_key_the_id_pages_face_finder_and_reopen_still_work(make_app):
    """The ID page finds faces through POST /id-photo/faces (CSRF token) and reopens its job through
    GET /id-photo/jobs/<id>; the API twin of the face finder needs the key like every API route."""
    client = make_app(API_KEY=KEY).test_client()
    astronaut = PORTRAIT.read_bytes()
    token = token_from(client, "/id-photo")
    assert 'data-faces-url="/id-photo/faces"' in client.get("/id-photo").get_data(as_text=True)
    faces = client.post("/id-photo/faces", data={"image": (io.BytesIO(astronaut), "me.jpg"), "csrf_token": token},
                        content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert faces.status_code == 200 and len(faces.get_json()["faces"]) == 1
    forged = client.post("/id-photo/faces", data={"image": (io.BytesIO(astronaut), "me.jpg"), "csrf_token": "x"},
                         content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert forged.status_code == 403
    api = client.post("/api/v1/id-photo/faces", data={"image": (io.BytesIO(astronaut), "me.jpg")},
                      content_type="multipart/form-data", headers={"X-CSRF-Token": token})
    assert api.status_code == 401 and "needs a key" in api.get_json()["error"]["message"]
    keyed = client.post("/api/v1/id-photo/faces", data={"image": (io.BytesIO(astronaut), "me.jpg")},
                        content_type="multipart/form-data", headers={"X-API-Key": KEY})
    assert keyed.status_code == 200 and len(keyed.get_json()["faces"]) == 1
    made = client.post("/id-photo", data={"image": (io.BytesIO(astronaut), "me.jpg", "image/jpeg"), "preset": "eu-passport",
                                          "csrf_token": token}, content_type="multipart/form-data",
                       headers={"Accept": "application/json"})
    job_id = made.headers["X-Job-Id"]
    assert client.get(f"/jobs/{job_id}").headers["Location"].endswith(f"/id-photo?job={job_id}")
    assert client.get(f"/id-photo/jobs/{job_id}").get_json()["idphoto"]["file"] == "idphoto.jpg"
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401


def test_a_pages_csrf_token_is_not_an_api_key(make_app):
    """Failure 7: with BACKDROP_API_KEY set, the token any visitor gets from GET / opened the API."""
    app = make_app(API_KEY=KEY)
    client = app.test_client()
    token = token_from(client)
    refused = client.post("/api/v1/remove-background", data=photo_form(csrf_token=token),
                          content_type="multipart/form-data", headers={"X-CSRF-Token": token})
    assert refused.status_code == 401 and "needs a key" in refused.get_json()["error"]["message"]
    assert client.get("/api/v1/id-presets", headers={"X-CSRF-Token": token}).status_code == 401
    assert job_count(app) == 0


def test_deleting_needs_the_owner_or_the_key(make_app):
    app = make_app(API_KEY=KEY)
    owner, stranger = app.test_client(), app.test_client()
    job_id = make_job(owner)
    token = token_from(stranger)
    refused = stranger.post(f"/jobs/{job_id}/delete", data={"csrf_token": token})
    assert refused.status_code == 403 and "belongs to another" in refused.get_data(as_text=True)
    assert stranger.post(f"/jobs/{job_id}/delete", data={"csrf_token": token, "api_key": "nope"}).status_code == 403
    assert stranger.delete(f"/api/v1/jobs/{job_id}", headers={"X-CSRF-Token": token}).status_code == 401
    assert job_count(app) == 1
    assert owner.post(f"/jobs/{job_id}/delete", data={"csrf_token": token_from(owner, "/history")}).status_code == 303
    other = make_job(owner)
    assert stranger.post(f"/jobs/{other}/delete", data={"csrf_token": token, "api_key": KEY}).status_code == 303
    by_script = api_post(owner, {"X-API-Key": KEY}).headers["X-Job-Id"]
    assert owner.post(f"/jobs/{by_script}/delete", data={"csrf_token": token_from(owner)}).status_code == 403
    assert stranger.delete(f"/api/v1/jobs/{by_script}", headers={"X-API-Key": KEY}).status_code == 204
    assert job_count(app) == 0


def test_history_lists_only_the_callers_own_jobs(make_app):
    """Failure 7: /history listed every visitor's jobs, with thumbnails and download links."""
    app = make_app()
    alice, bob = app.test_client(), app.test_client()
    alices = make_job(alice)
    bobs = make_job(bob)
    scripted = api_post(bob).headers["X-Job-Id"]  # same cookies: Bob's too
    alice_sees, bob_sees = (c.get("/history").get_data(as_text=True) for c in (alice, bob))
    assert alices in alice_sees and bobs not in alice_sees and scripted not in alice_sees
    assert bobs in bob_sees and scripted in bob_sees and alices not in bob_sees
    assert "1 job," in alice_sees and "2 jobs" in bob_sees
    shared = make_app(SHARED_HISTORY=True).test_client().get("/history").get_data(as_text=True)
    assert all(job in shared for job in (alices, bobs, scripted))


def test_a_job_link_can_be_shared_but_not_deleted_by_its_viewer(make_app):
    app = make_app()
    owner, friend = app.test_client(), app.test_client()
    job_id = make_job(owner)
    assert friend.get(f"/jobs/{job_id}").status_code == 200
    assert friend.delete(f"/api/v1/jobs/{job_id}").status_code == 403
    assert owner.delete(f"/api/v1/jobs/{job_id}").status_code == 204



def test_deleting_ticked_jobs_needs_the_owner_of_every_one(make_app):
    """"Delete selected" follows the one-job rule for each ticked job, and refuses them all if one is
    not the caller's (nothing is half done)."""
    app = make_app()
    owner, stranger = app.test_client(), app.test_client()
    owners_jobs = [make_job(owner), make_job(owner)]
    strangers = make_job(stranger)
    token = token_from(stranger, "/history")
    refused = stranger.post("/history/delete", data={"csrf_token": token, "job": [strangers, owners_jobs[0]]})
    assert refused.status_code == 403 and "belongs to another" in refused.get_data(as_text=True)
    assert job_count(app) == 3
    assert stranger.post("/history/delete", data={"csrf_token": token, "job": [strangers]}).status_code == 303
    mine = owner.post("/history/delete", data={"csrf_token": token_from(owner, "/history"), "job": owners_jobs})
    assert mine.status_code == 303 and job_count(app) == 0


def test_a_zip_of_results_gathers_only_the_callers_own_jobs(make_app):
    app = make_app()
    alice, bob = app.test_client(), app.test_client()
    alices, bobs = make_job(alice), make_job(bob)
    assert bob.get(f"/batch.zip?job={bobs}").status_code == 200
    for asked in ([alices], [bobs, alices]):
        refused = bob.get("/batch.zip?" + "&".join(f"job={job_id}" for job_id in asked))
        assert refused.status_code == 403 and "another browser" in refused.get_data(as_text=True)
    assert bob.get(f"/batch.zip?job={alices}", headers={"X-API-Key": KEY}).status_code == 403  # no key is set
    keyed = make_app(API_KEY=KEY).test_client()
    assert keyed.get(f"/batch.zip?job={alices}&job={bobs}", headers={"X-API-Key": KEY}).status_code == 200
    shared = make_app(SHARED_HISTORY=True).test_client()
    assert shared.get(f"/batch.zip?job={alices}&job={bobs}").status_code == 200


# -- rate limit --------------------------------------------------------------------------------------
def test_rate_limit_per_client(make_app):
    app = make_app(RATE_LIMIT_PER_MINUTE=6, RATE_LIMIT_BURST=3)
    client = app.test_client()
    statuses = [client.post("/api/v1/remove-background", data={}).status_code for _ in range(4)]
    assert statuses[:3] == [400, 400, 400] and statuses[3] == 429
    limited = client.post("/api/v1/remove-background", data={})
    assert 1 <= int(limited.headers["Retry-After"]) <= 11
    assert "Too many requests" in limited.get_json()["error"]["message"]
    page = client.post("/jobs", data={})  # pages too, with the page's message, and Retry-After
    assert page.status_code == 429 and "Retry-After" in page.headers and "Too many requests" in page.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # reads are not limited
    neighbour = app.test_client()
    other = neighbour.post("/api/v1/remove-background", data={}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 400


def test_a_zip_of_results_counts_like_work(make_app):
    """GET /batch.zip reads and packs up to 100 full-size files: it is counted, unlike other reads."""
    client = make_app(RATE_LIMIT_PER_MINUTE=6, RATE_LIMIT_BURST=3).test_client()
    statuses = [client.get("/batch.zip").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert client.get("/history").status_code == 200  # other reads are still free


def test_api_key_holders_have_their_own_higher_limit(make_app):
    """A batch script with the key is not held to the per-address limit of anonymous visitors."""
    app = make_app(RATE_LIMIT_PER_MINUTE=6, RATE_LIMIT_BURST=3, RATE_LIMIT_KEY_PER_MINUTE=8, API_KEY=KEY)
    client = app.test_client()
    assert [client.post("/jobs", data={}).status_code for _ in range(4)][-1] == 429  # the address is spent
    with_key = [client.post("/api/v1/remove-background", data={}, headers={"X-API-Key": KEY}).status_code
                for _ in range(9)]
    assert with_key == [400] * 8 + [429]


def test_rate_limit_off(make_app):
    client = make_app(RATE_LIMIT_PER_MINUTE=0, RATE_LIMIT_BURST=1).test_client()
    assert {client.post("/api/v1/remove-background", data={}).status_code for _ in range(5)} == {400}


# -- request shape -----------------------------------------------------------------------------------
def test_several_files_in_one_field_are_refused(app):
    client = app.test_client()
    files = [(io.BytesIO(encode(portrait())), f"p{n}.jpg", "image/jpeg") for n in range(10)]
    response = client.post("/api/v1/remove-background", data={"image": files}, content_type="multipart/form-data")
    assert response.status_code == 400 and "send one file" in response.get_json()["error"]["message"]
    assert job_count(app) == 0


def test_too_many_files_are_refused(app):
    client = app.test_client()
    form = {f"file{n}": (io.BytesIO(b"x"), f"{n}.jpg", "image/jpeg") for n in range(6)}
    response = client.post("/api/v1/remove-background", data=form, content_type="multipart/form-data")
    assert response.status_code == 400 and "at most 4" in response.get_json()["error"]["message"]


# -- headers -----------------------------------------------------------------------------------------
def test_security_headers_on_every_kind_of_response(app):
    client = app.test_client()
    job_id = make_job(client)
    for url in ["/", "/history", f"/jobs/{job_id}", "/api/v1/models", "/healthz", "/no/such/page",
                "/static/css/app.css", f"/api/v1/jobs/{'0' * 32}"]:
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["X-Frame-Options"] == "DENY", url
        assert response.headers["Referrer-Policy"] == "same-origin", url


def test_job_files_are_served_sandboxed_with_their_stored_type(app):
    client = app.test_client()
    job_id = make_job(client)
    record = client.get(f"/api/v1/jobs/{job_id}").get_json()
    for name, meta in record["files"].items():
        response = client.get(f"/jobs/{job_id}/files/{name}")
        assert response.mimetype == meta["content_type"]
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "private" in response.headers["Cache-Control"] and "public" not in response.headers["Cache-Control"]


def test_templates_and_scripts_need_no_inline_code():
    """The CSP forbids inline scripts, inline styles and event-handler attributes: none may be used."""
    for path in sorted((REPO_ROOT / "templates").glob("*.html")):
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path.name
        assert not re.search(r"<style\b", html), path.name
        assert not re.search(r"\sstyle=", html), path.name
        assert not re.search(r"\son[a-z]+=", html), path.name
        assert "javascript:" not in html, path.name
