"""ID photos on the web: the page, POST /api/v1/id-photo, POST /api/v1/id-photo/faces and
GET /api/v1/id-presets.

All the work is ``ml.idphoto``; this module reads the form fields (naming the field in every error),
stores the upload and the result as an ordinary job belonging to its caller (so GET /api/v1/jobs/<id>
shows the report and the page can reopen it from History), and answers with the JPEG (or the zip of
one photo per face) plus the report in an X-Compliance header.

The page never calls the API (which needs the key when ``BACKDROP_API_KEY`` is set, and a page's CSRF
token is not one): its form and its face finder post to page twins (``POST /id-photo``,
``POST /id-photo/faces``) with their CSRF token, and it reopens a job through ``GET /id-photo/jobs/<id>``,
which shows only the caller's own ID jobs (everyone's on a ``BACKDROP_SHARED_HISTORY`` install).
"""
from __future__ import annotations

import json
from functools import partial
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from ml.errors import FaceError
from ml.idphoto.face import counted_faces, detect_faces
from ml.idphoto.options import LAYOUTS, IdPhotoOptions, OptionError
from ml.idphoto.pipeline import make_id_photo, make_id_photos
from ml.idphoto.presets import background_colours, load_presets
from ml.imageio import MIME_TYPES

from webapp import owners
from webapp.errors import FieldError
from webapp.forms import model_field, read_upload
from webapp.template_helpers import file_url, runner

bp = Blueprint("idphoto", __name__)

RESULT_FILES = {"single": "idphoto.jpg", "sheet-4x6": "idphoto-sheet.jpg"}
EACH_FILES = {"single": ("idphotos.zip", "application/zip"), "sheet-4x6": ("idphoto-sheet.jpg", MIME_TYPES["jpg"])}


def _options(each: bool) -> IdPhotoOptions:
    """The form's options, parsed once; a refused one is named by its field. With ``each``, no face
    is chosen and none is cropped by hand."""
    form = request.form
    one = {} if each else {name: form.get(name) for name in ("face", "head_mm", "offset_mm", "top_mm")}
    try:
        return IdPhotoOptions.parse((form.get("preset") or "eu-passport").strip(), (form.get("size") or "").strip(),
                                    form.get("background"), form.get("dpi"), form.get("layout"), form.get("max_kb"),
                                    form.get("gap_mm"), **one)
    except OptionError as exc:
        raise FieldError(exc.option, f"{exc.option}: {exc}") from None


def _each() -> bool:
    """``each=1``: one ID photo per face instead of one chosen face."""
    value = (request.form.get("each") or "").strip().lower()
    if value not in ("", "0", "1", "on", "true", "false"):
        raise FieldError("each", "each: use 1 for one photo per person, or leave it out.")
    return value in ("1", "on", "true")


def presets_json() -> dict[str, Any]:
    colours = background_colours()
    return {"presets": [p.to_dict(colours) for p in load_presets().values()], "backgrounds": colours,
            "layouts": list(LAYOUTS), "custom": "preset=custom with size=WxHmm, WxHin or WxHpx; head 70-80 % "
                                                "of the height (ICAO proportion)"}


@bp.get("/id-photo")
def page():
    return render_template("idphoto.html", presets=load_presets().values(), colours=background_colours(),
                           layouts=LAYOUTS, models=runner().models.describe(),
                           default_model=current_app.config["DEFAULT_MODEL"],
                           max_mb=current_app.config["MAX_UPLOAD_MB"],
                           max_bytes=current_app.config["MAX_CONTENT_LENGTH"])


@bp.get("/id-photo/jobs/<job_id>")
def stored(job_id: str):
    """An ID job for the page to reopen: its settings, report and file links, for its owner only."""
    store = runner().store
    owners.check_may_reopen(store.owner(job_id))
    record = store.load(job_id)
    if "idphoto" not in record:
        raise FieldError("job", "job: this job is not an ID photo.", 404)
    return jsonify({"id": record["id"], "created": record["created"], "settings": record["settings"],
                    "idphoto": record["idphoto"], "links": {name: file_url(record["id"], name) for name in record["files"]}})


@bp.get("/api/v1/id-presets")
def presets():
    return jsonify(presets_json())


@bp.post("/api/v1/id-photo/faces")
@bp.post("/id-photo/faces")  # the page's face finder (CSRF token, no API key); registered first for url_for
def faces():
    """The faces an ID photo can be made of, numbered left to right, so a page can offer them."""
    picture = read_upload("image")
    found = counted_faces(detect_faces(picture.rgb))
    height, width = picture.rgb.shape[:2]
    return jsonify({"width": width, "height": height,
                    "faces": [{"number": n, "box": [round(v, 1) for v in (f.left, f.top, f.right, f.bottom)]}
                              for n, f in enumerate(found, 1)]})


@bp.post("/api/v1/id-photo")
@bp.post("/id-photo")  # the page's form (CSRF token, no API key); registered first, so url_for names it
def create():
    """Photo in, ID photo (or 4x6 sheet, or a zip per face) out; the report rides along in X-Compliance."""
    jobs = runner()
    picture = read_upload("image")
    each = _each()
    options = _options(each)
    model = model_field(jobs.models)
    settings = {"model": model, "preset": options.preset.id, "size": request.form.get("size") or None,
                "background": options.background.hex, "dpi": options.dpi, "layout": options.layout,
                "max_kb": options.max_kb, "gap_mm": options.gap_mm, "face": options.face, "each": each,
                "adjusted": bool(options.adjust)}
    record = jobs.start(picture, "idphoto", settings, owners.caller())
    with jobs.cleanup_on_error(record):
        with jobs.models.slot():
            segment = partial(jobs.models.segment, model)
            try:
                if each:
                    result = make_id_photos(picture.rgb, segment, options)
                    (name, content_type), data, report = EACH_FILES[options.layout], result.data, result.report
                else:
                    result = make_id_photo(picture.rgb, segment, options)
                    name, content_type = RESULT_FILES[result.layout], MIME_TYPES["jpg"]
                    data, report = result.file.data, result.report
            except FaceError as exc:
                raise FieldError("face" if options.face else "image", str(exc)) from None
        jobs.attach(record, "idphoto", {"file": name, "report": report}, {name: (data, content_type)})
    response = Response(data, mimetype=content_type)
    suffix = name.rsplit(".", 1)[1]
    response.headers.update({
        "X-Job-Id": record["id"], "X-Compliance": json.dumps(report, separators=(",", ":")),
        "X-Result-Url": file_url(record["id"], name), "X-Download-Url": file_url(record["id"], name, download=True),
        "X-Input-Url": file_url(record["id"], "input.jpg"),
        "Content-Disposition": f'inline; filename="idphoto-{options.preset.id}-{record["id"][:8]}.{suffix}"',
    })
    return response
