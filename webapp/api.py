"""JSON/binary API under /api/v1 (documented in docs/api.md). Errors are JSON:
``{"error": {"status": 422, "message": "...", "field": "model"}}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, url_for

from ml.compose import Framing
from ml.imageio import MIME_TYPES

from webapp import owners
from webapp.forms import (background_field, format_field, framing_fields, matting_field, model_field, output_field,
                          read_upload)
from webapp.runner import ChosenBackground
from webapp.template_helpers import runner

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@dataclass(frozen=True)
class Asked:
    """What a request asks for (remove-background and renders take the same fields), all checked."""

    model: str
    background: ChosenBackground
    fmt: str
    output: str
    framing: Framing
    matting: bool

    def settings(self) -> dict[str, Any]:
        settings = {"model": self.model, "background": self.background.spec, "format": self.fmt,
                    "output": self.output, "matting": self.matting}
        if not self.framing.whole:
            settings["framing"] = {"crop_margin": self.framing.crop_margin, "max_side": self.framing.max_side}
        return settings


def _asked() -> Asked:
    """Every field read and checked before anything is stored, so a refused request changes nothing."""
    jobs = runner()
    return Asked(model_field(jobs.models), background_field(), format_field(), output_field(), framing_fields(),
                 matting_field())


@bp.post("/remove-background")
def remove_background():
    """One photo in, one image out (cutout/composite or mask) in the asked format; stored as a job."""
    jobs = runner()
    picture = read_upload("image")
    asked = _asked()
    record = jobs.start(picture, "api", asked.settings(), owners.caller())
    with jobs.cleanup_on_error(record):
        return _result(record, asked, picture.rgb)


@bp.post("/jobs/<job_id>/renders")
def add_render(job_id: str):
    """A stored job again, with another model, background, format or framing: no new upload of the
    photo. Answered like remove-background, with the new render's number; concurrent calls each get
    their own."""
    record = runner().store.load(job_id)
    return _result(record, _asked())


def _result(record: dict, asked: Asked, rgb: np.ndarray | None = None) -> Response:
    """The image a request asked for (a new render, or the model's mask), with the job's headers."""
    jobs = runner()
    model, fmt, output = asked.model, asked.fmt, asked.output
    headers = {"X-Job-Id": record["id"], "X-Model": model}
    if output == "mask":
        made = jobs.ensure_mask(record, model, rgb)
        data = jobs.mask_file(record, model, fmt, asked.framing, made.hard if made else None)
    else:
        render = jobs.render(record, model, asked.background, rgb=rgb, fmt=fmt, framing=asked.framing)
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
