"""One ID photo from one portrait: face, cut-out, new background, framing, report, files.

The CLI and the web layer both call ``make_id_photo``; neither repeats any of these steps.
The face is looked for first, so a photo without exactly one face is refused before the
(slower) segmentation model runs.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml.compose import compose, parse_background
from ml.idphoto.compliance import build_report, overall
from ml.idphoto.face import find_single_face
from ml.idphoto.framing import apply_frame, padding_share, plan_frame, source_window
from ml.idphoto.output import SHEET_DPI, EncodedPhoto, encode_photo, plan_sheet, render_sheet
from ml.idphoto.presets import Preset, PresetError, check_dpi, hex_to_rgb, resolve_background
from ml.segmenter import Matte

LAYOUTS = ("single", "sheet-4x6")
MAX_KB_RANGE = (10, 10_000)


@dataclass(frozen=True)
class IdPhoto:
    """Everything one request produces; ``file`` is what the user asked for (photo or sheet)."""

    photo: np.ndarray
    file: EncodedPhoto
    layout: str
    report: dict


def check_layout(layout: str | None) -> str:
    layout = layout or "single"
    if layout not in LAYOUTS:
        raise PresetError(f"Layout '{layout}' is not one of {', '.join(LAYOUTS)}.")
    return layout


def check_max_kb(max_kb) -> int | None:
    if max_kb in (None, ""):
        return None
    try:
        value = int(max_kb)
    except (TypeError, ValueError):
        raise PresetError(f"File-size cap '{max_kb}' is not a whole number of KB.") from None
    if not MAX_KB_RANGE[0] <= value <= MAX_KB_RANGE[1]:
        raise PresetError(f"File-size cap must be between {MAX_KB_RANGE[0]} and {MAX_KB_RANGE[1]} KB.")
    return value


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def make_id_photo(rgb: np.ndarray, segment: Callable[[np.ndarray], Matte], preset: Preset, background: str | None = None,
                  dpi: int | None = None, layout: str | None = "single", max_kb: int | None = None) -> IdPhoto:
    """Frame ``rgb`` to ``preset``; raises FaceError for no face or several, PresetError for bad options.

    ``segment`` is ``Segmenter.segment`` or anything with its signature (the web app's model pool).
    """
    dpi = check_dpi(dpi or preset.dpi)
    layout = check_layout(layout)
    max_kb = check_max_kb(max_kb)
    if max_kb is None and layout == "single":
        max_kb = preset.max_kb
    colour, colour_name = resolve_background(background, preset)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    face = find_single_face(rgb)
    timings["face"] = _ms(start)
    start = time.perf_counter()
    alpha = segment(rgb).alpha
    timings["segment"] = _ms(start)
    start = time.perf_counter()
    frame = plan_frame(alpha, face, preset, dpi)
    top, bottom, left, right = source_window(frame, alpha.shape)
    window_rgb = np.ascontiguousarray(rgb[top:bottom, left:right])
    window_alpha = np.ascontiguousarray(alpha[top:bottom, left:right])
    composed = compose(window_rgb, window_alpha, parse_background(colour))
    photo = apply_frame(composed, frame, hex_to_rgb(colour), offset=(left, top))
    photo_alpha = apply_frame(window_alpha, frame, 0, offset=(left, top))
    timings["frame"] = _ms(start)
    start = time.perf_counter()
    report = build_report(preset, dpi, colour, colour_name, frame, photo, photo_alpha,
                          padding_share(alpha.shape, frame))
    report["face"] = face.to_dict()
    timings["report"] = _ms(start)
    file = _encode(photo, preset, dpi, layout, max_kb, report)
    report["timings_ms"] = timings
    return IdPhoto(photo=photo, file=file, layout=layout, report=report)


def _encode(photo: np.ndarray, preset: Preset, dpi: int, layout: str, max_kb: int | None, report: dict) -> EncodedPhoto:
    """The requested file; records the sheet layout and the size-cap result in the report."""
    if layout == "sheet-4x6":
        sheet_layout = plan_sheet(preset)
        report["sheet"] = {"copies": sheet_layout.copies, "columns": sheet_layout.columns, "rows": sheet_layout.rows,
                           "size_px": list(sheet_layout.sheet_px), "dpi": SHEET_DPI}
        encoded = encode_photo(render_sheet(photo, sheet_layout), SHEET_DPI, max_kb)
    else:
        encoded = encode_photo(photo, dpi, max_kb)
    size_rule = encoded.rule()
    if size_rule:
        report["rules"].append(size_rule)
        report["overall"] = overall(r["status"] for r in report["rules"])
    report["file"] = {"layout": layout, "kb": round(encoded.kb, 1), "jpeg_quality": encoded.quality}
    return encoded

