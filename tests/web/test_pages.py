"""The upload and result pages through Flask's test client: uploads, renders, re-runs and files."""
from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest

from ml.catalogue import DEFAULT_MODEL
from ml.imageio import load_image
from ml.previews import PREVIEW_SIDE, THUMB_SIDE
from webapp import create_app
from webapp.runner import Picture

from .conftest import decode, encode, job_id_from, portrait, upload

JOB_URL = re.compile(r"^/jobs/([0-9a-f]{32})\?render=(\d+)$")


def create(client, photo, **fields):
    response = upload(client, image=photo, **{"model": "sinet", "background": "color", "color": "#438edb", **fields})
    assert response.status_code == 303, response.data[:300]
    match = JOB_URL.match(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def get_file(client, job_id: str, name: str):
    response = client.get(f"/jobs/{job_id}/files/{name}")
    assert response.status_code == 200, name
    return response


def test_upload_page_offers_models_backgrounds_and_local_jquery(client):
    page = client.get("/").get_data(as_text=True)
    for text in (f'value="{DEFAULT_MODEL}" checked', 'value="sinet"', 'value="mobile-unet"', 'name="background" value="color" checked',
                 'value="transparent"', 'value="blur"', 'value="image"', 'type="color"', 'name="color"',
                 'data-colour="#ffffff"', 'data-colour="#438edb"', 'type="reset"', 'type="submit"'):
        assert text in page, text
    jquery = client.get("/static/vendor/jquery/jquery.min.js")
    assert jquery.status_code == 200 and b"jQuery" in jquery.data[:500]
    assert "/static/vendor/jquery/jquery.min.js" in page
    # Every script, style sheet and image comes from this server: no CDN, no other host. (Matching "cdn"
    # anywhere in the page failed when a random CSRF token happened to hold those letters.)
    assets = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert assets and all(url.startswith(("/", "#", "?")) and not url.startswith("//") for url in assets), assets


def test_upload_colour_background_end_to_end(client, store, photo):
    job_id = create(client, photo)
    page = client.get(f"/jobs/{job_id}?render=1").get_data(as_text=True)
    assert "SINet" in page and "input.jpg" in page and "result-1.jpg" in page and "data-before-after" in page
    record = store.load(job_id)
    assert record["original"]["width"] == 240 and record["original"]["height"] == 320
    assert record["masks"]["sinet"]["timings_ms"]["total"] > 0
    assert get_file(client, job_id, "original.jpg").data == photo  # stored exactly as uploaded
    result = np.asarray(decode(get_file(client, job_id, "result-1.jpg").data)).astype(int)
    mask = np.asarray(decode(get_file(client, job_id, "mask-sinet.png").data))
    alpha = np.asarray(decode(get_file(client, job_id, "alpha-sinet.png").data))
    assert result.shape == (320, 240, 3) and mask.shape == alpha.shape == (320, 240)
    assert set(np.unique(mask)) <= {0, 255}
    # Wherever the matte is fully transparent the new colour shows, within JPEG's error.
    assert (alpha == 0).any()
    assert np.abs(np.median(result[alpha == 0], axis=0) - [0x43, 0x8E, 0xDB]).max() <= 4


def test_ajax_upload_gets_the_job_address_as_json(client, photo):
    response = upload(client, image=photo, json=True, model="mobile-unet", background="blur")
    assert response.status_code == 201
    assert JOB_URL.match(response.json["url"]) and response.json["id"] in response.json["url"]


def test_transparent_shows_the_cutout_and_jpg_gets_white(client, store, photo):
    job_id = create(client, photo, background="transparent")
    render = store.load(job_id)["renders"][0]
    assert render["preview"] == "cutout-sinet-preview.webp" and render["file"].endswith(".jpg")
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    shown = re.search(r'<img src="([^"]+)" alt="Result[^"]*" data-result\s+class="checkerboard"', page)
    assert shown and shown.group(1) == f"/jobs/{job_id}/files/cutout-sinet-preview.webp"
    preview = decode(get_file(client, job_id, render["preview"]).data)
    assert preview.format == "WEBP" and preview.mode == "RGBA" and preview.size == (240, 320)
    cutout = decode(get_file(client, job_id, "cutout-sinet.png").data)
    alpha = np.asarray(decode(get_file(client, job_id, "alpha-sinet.png").data))
    assert cutout.mode == "RGBA" and np.array_equal(np.asarray(cutout)[:, :, 3], alpha)
    white = np.asarray(decode(get_file(client, job_id, render["file"]).data)).astype(int)
    assert np.abs(np.median(white[alpha == 0], axis=0) - 255).max() <= 3


def test_blur_and_image_backgrounds(client, store, photo):
    blur_id = create(client, photo, background="blur")
    original = np.asarray(decode(photo)).astype(int)
    blurred = np.asarray(decode(get_file(client, blur_id, "result-1.jpg").data)).astype(int)
    alpha = np.asarray(decode(get_file(client, blur_id, "alpha-sinet.png").data))
    background = alpha == 0
    # Blur removes the backdrop's noise: neighbouring pixels differ much less than in the photo.
    assert np.abs(np.diff(blurred, axis=1))[background[:, 1:]].mean() < 0.5 * np.abs(np.diff(original, axis=1))[background[:, 1:]].mean()

    red = encode(np.full((60, 80, 3), (200, 20, 20), np.uint8), "PNG")
    response = client.post("/jobs", content_type="multipart/form-data", data={
        "image": (io.BytesIO(photo), "p.jpg", "image/jpeg"), "background": "image",
        "background_image": (io.BytesIO(red), "red.png", "image/png")})  # and the default model
    assert response.status_code == 303
    job_id = job_id_from(response.headers["Location"])
    render = store.load(job_id)["renders"][0]
    assert render["background"] == "image" and render["background_file"] == "bg-1.png"
    assert get_file(client, job_id, "bg-1.png").data == red
    result = np.asarray(decode(get_file(client, job_id, "result-1.jpg").data)).astype(int)
    alpha = np.asarray(decode(get_file(client, job_id, f"alpha-{DEFAULT_MODEL}.png").data))
    assert np.abs(np.median(result[alpha == 0], axis=0) - [200, 20, 20]).max() <= 4


def test_other_model_reuses_the_stored_upload(client, store, photo):
    job_id = create(client, photo)
    before = store.load(job_id)
    response = client.post(f"/jobs/{job_id}/model", data={"model": "mobile-unet", "render": "1"})
    assert response.status_code == 303 and response.headers["Location"] == f"/jobs/{job_id}?render=2"
    after = store.load(job_id)
    assert after["original"] == before["original"] and after["masks"]["sinet"] == before["masks"]["sinet"]
    assert after["renders"][1]["model"] == "mobile-unet" and after["renders"][1]["background"] == "#438edb"
    assert set(after["masks"]) == {"sinet", "mobile-unet"}
    page = client.get(f"/jobs/{job_id}?render=2").get_data(as_text=True)
    assert "Mobile-UNet" in page and "Try the other model (SINet)" in page


def test_change_background_reuses_the_stored_mask(client, store, photo):
    job_id = create(client, photo)
    alpha_before = get_file(client, job_id, "alpha-sinet.png").data
    mask_record = store.load(job_id)["masks"]["sinet"]
    response = client.post(f"/jobs/{job_id}/background", data={"model": "sinet", "background": "color",
                                                                "color": "#2e7d32"})
    assert response.status_code == 303 and response.headers["Location"].endswith("?render=2")
    record = store.load(job_id)
    assert record["masks"]["sinet"] == mask_record  # not segmented again
    assert get_file(client, job_id, "alpha-sinet.png").data == alpha_before
    green = np.asarray(decode(get_file(client, job_id, "result-2.jpg").data)).astype(int)
    alpha = np.asarray(decode(alpha_before))
    assert np.abs(np.median(green[alpha == 0], axis=0) - [0x2E, 0x7D, 0x32]).max() <= 4
    # The first render is still there and still blue.
    assert get_file(client, job_id, "result-1.jpg").data
    page = client.get(f"/jobs/{job_id}?render=1").get_data(as_text=True)
    assert "#438edb" in page and "Versions" in page


def test_files_are_served_with_their_recorded_type_and_nothing_else(client, store, photo):
    job_id = create(client, photo)
    response = client.get(f"/jobs/{job_id}/files/cutout-sinet.png?download=1")
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert client.get(f"/jobs/{job_id}/files/result-1.jpg").mimetype == "image/jpeg"
    for name in ("job.json", "..%2Fjob.json", "nothing.png", "mask-mobile-unet.png", "cutout-mobile-unet.png"):
        assert client.get(f"/jobs/{job_id}/files/{name}").status_code == 404, name
    assert client.get("/jobs/../../etc/passwd").status_code == 404


def test_unknown_or_malformed_job_ids_are_404_pages(client):
    for job_id in ("0" * 32, "nope", "A" * 32, "0" * 31):
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 404
        assert b"Not found" in response.data and b"Traceback" not in response.data


def test_unknown_render_number_shows_the_latest(client, photo):
    job_id = create(client, photo)
    assert client.get(f"/jobs/{job_id}?render=99").status_code == 200


def test_pages_have_no_inline_script_or_style(client, photo):
    """Issue 6 adds a strict CSP: every script is a file, no handlers or styles in the markup."""
    job_id = create(client, photo)
    client.post(f"/jobs/{job_id}/model", data={"model": "mobile-unet"})
    for path in ("/", "/compare", "/history", f"/jobs/{job_id}", f"/jobs/{job_id}/compare", "/jobs/" + "0" * 32):
        html = client.get(path).get_data(as_text=True)
        assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html)), path
        assert not re.search(r"\sstyle=|\son[a-z]+=", html), path
        assert "<style" not in html, path


def test_cutout_is_made_on_first_download_then_kept(client, store, photo):
    job_id = create(client, photo)
    assert "cutout-sinet.png" not in store.load(job_id)["files"]  # a colour upload does not pay for it
    first = get_file(client, job_id, "cutout-sinet.png")
    record = store.load(job_id)
    assert "cutout-sinet.png" in record["files"] and record["masks"]["sinet"]["timings_ms"]["cutout"] > 0
    assert decode(first.data).mode == "RGBA" and get_file(client, job_id, "cutout-sinet.png").data == first.data


def test_a_job_made_elsewhere_gets_a_page_of_its_files(client, app, photo):
    """Other areas (ID photos) store jobs without renders or masks; their page lists the files."""
    jobs = app.extensions["backdrop"]
    record = jobs.start(Picture(photo, load_image(photo), "me.jpg"), "elsewhere", {})
    jobs.attach(record, "special", {"file": "special.jpg"}, {"special.jpg": (photo, "image/jpeg")})
    page = client.get(f"/jobs/{record['id']}").get_data(as_text=True)
    assert "special.jpg" in page and "input.jpg" in page and "me.jpg" in page
    app.config["SHARED_HISTORY"] = True  # it has no owner: made outside any request
    assert f"/jobs/{record['id']}" in client.get("/history").get_data(as_text=True)
    assert not re.search(r"\sstyle=|\son[a-z]+=|<script>", page)


@pytest.mark.parametrize("default", [True, False])
def test_upload_page_matting_box_follows_the_setting_and_reaches_the_job(data_dir, form_client_class, photo, default):
    from webapp import create_app

    app = create_app({"DATA_DIR": data_dir, "MATTING": default, "TESTING": True})
    app.test_client_class = form_client_class
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    box = re.search(r'<input type="checkbox" name="matting"[^>]*>', page)
    assert box and ("checked" in box.group(0)) is default
    store = app.extensions["backdrop"].store
    assert store.load(create(client, photo, matting="off"))["settings"]["matting"] is False
    assert store.load(create(client, photo, matting=["off", "on"]))["settings"]["matting"] is True


def test_pages_show_previews_and_downloads_are_full_size(tmp_path, form_client_class):
    """A photo larger than a preview: the page's pictures are the 1600 px previews made with the job,
    the download links the full-size files."""
    app = create_app({"DATA_DIR": tmp_path / "data", "TESTING": True, "MAX_UPLOAD_MB": 10, "MAX_PIXELS": 5_000_000})
    app.test_client_class = form_client_class
    client = app.test_client()
    job_id = create(client, encode(portrait(1800, 1350)))
    store = app.extensions["backdrop"].store
    render = store.load(job_id)["renders"][0]
    sizes = {name: decode(store.read_file(job_id, name)).size
             for name in ("input.jpg", "thumb.jpg", render["preview"], render["thumb"], render["file"])}
    assert sizes["input.jpg"] == sizes[render["preview"]] == (1200, PREVIEW_SIDE)
    assert sizes["thumb.jpg"] == sizes[render["thumb"]] == (270, THUMB_SIDE)
    assert sizes[render["file"]] == (1350, 1800)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    shown = set(re.findall(r'<img src="/jobs/[0-9a-f]{32}/files/([^"]+)"', page))
    assert shown == {"input.jpg", render["preview"]}
    downloads = set(re.findall(r'href="/jobs/[0-9a-f]{32}/files/([^"?]+)\?download=1"', page))
    assert downloads == {"cutout-sinet.png", render["file"], "mask-sinet.png"}


def test_one_zip_of_several_results(client, photo):
    cutout = create(client, photo, background="transparent")
    blue = create(client, photo)
    response = client.get(f"/batch.zip?job={cutout}&job={blue}&job={cutout}")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment")
    bundle = zipfile.ZipFile(io.BytesIO(response.data))
    names = bundle.namelist()
    assert names == [f"photo-{cutout[:8]}.png", f"photo-{blue[:8]}.jpg"]  # once each, named after the photo
    assert bundle.read(names[0]) == get_file(client, cutout, "cutout-sinet.png").data  # full size, as stored
    assert bundle.read(names[1]) == get_file(client, blue, "result-1.jpg").data
    assert client.get("/batch.zip").status_code == 400
    assert client.get(f"/batch.zip?job={blue}&job={'0' * 32}").status_code == 404
