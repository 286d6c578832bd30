"""Every kind of bad input, on every upload endpoint: the right status, a message naming the field,
never a 500 or a stack trace, and nothing already stored is changed or added."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.stored import snapshot

from .conftest import encode, portrait, upload

# (url, ask for JSON?) : the page form without script, the page form's script, the API, compare.
ENDPOINTS = [("/jobs", False), ("/jobs", True), ("/api/v1/remove-background", True), ("/compare", False)]
IDS = ["page", "page-json", "api", "compare"]


@pytest.fixture
def existing(client, data_dir, photo):
    """A job stored before the bad request, and a fingerprint of the whole data directory."""
    assert upload(client, image=photo).status_code == 303
    return snapshot(data_dir)


def check(response, status: int, field: str, words: str, as_json: bool, data_dir: Path, before: dict) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:400]
    assert "Traceback" not in body and 'File "' not in body
    if as_json:
        error = response.json["error"]
        assert error["status"] == status and error["field"] == field
        message = error["message"]
    else:
        assert response.mimetype == "text/html"
        assert 'data-error-box' in body and 'enctype="multipart/form-data"' in body  # the form, with the message
        message = body
    assert words.lower() in message.lower(), message[:400]
    if response.request.path.startswith("/api/"):
        assert message.startswith(f"{field}: ")  # scripts are told the field in the message too
    elif as_json:  # the page's script shows it to people: no field names
        assert not message.startswith(f"{field}:") and message[:1].isupper(), message
    else:
        assert f"{field}: " not in body.split("data-error-text>")[1].split("<")[0]
    assert snapshot(data_dir) == before


BAD_INPUTS = {
    # name: (fields, status, field, words in the message)
    "no file": ({}, 400, "image", "no file was uploaded"),
    "empty file": ({"image": (b"", "empty.jpg", "image/jpeg")}, 400, "image", "empty"),
    "text file": ({"image": (b"hello, I am text", "notes.txt", "text/plain")}, 415, "image", "not an image"),
    "pdf": ({"image": (b"%PDF-1.4 ...", "doc.pdf", "application/pdf")}, 415, "image", "not an image"),
    "text named .jpg": ({"image": (b"hello, I am text" * 10, "fake.jpg", "image/jpeg")}, 422, "image",
                        "not an image in a supported format"),
    "truncated jpeg": ({"image": (encode(portrait())[:3000], "cut.jpg", "image/jpeg")}, 422, "image", "corrupt"),
    "too many pixels": ({"image": (encode(np.zeros((1001, 1000, 3), np.uint8), "PNG"), "big.png", "image/png")},
                        413, "image", "megapixels"),
    "too many bytes": ({"image": (b"\xff\xd8" + bytes(3 * 1024 * 1024), "huge.jpg", "image/jpeg")}, 413, "image",
                       "MB limit"),
}
FIELD_INPUTS = {
    "unknown model": ({"model": "resnet"}, 422, "model", "unknown model"),
    "bad colour": ({"background": "#12345"}, 422, "background", "as a background"),
    "unknown colour name": ({"background": "purplish"}, 422, "background", "as a background"),
    "server path as background": ({"background": "/etc/hostname"}, 422, "background", "as a background"),
}


def send(client, url: str, as_json: bool, fields: dict):
    data = {}
    for name, value in fields.items():
        data[name] = (io.BytesIO(value[0]), value[1], value[2]) if isinstance(value, tuple) else value
    headers = {"Accept": "application/json"} if as_json else {}
    return client.post(url, data=data, headers=headers, content_type="multipart/form-data")


@pytest.mark.parametrize("url,as_json", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_uploads(client, data_dir, existing, url, as_json, case):
    fields, status, field, words = BAD_INPUTS[case]
    check(send(client, url, as_json, fields), status, field, words, as_json, data_dir, existing)


@pytest.mark.parametrize("url,as_json", ENDPOINTS[:3], ids=IDS[:3])
@pytest.mark.parametrize("case", list(FIELD_INPUTS))
def test_bad_fields(client, data_dir, existing, photo, url, as_json, case):
    fields, status, field, words = FIELD_INPUTS[case]
    fields = {"image": (photo, "p.jpg", "image/jpeg"), **fields}
    check(send(client, url, as_json, fields), status, field, words, as_json, data_dir, existing)


def test_page_colour_field_is_named(client, data_dir, existing, photo):
    fields = {"image": (photo, "p.jpg", "image/jpeg"), "background": "color", "color": "bluish"}
    check(send(client, "/jobs", True, fields), 422, "color", "as a colour", True, data_dir, existing)


@pytest.mark.parametrize("fields,status,field,words", [
    ({"format": "gif"}, 422, "format", "unknown output format"),
    ({"output": "alpha"}, 422, "output", "not an output"),
    ({"background": "image"}, 400, "background_image", "no file"),  # the file is required with it
])
def test_bad_api_fields(client, data_dir, existing, photo, fields, status, field, words):
    fields = {"image": (photo, "p.jpg", "image/jpeg"), **fields}
    check(send(client, "/api/v1/remove-background", True, fields), status, field, words, True, data_dir, existing)


def test_image_background_needs_a_readable_picture(client, data_dir, existing, photo):
    base = {"image": (photo, "p.jpg", "image/jpeg"), "background": "image"}
    check(send(client, "/jobs", True, base), 400, "background_image", "no file", True, data_dir, existing)
    broken = {**base, "background_image": (b"not a picture", "bg.png", "image/png")}
    check(send(client, "/jobs", False, broken), 422, "background_image", "not an image", False, data_dir, existing)


def test_truth_mask_must_match_the_photo(client, data_dir, existing, photo):
    wrong_size = encode(np.zeros((100, 100), np.uint8), "PNG")
    fields = {"image": (photo, "p.jpg", "image/jpeg"), "truth": (wrong_size, "truth.png", "image/png")}
    check(send(client, "/compare", False, fields), 422, "truth", "must match", False, data_dir, existing)
    fields["truth"] = (b"junk", "truth.png", "image/png")
    check(send(client, "/compare", True, fields), 422, "truth", "not an image", True, data_dir, existing)


def test_bad_change_background_keeps_the_job(client, store, data_dir, existing):
    job_id = next(p.name for p in (data_dir / "jobs").iterdir())
    response = client.post(f"/jobs/{job_id}/background", data={"model": "sinet", "background": "color",
                                                                "color": "#zzzzzz"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "as a colour" in body and "Background removed" in body
    response = client.post(f"/jobs/{job_id}/model", data={"model": "unet-9000"})
    assert response.status_code == 422 and "unknown model" in response.get_data(as_text=True).lower()
    assert snapshot(data_dir) == existing and len(store.load(job_id)["renders"]) == 1


def test_an_unexpected_failure_is_a_plain_500_and_leaves_no_half_job(app, client, data_dir, existing, photo,
                                                                        monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.extensions["backdrop"].models, "segment", broken)
    for url, as_json in ENDPOINTS:
        response = send(client, url, as_json, {"image": (photo, "p.jpg", "image/jpeg")})
        body = response.get_data(as_text=True)
        assert response.status_code == 500, url
        assert "secret internal detail" not in body and "Traceback" not in body
        assert "went wrong on our side" in body
        assert (response.json["error"]["status"] == 500) if as_json else response.mimetype == "text/html"
    assert snapshot(data_dir) == existing  # the half-built jobs were removed again
