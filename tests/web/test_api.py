"""The JSON/binary API: remove-background in every format and output, models, jobs, healthz."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from ml.catalogue import DEFAULT_MODEL
from ml.registry import load_runtime
from tests.models import OTHER_MODEL
from webapp.config import REPO_ROOT

from .conftest import decode, encode, portrait, upload

API = "/api/v1/remove-background"


def test_defaults_give_a_transparent_png_with_job_headers(client, store, photo):
    response = upload(client, API, image=photo)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Job-Id"])
    assert response.headers["X-Model"] == DEFAULT_MODEL
    assert float(response.headers["X-Inference-Ms"]) > 0
    image = decode(response.data)
    assert image.mode == "RGBA" and image.size == (240, 320)
    record = store.load(response.headers["X-Job-Id"])
    assert record["source"] == "api" and record["settings"]["format"] == "png"
    assert record["renders"][0]["file"] == f"cutout-{DEFAULT_MODEL}.png"  # the cutout itself, not a copy


def test_jpeg_with_transparent_background_gets_white(client, photo):
    response = upload(client, API, image=photo, format="jpg", model="mobile-unet")
    assert response.mimetype == "image/jpeg" and response.headers["X-Model"] == "mobile-unet"
    result = np.asarray(decode(response.data)).astype(int)
    alpha = np.asarray(decode(client.get(f"/jobs/{response.headers['X-Job-Id']}/files/alpha-mobile-unet.png").data))
    assert result.shape == (320, 240, 3) and (alpha == 0).any()
    assert np.abs(np.median(result[alpha == 0], axis=0) - 255).max() <= 3


def test_colour_and_blur_backgrounds_in_webp_and_png(client, photo):
    colour = upload(client, API, image=photo, background="#FF0000", format="webp")
    assert colour.mimetype == "image/webp"
    image = decode(colour.data)
    assert image.format == "WEBP" and image.mode == "RGB" and image.size == (240, 320)
    blur = upload(client, API, image=photo, background="blur", format="jpeg")
    assert blur.status_code == 200 and blur.mimetype == "image/jpeg"


def test_mask_output_is_binary_in_any_format(client, photo):
    png = upload(client, API, image=photo, output="mask")
    mask = np.asarray(decode(png.data))
    assert png.mimetype == "image/png" and mask.shape == (320, 240) and set(np.unique(mask)) <= {0, 255}
    jpg = upload(client, API, image=photo, output="mask", format="jpg")
    assert jpg.mimetype == "image/jpeg"
    as_jpg = np.asarray(decode(jpg.data).convert("L")).astype(int)
    assert np.abs(as_jpg - mask).mean() < 3


def test_models_report_input_size_parameters_and_card(client):
    body = client.get("/api/v1/models").json
    assert body["default"] == DEFAULT_MODEL
    names = [model["name"] for model in body["models"]]
    assert names == ["sinet", "mobile-unet"]
    for model in body["models"]:
        runtime = load_runtime(model["name"], REPO_ROOT / "weights")
        assert model["input_size"] == runtime.input_size
        assert model["parameters"] == runtime.parameters
        assert model["card"] == runtime.card and "metrics" in model


def test_job_json_and_delete(client, store, photo):
    job_id = upload(client, API, image=photo).headers["X-Job-Id"]
    body = client.get(f"/api/v1/jobs/{job_id}").json
    assert body["id"] == job_id and body["masks"][DEFAULT_MODEL]["timings_ms"]["total"] > 0
    assert body["original"]["bytes"] == len(photo)
    assert set(body["links"]) == set(body["files"])
    assert client.get(body["links"][f"cutout-{DEFAULT_MODEL}.png"].replace("http://localhost", "")).status_code == 200
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert not (store.jobs_dir / job_id).exists()
    gone = client.get(f"/api/v1/jobs/{job_id}")
    assert gone.status_code == 404 and gone.json["error"]["status"] == 404
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 404
    assert client.get("/api/v1/jobs/not-an-id").status_code == 404


def test_healthz_lists_the_loaded_models(client):
    body = client.get("/healthz").json
    assert body["status"] == "ok"
    assert [model["name"] for model in body["models"]] == ["sinet", "mobile-unet"]
    assert all(model["input_size"] > 0 for model in body["models"])


def test_unknown_api_route_and_method_are_json(client):
    missing = client.get("/api/v1/nothing")
    assert missing.status_code == 404 and missing.json["error"]["status"] == 404
    wrong = client.get(API)
    assert wrong.status_code == 405 and wrong.json["error"]["status"] == 405


def test_matting_field_is_stored_and_changes_the_matte(client, store, photo, app):
    alphas = {}
    for value in ("on", "off"):
        response = upload(client, API, image=photo, matting=value)
        assert response.status_code == 200
        record = store.load(response.headers["X-Job-Id"])
        assert record["settings"]["matting"] is (value == "on")
        alphas[value] = np.asarray(decode(store.read_file(record["id"], f"alpha-{DEFAULT_MODEL}.png")))
    assert (alphas["on"] != alphas["off"]).any()
    default = upload(client, API, image=photo)
    assert store.load(default.headers["X-Job-Id"])["settings"]["matting"] is app.config["MATTING"]
    # The page's hidden "off" comes first; a ticked box adds "on" after it, and the last value wins.
    ticked = client.post(API, content_type="multipart/form-data",
                         data={"image": (io.BytesIO(photo), "p.jpg", "image/jpeg"), "matting": ["off", "on"]})
    assert store.load(ticked.headers["X-Job-Id"])["settings"]["matting"] is True


def test_bad_matting_value_names_the_field(client, photo):
    response = upload(client, API, image=photo, matting="maybe")
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "matting"


@pytest.mark.parametrize("fmt, ext, mimetype", [("HEIF", "heic", "image/heic"), ("AVIF", "avif", "image/avif")])
def test_iphone_heic_and_avif_uploads(client, store, fmt, ext, mimetype):
    """Stored as sent, turned upright by its EXIF orientation (6: the phone was turned), then cut out."""
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = np.ascontiguousarray(np.rot90(portrait(), 1))  # 240 high, 320 wide as stored
    data = encode(sideways, fmt, quality=90, exif=exif.tobytes())
    response = upload(client, API, image=data, filename=f"IMG_0001.{ext}", mimetype=mimetype)
    assert response.status_code == 200, response.data[:300]
    assert decode(response.data).size == (240, 320)  # upright: taller than wide
    record = store.load(response.headers["X-Job-Id"])
    assert record["original"]["file"] == f"original.{ext}" and record["original"]["content_type"] == mimetype
    assert store.read_file(record["id"], f"original.{ext}") == data


@pytest.mark.parametrize("colour, rgb", [("#F00", (255, 0, 0)), ("#00ff00", (0, 255, 0)), ("navy", (0, 0, 128)),
                                         ("RebeccaPurple", (102, 51, 153))])
def test_colours_as_short_hex_long_hex_and_css_names(client, store, photo, colour, rgb):
    response = upload(client, API, image=photo, background=colour, format="png")
    assert response.status_code == 200, response.data[:300]
    result = np.asarray(decode(response.data)).astype(int)
    alpha = np.asarray(decode(store.read_file(response.headers["X-Job-Id"], f"alpha-{DEFAULT_MODEL}.png")))
    assert result.shape == (320, 240, 3) and np.abs(np.median(result[alpha == 0], axis=0) - rgb).max() <= 1
    assert store.load(response.headers["X-Job-Id"])["settings"]["background"] == "#{:02x}{:02x}{:02x}".format(*rgb)


def test_image_background_from_a_second_file(client, photo):
    green = np.zeros((50, 80, 3), np.uint8)
    green[:] = (20, 200, 40)
    response = client.post(API, content_type="multipart/form-data", data={
        "image": (io.BytesIO(photo), "me.jpg", "image/jpeg"), "background": "image",
        "background_image": (io.BytesIO(encode(green, "PNG")), "beach.png", "image/png"), "format": "png"})
    assert response.status_code == 200, response.data[:300]
    result = np.asarray(decode(response.data)).astype(int)
    assert result.shape == (320, 240, 3) and np.abs(result[2, 2] - (20, 200, 40)).max() <= 2  # a corner is background
    missing = upload(client, API, image=photo, background="image")
    assert missing.status_code == 400 and missing.json["error"]["field"] == "background_image"


def test_crop_to_the_subject_with_a_margin_and_max_side(client, store, photo):
    alpha = None
    sizes = {}
    for fields in ({}, {"crop": "subject", "margin": "0"}, {"crop": "subject"}, {"crop": "subject", "margin": "0.2"}):
        response = upload(client, API, image=photo, **fields)
        assert response.status_code == 200, response.data[:300]
        sizes[fields.get("margin", "default" if fields else "none")] = decode(response.data).size
        alpha = np.asarray(decode(store.read_file(response.headers["X-Job-Id"], f"mask-{DEFAULT_MODEL}.png")))
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    tight = (cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0])
    assert sizes["none"] == (240, 320) and sizes["0"] == tight
    assert sizes["0"] < sizes["default"] <= sizes["0.2"] <= (240, 320)  # tuples: compared by width first
    small = upload(client, API, image=photo, max_side="100", background="#fff", format="jpg")
    assert decode(small.data).size == (75, 100)
    assert store.load(small.headers["X-Job-Id"])["settings"]["framing"] == {"crop_margin": None, "max_side": 100}
    mask = upload(client, API, image=photo, output="mask", crop="subject", margin="0", max_side="64")
    values = np.asarray(decode(mask.data))
    assert max(values.shape) == 64 and set(np.unique(values)) <= {0, 255}


@pytest.mark.parametrize("fields, field", [
    ({"crop": "face"}, "crop"), ({"crop": "subject", "margin": "2"}, "margin"), ({"margin": "0.1"}, "margin"),
    ({"crop": "subject", "margin": "nan"}, "margin"), ({"max_side": "10"}, "max_side"),
    ({"max_side": "1.5"}, "max_side"), ({"background": "#ggg"}, "background"),
    ({"background": "not-a-colour"}, "background")])
def test_bad_framing_and_colours_are_422_naming_the_field(client, store, photo, fields, field):
    response = upload(client, API, image=photo, **fields)
    assert response.status_code == 422 and response.json["error"]["field"] == field, response.json
    assert not list(store.jobs_dir.iterdir())  # nothing stored


def test_renders_of_a_stored_job(client, store, photo):
    job_id = upload(client, API, image=photo, background="#ff0000", format="jpg").headers["X-Job-Id"]
    again = client.post(f"/api/v1/jobs/{job_id}/renders", data={"model": OTHER_MODEL, "background": "blur",
                                                               "format": "webp"})
    assert again.status_code == 200 and again.mimetype == "image/webp"
    assert again.headers["X-Job-Id"] == job_id and again.headers["X-Render-Id"] == "2"
    assert again.headers["X-Model"] == OTHER_MODEL and decode(again.data).size == (240, 320)
    cutout = client.post(f"/api/v1/jobs/{job_id}/renders", data={})  # the defaults: the default model, transparent PNG
    assert cutout.headers["X-Render-Id"] == "3" and decode(cutout.data).mode == "RGBA"
    mask = client.post(f"/api/v1/jobs/{job_id}/renders", data={"output": "mask"})
    assert mask.status_code == 200 and "X-Render-Id" not in mask.headers
    listed = client.get(f"/api/v1/jobs/{job_id}").json["renders"]
    assert [(r["n"], r["model"], r["background"]) for r in listed] == [
        (1, DEFAULT_MODEL, "#ff0000"), (2, OTHER_MODEL, "blur"), (3, DEFAULT_MODEL, "transparent")]
    assert [r["file"] for r in listed] == ["result-1.jpg", "result-2.webp", f"cutout-{DEFAULT_MODEL}.png"]
    assert client.get(f"/jobs/{job_id}/files/result-2.webp").data == again.data


def test_renders_take_an_image_background_and_framing_like_remove_background(client, photo):
    job_id = upload(client, API, image=photo, format="jpg").headers["X-Job-Id"]
    green = np.zeros((50, 80, 3), np.uint8)
    green[:] = (20, 200, 40)
    response = client.post(f"/api/v1/jobs/{job_id}/renders", content_type="multipart/form-data", data={
        "background": "image", "background_image": (io.BytesIO(encode(green, "PNG")), "beach.png", "image/png"),
        "format": "png", "max_side": "100"})
    assert response.status_code == 200, response.data[:300]
    result = np.asarray(decode(response.data)).astype(int)
    assert result.shape == (100, 75, 3) and np.abs(result[1, 1] - (20, 200, 40)).max() <= 2
    listed = client.get(f"/api/v1/jobs/{job_id}").json["renders"]
    assert [(r["n"], r["background"], r.get("background_file")) for r in listed] == [
        (1, "transparent", None), (2, "image", "bg-2.png")]


def test_renders_refuse_bad_fields_and_unknown_jobs(client, photo):
    job_id = upload(client, API, image=photo).headers["X-Job-Id"]
    bad = client.post(f"/api/v1/jobs/{job_id}/renders", data={"model": "resnet"})
    assert bad.status_code == 422 and bad.json["error"]["field"] == "model"
    image = client.post(f"/api/v1/jobs/{job_id}/renders", data={"background": "image"})  # but no picture
    assert image.status_code == 400 and image.json["error"]["field"] == "background_image"
    crop = client.post(f"/api/v1/jobs/{job_id}/renders", data={"crop": "face"})
    assert crop.status_code == 422 and crop.json["error"]["field"] == "crop"
    assert client.post(f"/api/v1/jobs/{'0' * 32}/renders", data={}).status_code == 404
    assert client.post("/api/v1/jobs/nope/renders", data={}).status_code == 404
    assert len(client.get(f"/api/v1/jobs/{job_id}").json["renders"]) == 1
