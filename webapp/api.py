"""JSON/binary API under /api/v1 (documented in docs/api.md). Errors are JSON:
``{"error": {"status": 422, "message": "...", "field": "model"}}``.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, url_for

from ml.imageio import MIME_TYPES

from webapp.forms import background_field, format_field, framing_fields, model_field, output_field, read_upload
from webapp.views import runner

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.post("/remove-background")
def remove_background():
    """One photo in, one image out (cutout/composite or mask) in the asked format; stored as a job.

    Every field is read and checked before anything is stored, so a refused request leaves no job.
    """
    jobs = runner()
    picture = read_upload("image")
    model = model_field(jobs.models)
    spec = background_field()
    background = read_upload("background_image") if spec == "image" else None
    fmt = format_field()
    output = output_field()
    framing = framing_fields()
    settings = {"model": model, "background": spec, "format": fmt, "output": output}
    if not framing.whole:
        settings["framing"] = {"crop_margin": framing.crop_margin, "max_side": framing.max_side}
    record = jobs.start(picture, "api", settings)
    with jobs.cleanup_on_error(record):
        if output == "mask":
            jobs.ensure_mask(record, model, picture.rgb)
            data = jobs.mask_file(record, model, fmt, framing)
        else:
            name = jobs.render(record, model, spec, background, rgb=picture.rgb, fmt=fmt, framing=framing)["file"]
            data = jobs.store.read_file(record["id"], name)
    inference_ms = record["masks"][model]["timings_ms"]["total"]
    response = Response(data, mimetype=MIME_TYPES[fmt])
    response.headers.update({
        "X-Job-Id": record["id"], "X-Model": model, "X-Inference-Ms": f"{inference_ms:.1f}",
        "Content-Disposition": f'inline; filename="backdrop-{record["id"][:8]}-{output}.{fmt}"',
    })
    return response


@bp.get("/models")
def models():
    return jsonify({"default": current_app.config["DEFAULT_MODEL"], "models": runner().models.describe()})


def _job_json(record: dict) -> dict:
    links = {name: url_for("pages.job_file", job_id=record["id"], name=name, _external=True)
             for name in record["files"]}
    return record | {"links": links, "page": url_for("pages.job", job_id=record["id"], _external=True)}


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    return jsonify(_job_json(runner().store.load(job_id)))


@bp.delete("/jobs/<job_id>")
def delete_job(job_id: str):
    runner().store.delete(job_id)
    return "", 204
