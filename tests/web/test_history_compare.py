"""History (listing, pagination, delete) and the model comparison page."""
from __future__ import annotations

import io
import re

import numpy as np

from ml import metrics
from ml.catalogue import DEFAULT_MODEL

from .conftest import decode, encode, job_id_from, portrait, upload


def test_history_lists_newest_first_with_thumbnails_and_pages(app, client, photo):
    app.config["JOBS_PER_PAGE"] = 2
    ids = [job_id_from(upload(client, image=photo, filename=f"p{i}.jpg").headers["Location"]) for i in range(3)]
    first = client.get("/history").get_data(as_text=True)
    assert "3 jobs" in first and "Page 1 of 2" in first
    assert first.index(ids[2]) < first.index(ids[1]) and ids[0] not in first
    # The (transparent) result's thumbnail, whole, on the checkerboard, in a link named after the photo.
    item = re.search(r'<a href="/jobs/%s" class="history-link">(.*?)</a>' % ids[2], first, re.S).group(1)
    assert re.search(r'<img src="/jobs/%s/files/cutout-%s-thumb.webp" alt="" loading="lazy" class="checkerboard">'
                     % (ids[2], DEFAULT_MODEL), item)
    assert re.search(r'<span class="history-title">p2.jpg</span>', item)
    thumb = decode(client.get(f"/jobs/{ids[2]}/files/cutout-{DEFAULT_MODEL}-thumb.webp").data)
    assert max(thumb.size) <= 360
    second = client.get("/history?page=2").get_data(as_text=True)
    assert ids[0] in second and ids[2] not in second
    assert client.get("/history?page=abc").status_code == 200


def test_history_delete(client, store, photo):
    job_id = job_id_from(upload(client, image=photo).headers["Location"])
    response = client.post(f"/jobs/{job_id}/delete", data={"page": "1"})
    assert response.status_code == 303 and response.headers["Location"] == "/history?page=1"
    assert not (store.jobs_dir / job_id).exists()
    assert "No jobs yet" in client.get("/history").get_data(as_text=True)
    assert client.post(f"/jobs/{job_id}/delete").status_code == 404
    assert client.get(f"/jobs/{job_id}/delete").status_code == 405


def test_delete_the_ticked_jobs_at_once(client, store, photo):
    ids = [job_id_from(upload(client, image=photo).headers["Location"]) for _ in range(3)]
    nothing = client.post("/history/delete", data={"page": "1"})
    assert nothing.status_code == 400 and "No job was ticked" in nothing.get_data(as_text=True)
    assert all((store.jobs_dir / job_id).exists() for job_id in ids)
    gone = "0" * 32  # ticked, but deleted meanwhile (another tab): skipped
    response = client.post("/history/delete", data={"job": [ids[0], ids[2], gone], "page": "1"})
    assert response.status_code == 303 and response.headers["Location"] == "/history?page=1"
    assert [(store.jobs_dir / job_id).exists() for job_id in ids] == [False, True, False]


def test_compare_runs_both_models_and_scores_against_the_truth(client, store, photo):
    truth = np.zeros((320, 240), np.uint8)
    truth[70:, 20:220] = 255
    response = client.post("/compare", content_type="multipart/form-data", data={
        "image": (io.BytesIO(photo), "p.jpg", "image/jpeg"),
        "truth": (io.BytesIO(encode(truth, "PNG")), "t.png", "image/png")})
    assert response.status_code == 303 and response.headers["Location"].endswith("/compare")
    job_id = job_id_from(response.headers["Location"])
    record = store.load(job_id)
    assert set(record["masks"]) == {"sinet", "mobile-unet"} and record["renders"] == []
    masks = {name: np.asarray(decode(store.read_file(job_id, f"mask-{name}.png"))) for name in record["masks"]}
    comparison = record["comparison"]
    assert comparison["disagreement"] == round(float(np.mean((masks["sinet"] > 127) != (masks["mobile-unet"] > 127))), 4)
    assert comparison["iou_between"] == round(metrics.iou(masks["sinet"], masks["mobile-unet"]), 4)
    for name, mask in masks.items():
        assert comparison["scores"][name]["iou"] == round(metrics.iou(mask, truth), 4)
        assert comparison["scores"][name]["boundary_f"] == round(metrics.boundary_f(mask, truth), 4)
    diff = np.asarray(decode(store.read_file(job_id, "diff.png")))
    assert diff.shape == (320, 240, 3)
    only_sinet = (masks["sinet"] > 127) & (masks["mobile-unet"] <= 127)
    assert np.all(diff[only_sinet] == [255, 140, 0])
    page = client.get(f"/jobs/{job_id}/compare").get_data(as_text=True)
    assert "IoU vs truth" in page and "Boundary F vs truth" in page and "diff.png" in page
    assert client.get(f"/jobs/{job_id}").headers["Location"] == f"/jobs/{job_id}/compare"


def test_one_upload_never_reads_back_the_mattes_it_made(client, store, photo, monkeypatch):
    """Within a request a matte goes from the model to the files, never from disk back to memory."""
    def refuse(data: bytes) -> np.ndarray:
        raise AssertionError("a stored mask was decoded within the request that made it")
    monkeypatch.setattr("webapp.runner.decode_mask", refuse)
    response = client.post("/compare", content_type="multipart/form-data",
                           data={"image": (io.BytesIO(photo), "p.jpg", "image/jpeg")})
    assert response.status_code == 303
    assert set(store.load(job_id_from(response.headers["Location"]))["masks"]) == {"sinet", "mobile-unet"}
    framed = upload(client, "/api/v1/remove-background", image=photo, output="mask", max_side="64")
    assert framed.status_code == 200


def test_compare_without_truth_and_from_a_result(client, store, photo):
    job_id = job_id_from(upload(client, image=encode(portrait(seed=3)), model="sinet").headers["Location"])
    page = client.get(f"/jobs/{job_id}/compare").get_data(as_text=True)
    assert "Run Mobile-UNet" in page and "IoU vs truth" not in page
    response = client.post(f"/jobs/{job_id}/model", data={"model": "mobile-unet", "next": "compare"})
    assert response.headers["Location"] == f"/jobs/{job_id}/compare"
    record = store.load(job_id)
    assert record["comparison"]["scores"] is None and len(record["renders"]) == 1
    page = client.get(f"/jobs/{job_id}/compare").get_data(as_text=True)
    assert "Where they disagree" in page and "Run Mobile-UNet" not in page and "ground-truth mask" in page
