"""Reading and checking request fields, shared by the pages and the API so both refuse the same input
with the same message. Each check raises :class:`FieldError` naming the field.
"""
from __future__ import annotations

import re

from flask import current_app, request
from werkzeug.datastructures import FileStorage

from ml.errors import ImageError, ImageTooLarge
from ml.imageio import FORMAT_NAMES, load_image, normalise_format

from webapp.errors import FieldError, NotAnImage
from webapp.models import ModelPool
from webapp.pipeline import Picture

HEX_COLOUR_RE = re.compile(r"#[0-9a-fA-F]{6}")
# Background kinds a request may name besides a #RRGGBB colour; "image" needs an uploaded file.
BACKGROUND_KINDS = ("transparent", "blur", "image")
OUTPUTS = ("image", "mask")
# Declared upload types we try to decode; anything else (text/plain, application/pdf...) is refused
# as 415 without being decoded. Clients that do not know the type send octet-stream or nothing.
_UNTYPED = {"", "application/octet-stream"}
# Below this a picture holds no person to cut out (a 1x1 "photo" is a probe, not a portrait).
MIN_SIDE = 16


def read_upload(field: str, required: bool = True) -> Picture | None:
    """Read and decode the image file in ``field``; None when optional and absent."""
    storage: FileStorage | None = request.files.get(field)
    # A file input left empty still sends a part, with no file name and no bytes.
    if storage is None or (not storage.filename and not storage.content_length):
        if required:
            raise FieldError(field, f"{field}: no file was uploaded; choose a photo first.", 400)
        return None
    data = storage.read()
    if not data:
        raise FieldError(field, f"{field}: the file is empty.", 400)
    declared = (storage.mimetype or "").lower()
    if declared not in _UNTYPED and not declared.startswith("image/"):
        raise NotAnImage(field, f"{field}: {declared} is not an image; upload a {FORMAT_NAMES} file.")
    try:
        rgb = load_image(data, max_pixels=current_app.config["MAX_PIXELS"])
    except ImageTooLarge as exc:
        raise FieldError(field, f"{field}: {exc}", 413) from None
    except ImageError as exc:
        raise FieldError(field, f"{field}: {exc}", 422) from None
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise FieldError(field, f"{field}: the image is only {width}x{height} pixels; send one at least "
                                f"{MIN_SIDE} pixels on each side.", 422)
    return Picture(data, rgb, storage.filename or "")


def model_field(models: ModelPool, field: str = "model") -> str:
    name = (request.form.get(field) or current_app.config["DEFAULT_MODEL"]).strip().lower()
    if name not in models.names:
        raise FieldError(field, f"{field}: unknown model {name!r}; choose one of {', '.join(models.names)}.")
    return name


def background_field(allow_image: bool, field: str = "background") -> str:
    """The background spec: ``transparent``, ``blur``, ``#rrggbb`` or (pages only) ``image``.

    The page's radio buttons send ``background=color`` with the hex value in ``color``, so the form
    works without JavaScript; the API sends the colour itself.
    """
    value = (request.form.get(field) or "transparent").strip()
    if value == "color":
        field, value = "color", (request.form.get("color") or "").strip()
    if HEX_COLOUR_RE.fullmatch(value):
        return value.lower()
    kinds = BACKGROUND_KINDS if allow_image else tuple(k for k in BACKGROUND_KINDS if k != "image")
    if value.lower() in kinds:
        return value.lower()
    raise FieldError(field, f"{field}: {value!r} is not a background; use {', '.join(kinds)} "
                            f"or a colour as #RRGGBB.")


def format_field(field: str = "format") -> str:
    try:
        return normalise_format(request.form.get(field) or "png")
    except ValueError as exc:
        raise FieldError(field, f"{field}: {exc}.") from None


def output_field(field: str = "output") -> str:
    value = (request.form.get(field) or "image").strip().lower()
    if value not in OUTPUTS:
        raise FieldError(field, f"{field}: {value!r} is not an output; use {' or '.join(OUTPUTS)}.")
    return value
