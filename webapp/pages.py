"""The upload page, the result page and the job's files.

Forms post normally (they work without JavaScript); the upload script posts the same form with
``Accept: application/json`` and gets the job's address or the error as JSON instead of a page.
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from ml.colour import SWATCHES
from ml.errors import BackdropError

from webapp import owners
from webapp.errors import FieldError, describe, wants_json
from webapp.forms import background_field, matting_field, model_field, read_upload
from webapp.security import rate_limited
from webapp.template_helpers import file_url, form_context, runner

bp = Blueprint("pages", __name__)

USER_ERRORS = (BackdropError, RequestEntityTooLarge)
# Jobs one zip may gather: each takes 37 bytes of the address ("job=<id>&"), and gunicorn refuses
# request lines longer than its limit_request_line (gunicorn.conf.py; 4094 bytes when run without
# it), so 100 is what fits with room to spare.
ZIP_MAX_JOBS = 100


@bp.get("/")
def index():
    return render_template("upload.html", error=None, **form_context())


@bp.post("/jobs")
def create_job():
    """Upload -> job -> first render. Every field is checked before anything is stored."""
    jobs = runner()
    try:
        picture = read_upload("image")
        model = model_field(jobs.models)
        chosen = background_field()
        matting = matting_field()
    except USER_ERRORS as exc:
        if wants_json():
            raise
        info = describe(exc)
        return render_template("upload.html", error=info, **form_context()), info.status
    settings = {"model": model, "background": chosen.spec, "matting": matting}
    record = jobs.start(picture, "page", settings, owners.caller())
    with jobs.cleanup_on_error(record):
        render = jobs.render(record, model, chosen, rgb=picture.rgb)
    url = url_for("pages.job", job_id=record["id"], render=render["n"])
    if wants_json():  # the batch list shows each result's thumbnail as it finishes
        return jsonify({"id": record["id"], "url": url, "thumb": file_url(record["id"], render["thumb"])}), 201
    return redirect(url, 303)


def _render_number(record: dict[str, Any]) -> int:
    number = request.args.get("render", type=int)
    numbers = [r["n"] for r in record["renders"]]
    return number if number in numbers else numbers[-1]


def _result_page(record: dict[str, Any], number: int, error=None, status: int = 200):
    render = next(r for r in record["renders"] if r["n"] == number)
    kind, colour = (("color", render["background"]) if render["background"].startswith("#")
                    else (render["background"], "#ffffff"))
    page = render_template("result.html", job=record, render=render, mask=record["masks"][render["model"]],
                           other_model=runner().models.other(render["model"]), presets=SWATCHES,
                           picker_kind=kind, picker_colour=colour, error=error)
    return page, status


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    """A job's page: its result when it has renders, the comparison when it only has masks, and
    the ID-photo page for ID photos, and otherwise the list of its files."""
    record = runner().store.load(job_id)
    if "idphoto" in record:
        return redirect(url_for("idphoto.page", job=job_id))
    if record["renders"]:
        return _result_page(record, _render_number(record))
    if record["masks"]:
        return redirect(url_for("compare.view", job_id=job_id))
    return render_template("job_files.html", job=record)


@bp.get("/jobs/<job_id>/files/<name>")
def job_file(job_id: str, name: str):
    """A file the job's record lists, with the content type recorded when it was written.

    A model's cutout is the one file made on first request (see ``JobRunner.ensure_cutout``).
    """
    jobs = runner()
    record = jobs.store.load(job_id)
    model = next((m for m in record["masks"] if record["masks"][m]["cutout"] == name), None)
    if model is not None and name not in record["files"]:
        jobs.ensure_cutout(record, model)
    handle = jobs.store.open_file(job_id, name)
    content_type = record["files"][name]["content_type"]
    download = request.args.get("download") == "1"
    return send_file(handle, mimetype=content_type, as_attachment=download,
                     download_name=f"backdrop-{job_id[:8]}-{name}", max_age=3600)


@bp.post("/jobs/<job_id>/model")
def rerun_model(job_id: str):
    """"Try the other model": same photo, same background as render ``render``, no new upload.

    With ``next=compare`` only the mask is computed and the compare page is shown.
    """
    jobs = runner()
    record = jobs.store.load(job_id)
    model = model_field(jobs.models)
    if request.form.get("next") == "compare" or not record["renders"]:
        jobs.ensure_mask(record, model)
        return redirect(url_for("compare.view", job_id=job_id), 303)
    base = next((r for r in record["renders"] if r["n"] == request.form.get("render", type=int)),
                record["renders"][-1])
    render = jobs.render(record, model, jobs.stored_background(record, base))
    return redirect(url_for("pages.job", job_id=job_id, render=render["n"]), 303)


@bp.post("/jobs/<job_id>/background")
def change_background(job_id: str):
    """"Change background": the stored photo and matte over a new background."""
    jobs = runner()
    record = jobs.store.load(job_id)
    if not record["renders"]:
        abort(404)
    try:
        model = model_field(jobs.models)
        chosen = background_field()
    except USER_ERRORS as exc:
        info = describe(exc)
        return _result_page(record, _render_number(record), info, info.status)
    render = jobs.render(record, model, chosen)
    return redirect(url_for("pages.job", job_id=job_id, render=render["n"]), 303)


def _download_name(record: dict[str, Any]) -> tuple[str, str]:
    """The file a job contributes to a zip (its latest result: the PNG cutout when transparent) and the
    name it gets there, after the uploaded photo."""
    render = record["renders"][-1]
    name = record["masks"][render["model"]]["cutout"] if render["background"] == "transparent" else render["file"]
    stem = secure_filename(record["original"]["filename"].rsplit(".", 1)[0]) or record["id"][:8]
    return name, f"{stem}-{record['id'][:8]}.{name.rsplit('.', 1)[1]}"


@bp.get("/batch.zip")
@rate_limited
def batch_zip():
    """One zip of the results of the caller's jobs named by ``job`` (the batch list's "Download all");
    a job that is not in the caller's History refuses the whole zip (``owners.check_may_gather``).

    Written to a nameless temporary file in the data directory's ``tmp/``, not to memory or /tmp (often
    RAM): 100 full-size cutouts can weigh a gigabyte. Stored, not deflated: PNG and JPEG are
    compressed already.
    """
    ids = request.args.getlist("job")
    if not ids or len(ids) > ZIP_MAX_JOBS:
        raise FieldError("job", f"job: name from 1 to {ZIP_MAX_JOBS} jobs to download, not {len(ids)}.", 400)
    jobs = runner()
    archive = tempfile.TemporaryFile(dir=jobs.store.tmp_dir)
    try:
        records = [jobs.store.load(job_id) for job_id in dict.fromkeys(ids)]
        for record in records:
            owners.check_may_gather(record["owner"])
            if not record["renders"]:
                raise FieldError("job", f"job: job {record['id'][:8]} has no result to download.", 422)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:
            for record in records:
                name, entry = _download_name(record)
                with jobs.store.open_file(record["id"], name) as source, bundle.open(entry, "w", force_zip64=True) as target:
                    shutil.copyfileobj(source, target)
    except BaseException:
        archive.close()
        raise
    archive.seek(0)
    return send_file(archive, mimetype="application/zip", as_attachment=True, download_name="backdrop-results.zip")
