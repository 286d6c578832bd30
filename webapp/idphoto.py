"""ID photos on the web: the page, POST /api/v1/id-photo and GET /api/v1/id-presets.

All the work is ``ml.idphoto.make_id_photo``; this module reads the form fields (naming the field
in every error), stores the upload and the result as an ordinary job (so GET /api/v1/jobs/<id>
shows the report), and answers with the JPEG plus the report in an X-Compliance header.
"""
from __future__ import annotations

import json
from functools import partial
from typing import Any, Callable

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from ml.errors import FaceError
from ml.idphoto.pipeline import LAYOUTS, check_layout, check_max_kb, make_id_photo
from ml.idphoto.presets import (PresetError, background_colours, check_dpi, load_presets, resolve_background,
                                resolve_preset)
from ml.imageio import MIME_TYPES

from webapp import owners
from webapp.errors import FieldError
from webapp.forms import model_field, read_upload
from webapp.views import file_url, runner

bp = Blueprint("idphoto", __name__)

RESULT_FILES = {"single": "idphoto.jpg", "sheet-4x6": "idphoto-sheet.jpg"}


def _field(name: str, check: Callable, *args: Any) -> Any:
    """Run one ml check and turn its PresetError into a FieldError that names the form field."""
    try:
        return check(*args)
    except PresetError as exc:
        raise FieldError(name, f"{name}: {exc}") from None


def _options() -> dict[str, Any]:
    form = request.form
    preset = _field("preset", resolve_preset, (form.get("preset") or "eu-passport").strip(),
                    (form.get("size") or "").strip() or None, form.get("dpi") or None)
    return {
        "preset": preset,
        "background": _field("background", resolve_background, form.get("background") or None, preset)[0],
        "dpi": _field("dpi", check_dpi, form.get("dpi") or preset.dpi),
        "layout": _field("layout", check_layout, form.get("layout") or "single"),
        "max_kb": _field("max_kb", check_max_kb, form.get("max_kb")),
    }


def presets_json() -> dict[str, Any]:
    colours = background_colours()
    return {"presets": [p.to_dict(colours) for p in load_presets().values()], "backgrounds": colours,
            "layouts": list(LAYOUTS), "custom": "preset=custom with size=WxHmm, WxHin or WxHpx; head 70-80 % "
                                                "of the height (ICAO proportion)"}


@bp.get("/id-photo")
def page():
    return render_template("idphoto.html", presets=load_presets().values(), colours=background_colours(),
                           layouts=LAYOUTS, max_mb=current_app.config["MAX_UPLOAD_MB"],
                           max_bytes=current_app.config["MAX_CONTENT_LENGTH"])


@bp.get("/api/v1/id-presets")
def presets():
    return jsonify(presets_json())


@bp.post("/api/v1/id-photo")
@bp.post("/id-photo")  # the page's form (CSRF token, no API key); registered first, so url_for names it
def create():
    """Photo in, ID photo (or 4x6 sheet) out; the report rides along in X-Compliance and the job."""
    jobs = runner()
    picture = read_upload("image")
    options = _options()
    model = model_field(jobs.models)
    settings = {"model": model, "preset": options["preset"].id, "size": request.form.get("size") or None,
                "background": options["background"], "dpi": options["dpi"], "layout": options["layout"],
                "max_kb": options["max_kb"]}
    record = jobs.start(picture, "idphoto", settings, owners.caller())
    with jobs.cleanup_on_error(record):
        with jobs.models.slot():
            try:
                result = make_id_photo(picture.rgb, partial(jobs.models.segment, model), **options)
            except FaceError as exc:
                raise FieldError("image", str(exc)) from None
        name = RESULT_FILES[result.layout]
        jobs.attach(record, "idphoto", {"file": name, "report": result.report},
                    {name: (result.file.data, MIME_TYPES["jpg"])})
    response = Response(result.file.data, mimetype=MIME_TYPES["jpg"])
    response.headers.update({
        "X-Job-Id": record["id"], "X-Compliance": json.dumps(result.report, separators=(",", ":")),
        "X-Result-Url": file_url(record["id"], name), "X-Download-Url": file_url(record["id"], name, download=True),
        "X-Input-Url": file_url(record["id"], "input.jpg"),
        "Content-Disposition": f'inline; filename="idphoto-{options["preset"].id}-{record["id"][:8]}.jpg"',
    })
    return response
