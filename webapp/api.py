"""JSON/binary API under /api/v1 (documented in docs/api.md). Errors are JSON:
``{"error": {"status": 422, "message": "...", "field": "model"}}``.
"""
from __future__ import annotations

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, url_for

from ml.imageio import MIME_TYPES, encode_image

from webapp import owners
from webapp.forms import background_field, format_field, model_field, output_field, read_upload
from webapp.pipeline import decode_grey_png
from webapp.views import runner

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.post("/remove-background")
def remove_background():
    """One photo in, one image out (cutout/composite or mask) in the asked format; stored as a job."""
    jobs = runner()
    picture = read_upload("image")
    model, spec, fmt, output = model_field(jobs.models), background_field(allow_image=False), format_field(), output_field()
    record = jobs.start(picture, "api", {"model": model, "background": spec, "format": fmt, "output": output},
                        owners.caller())
    with jobs.cleanup_on_error(record):
        return _result(record, model, spec, fmt, output, picture.rgb)


@bp.post("/jobs/<job_id>/renders")
def add_render(job_id: str):
    """A stored job again, with another model, background or format: no new upload. Answered like
    remove-background, with the new render's number; concurrent calls each get their own."""
    jobs = runner()
    record = jobs.store.load(job_id)
    model, spec, fmt, output = model_field(jobs.models), background_field(allow_image=False), format_field(), output_field()
    return _result(record, model, spec, fmt, output)


def _result(record: dict, model: str, spec: str, fmt: str, output: str, rgb: np.ndarray | None = None) -> Response:
    """The image a request asked for (a new render, or the model's mask), with the job's headers."""
    jobs = runner()
    headers = {"X-Job-Id": record["id"], "X-Model": model}
    if output == "mask":
        jobs.ensure_mask(record, model, rgb)
        data = jobs.store.read_file(record["id"], record["masks"][model]["mask"])
        if fmt != "png":
            data = encode_image(np.repeat(decode_grey_png(data)[:, :, None], 3, axis=2), fmt)
    else:
        render = jobs.render(record, model, spec, rgb=rgb, fmt=fmt)
        data = jobs.store.read_file(record["id"], render["file"])
        headers["X-Render-Id"] = str(render["n"])
    headers.update({"X-Inference-Ms": f"{record['masks'][model]['timings_ms']['total']:.1f}",
                    "Content-Disposition": f'inline; filename="backdrop-{record["id"][:8]}-{output}.{fmt}"'})
    response = Response(data, mimetype=MIME_TYPES[fmt])
    response.headers.update(headers)
    return response


@bp.get("/models")
def models():
    return jsonify({"default": current_app.config["DEFAULT_MODEL"], "models": runner().models.describe()})


def _job_json(record: dict) -> dict:
    links = {name: url_for("pages.job_file", job_id=record["id"], name=name, _external=True)
             for name in record["files"]}
    shown = {key: value for key, value in record.items() if key != "owner"}
    return shown | {"links": links, "page": url_for("pages.job", job_id=record["id"], _external=True)}


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    return jsonify(_job_json(runner().store.load(job_id)))


@bp.delete("/jobs/<job_id>")
def delete_job(job_id: str):
    store = runner().store
    owners.check_may_delete(store.owner(job_id))
    store.delete(job_id)
    return "", 204
