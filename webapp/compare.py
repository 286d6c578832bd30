"""Model comparison: one photo through every model, where they disagree, and (given a ground-truth
mask) each model's IoU and boundary F."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, url_for

from webapp import owners
from webapp.errors import describe, wants_json
from webapp.forms import read_upload
from webapp.pages import USER_ERRORS
from webapp.template_helpers import form_context, runner

bp = Blueprint("compare", __name__)


@bp.get("/compare")
def form():
    return render_template("compare.html", error=None, **form_context())


@bp.post("/compare")
def create():
    jobs = runner()
    try:
        picture = read_upload("image")
        truth = read_upload("truth", required=False)
        record = jobs.start_compare(picture, truth, owners.caller())
    except USER_ERRORS as exc:
        if wants_json():
            raise
        info = describe(exc)
        return render_template("compare.html", error=info, **form_context()), info.status
    url = url_for("compare.view", job_id=record["id"])
    if wants_json():
        return jsonify({"id": record["id"], "url": url}), 201
    return redirect(url, 303)


@bp.get("/jobs/<job_id>/compare")
def view(job_id: str):
    jobs = runner()
    record = jobs.store.load(job_id)
    missing = [name for name in jobs.models.names if name not in record["masks"]]
    return render_template("compare_result.html", job=record, models=jobs.models.names, missing=missing)
