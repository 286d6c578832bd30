"""The ID-photo API and page through Flask's test client (the app fixtures come from tests/web)."""
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.web.conftest import app, client, data_dir, store  # noqa: F401  (shared app fixtures)

PHOTO = (Path(__file__).parent / "data" / "astronaut.jpg").read_bytes()


def post(client, data=None, photo=PHOTO, name="me.jpg"):
    fields = {"preset": "eu-passport", **(data or {})}
    if photo is not None:
        fields["image"] = (io.BytesIO(photo), name, "image/jpeg")
    return client.post("/api/v1/id-photo", data=fields, content_type="multipart/form-data")


def test_presets_endpoint_lists_every_preset_with_rules(client):
    body = client.get("/api/v1/id-presets").get_json()
    ids = {p["id"] for p in body["presets"]}
    assert {"eu-passport", "uk-passport", "schengen-visa", "au-passport", "us-passport", "us-visa",
            "ca-passport", "cn-1inch", "cn-2inch", "in-passport"} == ids
    us = next(p for p in body["presets"] if p["id"] == "us-passport")
    assert us["pixels_at_dpi"] == [600, 600] and us["eyes_from_bottom_mm"] == [28.6, 34.9]
    assert us["source"] and us["backgrounds"][0] == {"name": "white", "colour": "#FFFFFF"}
    assert set(body["backgrounds"]) == {"white", "off-white", "light-grey", "light-blue", "red"}


def test_id_photo_returns_jpeg_with_dpi_and_the_report(client):
    response = post(client, {"background": "light-blue", "dpi": "300"})
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.size == (413, 531) and image.info["dpi"] == pytest.approx((300, 300))
    report = json.loads(response.headers["X-Compliance"])
    assert report["preset"] == "eu-passport" and report["background"] == "#CFE2F3"
    assert {r["id"] for r in report["rules"]} >= {"head_height", "face_count", "background_uniform", "resolution"}
    job = client.get(f"/api/v1/jobs/{response.headers['X-Job-Id']}").get_json()
    assert job["idphoto"]["report"] == report
    assert job["source"] == "idphoto" and "idphoto.jpg" in job["files"]
    assert client.get(response.headers["X-Result-Url"]).data == response.data


def test_sheet_and_size_cap(client):
    response = post(client, {"preset": "us-passport", "layout": "sheet-4x6", "max_kb": "400"})
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.data)) as image:
        assert sorted(image.size) == [1200, 1800]
    report = json.loads(response.headers["X-Compliance"])
    assert report["sheet"]["copies"] == 6 and len(response.data) <= 400 * 1024
    assert {r["id"]: r for r in report["rules"]}["file_size"]["status"] == "pass"


def test_custom_size_in_pixels(client):
    response = post(client, {"preset": "custom", "size": "480x640px"})
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.size == (480, 640)


@pytest.mark.parametrize("fields, field", [({"preset": "mars"}, "preset"), ({"background": "plaid"}, "background"),
                                           ({"dpi": "5"}, "dpi"), ({"layout": "poster"}, "layout"),
                                           ({"max_kb": "x"}, "max_kb"), ({"preset": "custom"}, "preset")])
def test_bad_fields_name_the_field(client, fields, field):
    response = post(client, fields)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == field and error["message"].startswith(field)


def test_no_face_and_two_faces_are_clear_422s(client, store):
    blank = io.BytesIO()
    Image.new("RGB", (300, 300), (120, 140, 160)).save(blank, "JPEG")
    response = post(client, photo=blank.getvalue())
    assert response.status_code == 422 and "No face was found" in response.get_json()["error"]["message"]
    with Image.open(io.BytesIO(PHOTO)) as one:
        pair = Image.new("RGB", (one.width * 2, one.height))
        pair.paste(one, (0, 0))
        pair.paste(one, (one.width, 0))
    buffer = io.BytesIO()
    pair.save(buffer, "JPEG")
    response = post(client, photo=buffer.getvalue())
    assert response.status_code == 422 and "2 faces were found" in response.get_json()["error"]["message"]
    assert store.page(1, 50).total == 0  # failed attempts leave no half-made jobs


def test_missing_photo_is_400(client):
    assert post(client, photo=None).status_code == 400


def test_page_is_linked_from_the_nav_and_the_upload_page(client):
    page = client.get("/id-photo").get_data(as_text=True)
    assert 'name="preset"' in page and "js/idphoto.js" in page and "<script>" not in page
    home = client.get("/").get_data(as_text=True)
    assert home.count('href="/id-photo"') >= 2
