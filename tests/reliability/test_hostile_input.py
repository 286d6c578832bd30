"""Hostile uploads on every upload route: random bytes, truncated files, bombs, wrong types, long and
unknown fields. Each gets a 4xx with a message, nothing is stored, the app keeps answering, and no
file outside the data directory is written.

(tests/web/test_bad_input.py checks the ordinary mistakes, message by message; this file throws
generated and deliberately malicious input at the same routes.)
"""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from webapp import create_app

from .conftest import (TEST_CONFIG, assert_healthy, assert_refused, encode, job_count, jpeg_claiming,
                       last_idat_end, png_claiming, portrait, system_tmp, tiff_with_a_damaged_second_page, upload)

UPLOAD_URLS = ["/api/v1/remove-background", "/jobs", "/compare", "/api/v1/id-photo"]
FUZZ = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def shared(tmp_path_factory, form_client_class):
    """One app for a module's generated examples (building one per example would dominate the run).

    Its client sends the page's CSRF token with form posts, so refusals come from the checks on the
    upload itself, not from a missing token.
    """
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    app.test_client_class = form_client_class
    return app, app.test_client(), data_dir


def refused_and_nothing_stored(shared, response) -> str:
    app, client, _ = shared
    message = assert_refused(response)
    assert job_count(app) == 0
    assert_healthy(client)
    return message


@FUZZ
@given(data=st.binary(max_size=4096), url=st.sampled_from(UPLOAD_URLS),
       declared=st.sampled_from(["image/jpeg", "image/png", "application/octet-stream", "image/webp"]))
def test_random_bytes_are_refused(shared, data, url, declared):
    refused_and_nothing_stored(shared, upload(shared[1], url, data, declared))


@FUZZ
@given(fraction=st.floats(0.0, 0.999), url=st.sampled_from(UPLOAD_URLS), fmt=st.sampled_from(["JPEG", "PNG"]))
def test_truncated_images_are_refused(shared, fraction, url, fmt):
    """Cut anywhere before the end of the pixel data: the file can no longer be decoded in full."""
    whole = encode(portrait(seed=3), fmt)
    end = len(whole) - 2 if fmt == "JPEG" else last_idat_end(whole)  # JPEG: before EOI; PNG: inside IDAT
    cut = whole[:int(end * fraction)]
    refused_and_nothing_stored(shared, upload(shared[1], url, cut, f"image/{fmt.lower()}"))


@FUZZ
@given(name=st.sampled_from(["model", "background", "format", "output", "preset", "layout", "dpi", "max_kb", "size"]),
       value=st.text(min_size=1, max_size=300).filter(lambda v: v.strip().lower() not in {
           "sinet", "mobile-unet", "transparent", "blur", "png", "jpg", "jpeg", "webp", "image", "mask", "single"}))
def test_generated_field_values_never_break_the_api(shared, photo_bytes, name, value):
    """Any text in any field: either a valid request or a 4xx naming a field; never a 500."""
    app, client, _ = shared
    before = job_count(app)
    url = "/api/v1/id-photo" if name in ("preset", "layout", "dpi", "max_kb", "size") else "/api/v1/remove-background"
    response = upload(client, url, photo_bytes, fields={name: value})
    assert response.status_code < 500, response.data[:300]
    if response.status_code >= 400:
        assert_refused(response)
        assert job_count(app) == before
    assert_healthy(client)


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    return encode(portrait())


@pytest.mark.parametrize("url", UPLOAD_URLS)
@pytest.mark.parametrize("label,data", [
    ("PNG claiming 100,000 x 100,000", png_claiming(100_000, 100_000)),
    ("PNG claiming 2^31-1 x 2^31-1", png_claiming(2**31 - 1, 2**31 - 1)),
    ("JPEG claiming 65,000 x 65,000", jpeg_claiming(65_000, 65_000)),
])
def test_decompression_bombs_are_refused_before_decoding(shared, url, label, data):
    """A few kB claiming billions of pixels: refused from the header (413), so memory never explodes."""
    assert len(data) < 20_000
    response = upload(shared[1], url, data, "image/png" if data.startswith(b"\x89PNG") else "image/jpeg")
    if response.status_code == 413:
        assert "megapixels" in refused_and_nothing_stored(shared, response)
    else:  # Pillow itself may reject absurd header values as corrupt; still a refusal with a message
        refused_and_nothing_stored(shared, response)


@pytest.mark.parametrize("url", UPLOAD_URLS)
def test_zero_pixel_image_is_refused(shared, url):
    message = refused_and_nothing_stored(shared, upload(shared[1], url, png_claiming(0, 0), "image/png"))
    assert "image" in message


@pytest.mark.parametrize("url", UPLOAD_URLS)
@pytest.mark.parametrize("size", [(1, 1), (1, 500), (15, 15)])
def test_images_too_small_to_hold_a_person_are_refused(shared, url, size):
    message = refused_and_nothing_stored(shared, upload(shared[1], url, encode(portrait(*size)[:size[0], :size[1]], "PNG"),
                                                        "image/png"))
    assert f"{size[1]}x{size[0]} pixels" in message


@pytest.mark.parametrize("url", UPLOAD_URLS)
def test_several_files_in_one_request_are_refused(shared, photo_bytes, url):
    files = [(io.BytesIO(photo_bytes), f"p{n}.jpg", "image/jpeg") for n in range(20)]
    response = shared[1].post(url, data={"image": files}, content_type="multipart/form-data",
                              headers={"Accept": "application/json"})
    assert "send one file" in refused_and_nothing_stored(shared, response).lower()  # pages: "Send one file..."


@pytest.mark.parametrize("url", UPLOAD_URLS)
def test_upload_over_the_size_limit_is_refused(shared, url):
    body = b"\xff\xd8\xff\xe0" + bytes(3 * 1024 * 1024)  # 3 MB against the tests' 2 MB limit
    assert "MB limit" in refused_and_nothing_stored(shared, upload(shared[1], url, body))


@pytest.mark.parametrize("url", UPLOAD_URLS)
@pytest.mark.parametrize("content_type,body", [
    ("application/json", b'{"image": "/etc/passwd"}'),
    ("application/x-www-form-urlencoded", b"image=..%2F..%2Fetc%2Fpasswd&model=sinet"),
    ("text/plain", b"hello"),
    ("multipart/form-data", b"--x\r\n"),  # no boundary parameter at all
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nno end"),
])
def test_wrong_request_content_type_is_refused(shared, url, content_type, body):
    response = shared[1].post(url, data=body, content_type=content_type, headers={"Accept": "application/json"})
    refused_and_nothing_stored(shared, response)


@pytest.mark.parametrize("url", UPLOAD_URLS)
def test_thousands_of_form_parts_are_refused(shared, photo_bytes, url):
    form = {f"field{n}": "x" for n in range(3000)}
    form["image"] = (io.BytesIO(photo_bytes), "p.jpg", "image/jpeg")
    response = shared[1].post(url, data=form, content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert "too many fields" in refused_and_nothing_stored(shared, response)


@pytest.mark.parametrize("length", [200_000, 1_000_000])
@pytest.mark.parametrize("field", ["model", "background", "format"])
def test_very_long_field_values_are_refused(shared, photo_bytes, field, length):
    response = upload(shared[1], "/api/v1/remove-background", photo_bytes, fields={field: "x" * length})
    message = refused_and_nothing_stored(shared, response)
    # Past werkzeug's 500 kB for form text the form itself is refused; below it, the field is named.
    assert message.startswith(f"{field}:") if length < 500_000 else "field value is too long" in message


def test_unknown_fields_are_ignored_and_cannot_steer_the_job(app, client, data_dir, photo, file_audit):
    """Unknown fields are ignored by design (forms evolve; old scripts keep working), so they must not
    reach the job record: the id stays random, files stay in the store, the source is the route's."""
    sneaky = {"id": "0" * 32, "files": "../../x", "source": "admin", "created": "1970-01-01", "DATA_DIR": "/",
              "original": "/etc/passwd", "../../escape": "x", "x" * 1000: "y"}
    with file_audit.recording():
        response = upload(client, "/api/v1/remove-background", photo, fields=sneaky)
    assert response.status_code == 200
    record = app.extensions["backdrop"].store.load(response.headers["X-Job-Id"])
    assert record["id"] != "0" * 32 and record["source"] == "api"
    assert record["original"]["file"] == "original.jpg"
    assert set(record["settings"]) == {"model", "background", "format", "output", "matting"}
    assert file_audit.writes_outside(data_dir) == []


@pytest.mark.parametrize("filename", ["../../../../tmp/pwned.jpg", "..\\..\\pwned.jpg", "/etc/passwd",
                                      "%2e%2e%2fpwned.jpg", "a" * 5000 + ".jpg", "\x00evil.jpg", "job.json"])
def test_hostile_upload_file_names_are_only_recorded_as_text(app, client, data_dir, photo, file_audit, filename):
    with file_audit.recording():
        response = upload(client, "/api/v1/remove-background", photo, filename=filename)
    assert response.status_code == 200
    job_id = response.headers["X-Job-Id"]
    record = app.extensions["backdrop"].store.load(job_id)
    assert len(record["original"]["filename"]) <= 200
    assert sorted(p.name for p in (data_dir / "jobs" / job_id).iterdir()) == sorted(record["files"])
    assert record["original"]["filename"].isprintable()  # failure 9: no NUL or control characters kept
    assert file_audit.writes_outside(data_dir) == []
    assert not (system_tmp() / "pwned.jpg").exists()


def test_a_nul_in_the_file_name_never_reaches_the_history_page(client, photo):
    """Failure 9: the name was written raw into the page (a NUL in HTML)."""
    response = upload(client, "/jobs", photo, filename="me\x00<b>.jpg")
    assert response.status_code == 201
    page = client.get("/history").get_data(as_text=True)
    assert "\x00" not in page and "me&lt;b&gt;.jpg" in page


@pytest.mark.parametrize("url", UPLOAD_URLS)
def test_a_tiff_with_a_damaged_second_page_is_read_from_its_first(app, client, url):
    """Failure 3: a 500 on every upload route (Pillow's frame count raised TypeError)."""
    response = upload(client, url, tiff_with_a_damaged_second_page(portrait()), content_type="image/tiff",
                      filename="scan.tiff")
    assert response.status_code < 500, response.data[:300]
    if url != "/api/v1/id-photo":  # a drawn figure has no face for the ID-photo checks: a 422 there
        assert response.status_code in (200, 201), response.data[:300]


def test_content_type_comes_from_the_file_not_the_client(app, client, photo):
    """A PNG declared as JPEG and named .html is stored and served as the PNG it is."""
    png = encode(portrait(), "PNG")
    response = upload(client, "/api/v1/remove-background", png, content_type="image/jpeg", filename="page.html")
    job_id = response.headers["X-Job-Id"]
    record = app.extensions["backdrop"].store.load(job_id)
    assert record["original"]["file"] == "original.png"
    served = client.get(f"/jobs/{job_id}/files/original.png")
    assert served.status_code == 200 and served.mimetype == "image/png" and served.data == png
