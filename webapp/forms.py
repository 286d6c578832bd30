"""Reading and checking request fields, shared by the pages and the API so both refuse the same input
with the same message. Each check raises :class:`FieldError` naming the field.
"""
from __future__ import annotations

import math
from typing import Callable, TypeVar

from flask import current_app, request
from werkzeug.datastructures import FileStorage

from ml.colour import parse_colour
from ml.compose import IMAGE, Colour, Framing, parse_background
from ml.errors import BackgroundError, ImageError, ImageTooLarge
from ml.imageio import FORMAT_NAMES, load_image, normalise_format
from ml.segmenter import CROP_MARGIN

from webapp.config import _flag
from webapp.errors import FieldError, NotAnImage
from webapp.model_pool import ModelPool
from webapp.runner import ChosenBackground, Picture

# Background kinds a request may name besides a colour; "image" needs an uploaded file.
BACKGROUND_KINDS = ("transparent", "blur", IMAGE)
OUTPUTS = ("image", "mask")
CROPS = ("none", "subject")
Number = TypeVar("Number", int, float)
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
        raise NotAnImage(field, f"{field}: the file is {declared}, not an image; upload a {FORMAT_NAMES} file.")
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


def background_field(field: str = "background") -> ChosenBackground:
    """The background: ``transparent``, ``blur``, ``image`` (with its file in ``background_image``) or
    a colour, parsed once by ``ml.compose``; its ``spec`` is what the job records.

    The page's radio buttons send ``background=color`` with the colour in ``color``, so the form works
    without JavaScript; the API sends the colour itself. Colours are read by ``ml.colour.parse_colour``
    (#RGB, #RRGGBB, CSS names), the parser the CLIs use too. A request never names a file: paths are
    not read here, and an image background is the uploaded picture.
    """
    value = (request.form.get(field) or "transparent").strip()
    if value == "color":
        field, value = "color", (request.form.get("color") or "").strip()
    if value.lower() in BACKGROUND_KINDS:
        picture = read_upload("background_image") if value.lower() == IMAGE else None
        return ChosenBackground(parse_background(value, image=picture.rgb if picture else None), picture)
    try:
        return ChosenBackground(Colour(parse_colour(value)))
    except BackgroundError:
        if field == "color":  # the page's colour box: people typed a colour
            raise FieldError(field, f"{field}: cannot read {value!r} as a colour; write it as #RRGGBB or #RGB, "
                                    f"or use a name such as navy.") from None
        raise FieldError(field, f"{field}: cannot use {value!r} as a background; use {', '.join(BACKGROUND_KINDS)} "
                                f"or a colour (#RRGGBB, #RGB or a name such as navy).") from None


def format_field(field: str = "format") -> str:
    try:
        return normalise_format(request.form.get(field) or "png")
    except ValueError as exc:
        raise FieldError(field, f"{field}: {exc}.") from None


def _number(field: str, kind: Callable[[str], Number], low: Number, high: Number | None = None) -> Number | None:
    """The number in ``field`` from ``low`` to ``high`` (no upper bound when None); None when absent."""
    text = (request.form.get(field) or "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < low or (high is not None and value > high):
        noun = "whole number" if kind is int else "number"
        bounds = f"from {low:g} to {high:g}" if high is not None else f"of {low:g} or more"
        raise FieldError(field, f"{field}: {text!r} is not a {noun} {bounds}.")
    return value


def framing_fields() -> Framing:
    """``crop`` (none or subject), ``margin`` round a cropped subject, ``max_side`` to scale down."""
    crop = (request.form.get("crop") or "none").strip().lower()
    if crop not in CROPS:
        raise FieldError("crop", f"crop: {crop!r} is not a crop; use {' or '.join(CROPS)}.")
    margin = _number("margin", float, 0.0, 1.0)
    if margin is not None and crop != "subject":
        raise FieldError("margin", "margin: the margin only applies with crop=subject.")
    max_side = _number("max_side", int, MIN_SIDE)
    crop_margin = (CROP_MARGIN if margin is None else margin) if crop == "subject" else None
    return Framing(crop_margin, max_side)


def output_field(field: str = "output") -> str:
    value = (request.form.get(field) or "image").strip().lower()
    if value not in OUTPUTS:
        raise FieldError(field, f"{field}: {value!r} is not an output; use {' or '.join(OUTPUTS)}.")
    return value


def matting_field(field: str = "matting") -> bool:
    """Whether to run the matting stage: on/off, 1/0, true/false or yes/no; absent: ``MATTING``.

    The last value wins, so a page can send a hidden "off" before a checkbox that may add "on".
    """
    values = request.form.getlist(field)
    if not values:
        return current_app.config["MATTING"]
    try:
        return _flag(values[-1])
    except ValueError as exc:
        raise FieldError(field, f"{field}: {values[-1]!r} is not a switch; {exc}.") from None
