"""The ID-photo API and page through Flask's test client (the app fixtures come from tests/web)."""
import io
import json
import zipfile

import pytest
from PIL import Image

from devtools.portrait import PORTRAIT
from tests.web.conftest import app, client, data_dir, store  # noqa: F401  (shared app fixtures)

PHOTO = PORTRAIT.read_bytes()


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
    assert {r["id"] for r in report["rules"]} >= {"head_height", "face_count", "cutout_clean", "resolution"}
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
                                           ({"max_kb": "x"}, "max_kb"), ({"preset": "custom"}, "preset"),
                                           ({"gap_mm": "11"}, "gap_mm"), ({"each": "maybe"}, "each"),
                                           ({"face": "0"}, "face"), ({"head_mm": "big"}, "head_mm")])
def test_bad_fields_name_the_field(client, fields, field):
    response = post(client, fields)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == field and error["message"].startswith(field)


def pair_of_portraits() -> bytes:
    with Image.open(io.BytesIO(PHOTO)) as one:
        pair = Image.new("RGB", (one.width * 2, one.height))
        pair.paste(one, (0, 0))
        pair.paste(one, (one.width, 0))
    buffer = io.BytesIO()
    pair.save(buffer, "JPEG")
    return buffer.getvalue()


def test_no_face_and_two_faces_are_clear_422s(client, store):
    blank = io.BytesIO()
    Image.new("RGB", (300, 300), (120, 140, 160)).save(blank, "JPEG")
    response = post(client, photo=blank.getvalue())
    assert response.status_code == 422 and "No face was found" in response.get_json()["error"]["message"]
    response = post(client, photo=pair_of_portraits())
    message = response.get_json()["error"]["message"]
    assert response.status_code == 422 and "2 faces were found" in message and "face=1 to 2" in message
    assert store.page(1, 50).total == 0  # failed attempts leave no half-made jobs


def test_missing_photo_is_400(client):
    assert post(client, photo=None).status_code == 400


def test_page_is_linked_from_the_nav_and_the_upload_page(client):
    page = client.get("/id-photo").get_data(as_text=True)
    assert 'name="preset"' in page and "js/idphoto.js" in page and "<script>" not in page
    home = client.get("/").get_data(as_text=True)
    assert home.count('href="/id-photo"') >= 2


def test_face_picks_one_person_of_a_group(client):
    response = post(client, {"face": "2"}, photo=pair_of_portraits())
    assert response.status_code == 200
    report = json.loads(response.headers["X-Compliance"])
    assert report["face"]["number"] == 2 and report["face"]["count"] == 2
    assert report["face"]["box"][0] > 512  # the right-hand copy
    response = post(client, {"face": "3"}, photo=pair_of_portraits())
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "face"
    assert "Face 3 does not exist: 2 faces" in response.get_json()["error"]["message"]
    assert post(client, {"face": "first"}).get_json()["error"]["field"] == "face"


def test_faces_endpoint_numbers_the_faces_left_to_right(client):
    body = client.post("/api/v1/id-photo/faces", data={"image": (io.BytesIO(pair_of_portraits()), "two.jpg")},
                       content_type="multipart/form-data").get_json()
    assert (body["width"], body["height"]) == (1024, 512)
    assert [f["number"] for f in body["faces"]] == [1, 2]
    assert body["faces"][0]["box"][2] < 512 < body["faces"][1]["box"][0]


def test_one_photo_per_person_as_a_zip_or_one_sheet(client):
    response = post(client, {"each": "1"}, photo=pair_of_portraits())
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as bundle:
        assert bundle.namelist() == ["face-1.jpg", "face-2.jpg", "report.json"]
    report = json.loads(response.headers["X-Compliance"])
    assert report["faces"] == 2 and [r["face"]["number"] for r in report["reports"]] == [1, 2]
    response = post(client, {"each": "1", "layout": "sheet-4x6", "gap_mm": "3"}, photo=pair_of_portraits())
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert json.loads(response.headers["X-Compliance"])["sheet"]["gap_mm"] == 3.0


def test_a_document_that_forbids_replacement_keeps_the_background(client):
    report = json.loads(post(client, {"preset": "au-passport"}).headers["X-Compliance"])
    assert report["background_method"] == "kept" and report["background"] is None
    method = next(r for r in report["rules"] if r["id"] == "background_method")
    assert "digitally altered" in method["hint"]


def test_history_opens_an_id_job_on_the_id_page(client):
    job_id = post(client).headers["X-Job-Id"]
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/id-photo?job={job_id}")


@pytest.mark.parametrize("data, status", [({}, 400), ({"image": (io.BytesIO(b"not an image"), "x.jpg", "image/jpeg")}, 422),
                                          ({"image": (io.BytesIO(b"%PDF-1.4"), "x.pdf", "application/pdf")}, 415)])
def test_faces_endpoint_refuses_bad_uploads_with_a_4xx(client, data, status):
    response = client.post("/api/v1/id-photo/faces", data=data, content_type="multipart/form-data")
    assert response.status_code == status and response.get_json()["error"]["field"] == "image"


def test_a_hand_set_crop_through_the_api(client):
    report = json.loads(post(client, {"head_mm": "33", "offset_mm": "-0.5", "top_mm": "4"}).headers["X-Compliance"])
    rules = {r["id"]: r for r in report["rules"]}
    assert rules["head_height"]["value"] == pytest.approx(33, abs=0.05) and rules["centring"]["value"] == -0.5
    assert rules["top_margin"]["value"] == pytest.approx(4, abs=0.05)


def test_the_page_reopens_only_the_callers_own_id_jobs(app, client, form_client_class):
    """History lists the caller's jobs (webapp/owners.py), so the ID page reopens only those: another
    browser gets 403 and no report, a job that is not an ID photo 404, a shared install everything."""
    job_id = post(client, {"preset": "cn-1inch"}).headers["X-Job-Id"]
    body = client.get(f"/id-photo/jobs/{job_id}").get_json()
    assert body["id"] == job_id and body["settings"]["preset"] == "cn-1inch"
    assert body["idphoto"]["file"] == "idphoto.jpg" and body["idphoto"]["report"]["preset"] == "cn-1inch"
    assert client.get(body["links"]["idphoto.jpg"]).mimetype == "image/jpeg" and "owner" not in body
    app.test_client_class = form_client_class
    stranger = app.test_client()
    refused = stranger.get(f"/id-photo/jobs/{job_id}", headers={"Accept": "application/json"})
    assert refused.status_code == 403 and "idphoto" not in refused.get_json()
    assert "another browser" in refused.get_json()["error"]["message"]
    assert stranger.get("/history").get_data(as_text=True).count(job_id) == 0  # and History does not list it
    other = client.post("/jobs", data={"image": (io.BytesIO(PHOTO), "me.jpg", "image/jpeg")},
                        content_type="multipart/form-data").headers["Location"].split("/jobs/")[1].split("?")[0]
    assert client.get(f"/id-photo/jobs/{other}", headers={"Accept": "application/json"}).status_code == 404
    app.config["SHARED_HISTORY"] = True
    assert stranger.get(f"/id-photo/jobs/{job_id}").get_json()["id"] == job_id


def test_the_page_calls_its_own_routes_not_the_api(client):
    page = client.get("/id-photo").get_data(as_text=True)
    assert 'action="/id-photo"' in page and 'data-faces-url="/id-photo/faces"' in page
    assert 'data-job-url="/id-photo/jobs/JOB"' in page and "/api/" not in page.split("data-idphoto-form")[1].split(">")[0]
    body = client.post("/id-photo/faces", data={"image": (io.BytesIO(pair_of_portraits()), "two.jpg")},
                       content_type="multipart/form-data").get_json()
    assert [f["number"] for f in body["faces"]] == [1, 2]
