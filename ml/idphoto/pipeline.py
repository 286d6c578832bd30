"""One ID photo from one portrait: face, cut-out, background, framing, report, files.

The CLI and the web layer both parse their options into ``IdPhotoOptions`` and call ``make_id_photo``
(or ``make_id_photos`` for every face of a group); neither repeats any of these steps. The face is looked for first, so a photo without a usable
face is refused before the (slower) segmentation model runs. Whether the background is replaced or
kept as photographed is the preset's rule (presets.yaml), not the caller's choice.
"""
from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ml.compose import Colour, compose
from ml.errors import FaceError
from ml.idphoto.compliance import build_report, overall
from ml.idphoto.face import NO_FACE, Face, choose_face, counted_faces, detect_faces
from ml.idphoto.framing import ALPHA_ON, apply_frame, body_cut_sides, plan_frame, source_window
from ml.idphoto.options import IdPhotoOptions
from ml.idphoto.output import SHEET_DPI, EncodedPhoto, SheetLayout, encode_photo, plan_sheet, render_sheet
from ml.segmenter import Matte

# The crop cut out around a face, in face widths beside, above and below the eyes: the tallest output
# (50x70 mm with a 31 mm head) spans about 2.7 face widths and the widest about 1.5, plus the shift.
CROP_FACE_WIDTHS = (2.0, 2.5, 3.5)
MAX_CROP_SHARE = 0.5            # a crop larger than this share of the photo: segment the whole photo


@dataclass(frozen=True)
class IdPhoto:
    """Everything one request produces; ``file`` is what the user asked for (photo or sheet)."""

    photo: np.ndarray
    file: EncodedPhoto
    layout: str
    report: dict


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def isolate_person(alpha: np.ndarray, face: Face) -> tuple[np.ndarray, float]:
    """(alpha with only the region joined to this face, share of the photo taken out).

    Other people of a group and objects the model took for a person are not joined to the body
    under the face; in a replaced background they would float in the new colour.
    """
    person = (alpha >= ALPHA_ON).astype(np.uint8)
    _, labels = cv2.connectedComponents(person, connectivity=8)
    height, width = alpha.shape
    col = int(np.clip(face.centre_x, 0, width - 1))
    seeds = [labels[int(np.clip(y, 0, height - 1)), col] for y in (face.chin_y, face.eye_y)]
    seed = next((s for s in seeds if s), 0)
    if not seed:
        return alpha, 0.0
    # soft edge pixels below ALPHA_ON belong to whichever region they border: grow the body a little
    body = cv2.dilate((labels == seed).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    removed = person.astype(bool) & ~body
    return np.where(body, alpha, 0).astype(alpha.dtype), float(removed.mean())


def face_crop(shape: tuple[int, ...], face: Face) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the part of the photo around one face that any preset can frame.

    The model sees its input at about 200 px: a group photo or a full-body photo squeezed whole into
    that leaves each head a few dozen pixels and a poor outline, so each face is cut out from this
    portrait-like crop instead (it holds the output at every allowed head size, see CROP_FACE_WIDTHS).
    """
    beside, above, below = (CROP_FACE_WIDTHS[0] * face.width, CROP_FACE_WIDTHS[1] * face.width,
                            CROP_FACE_WIDTHS[2] * face.width)
    top, bottom = int(max(0, face.eye_y - above)), int(min(shape[0], face.eye_y + below))
    left, right = int(max(0, face.centre_x - beside)), int(min(shape[1], face.centre_x + beside))
    return top, bottom, left, right


def segment_face(rgb: np.ndarray, face: Face, segment: Callable[[np.ndarray], Matte]) -> np.ndarray:
    """The photo's person alpha around ``face``: from the crop around it when that is a small part of
    the photo (zero outside the crop), else from the whole photo."""
    top, bottom, left, right = face_crop(rgb.shape, face)
    if (bottom - top) * (right - left) > MAX_CROP_SHARE * rgb.shape[0] * rgb.shape[1]:
        return segment(rgb).alpha
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[top:bottom, left:right] = segment(np.ascontiguousarray(rgb[top:bottom, left:right])).alpha
    return alpha


def make_id_photo(rgb: np.ndarray, segment: Callable[[np.ndarray], Matte], options: IdPhotoOptions) -> IdPhoto:
    """Frame ``rgb`` to ``options``; raises FaceError for no face, or several without ``options.face``.

    ``segment`` is ``Segmenter.segment`` or anything with its signature (the web app's model pool).
    """
    if options.max_kb is None and options.layout == "single":
        options = replace(options, max_kb=options.preset.max_kb)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    chosen, number, count = choose_face(rgb, options.face)
    timings["face"] = _ms(start)
    return _frame_face(rgb, segment, options, chosen, (count, number), timings)


def _frame_face(rgb: np.ndarray, segment: Callable[[np.ndarray], Matte], options: IdPhotoOptions, face: Face,
                faces: tuple[int, int], timings: dict[str, float]) -> IdPhoto:
    """Cut out, frame, report and encode one face; ``faces`` is (how many were counted, this one's number)."""
    preset, dpi, colour, adjust = options.preset, options.dpi, options.background, options.adjust
    start = time.perf_counter()
    alpha = segment_face(rgb, face, segment)
    timings["segment"] = _ms(start)
    start = time.perf_counter()
    frame = plan_frame(alpha, face, preset, dpi, adjust)
    top, bottom, left, right = source_window(frame, alpha.shape)
    window_rgb = np.ascontiguousarray(rgb[top:bottom, left:right])
    window_alpha = np.ascontiguousarray(alpha[top:bottom, left:right])
    removed = 0.0
    if preset.replace_background:
        moved = Face(face.left - left, face.top - top, face.right - left, face.bottom - top, face.score,
                     tuple((x - left, y - top) for x, y in face.eyes))
        window_alpha, removed = isolate_person(window_alpha, moved)
        window_rgb = compose(window_rgb, window_alpha, Colour(colour.rgb))
    photo = apply_frame(window_rgb, frame, colour.rgb, offset=(left, top))
    photo_alpha = apply_frame(window_alpha, frame, 0, offset=(left, top))
    covered = apply_frame(np.full(window_alpha.shape, 255, np.uint8), frame, 0, offset=(left, top)) > 0
    timings["frame"] = _ms(start)
    start = time.perf_counter()
    report = build_report(preset, dpi, colour, frame, faces, photo, photo_alpha, covered, removed,
                          body_cut_sides(alpha, frame))
    report["face"] = {"number": faces[1], "count": faces[0], **face.to_dict()}
    if adjust:
        report["adjusted"] = {"head_mm": adjust.head_mm, "offset_mm": adjust.offset_mm, "top_mm": adjust.top_mm}
    timings["report"] = _ms(start)
    file = _encode(photo, options, report)
    report["timings_ms"] = timings
    return IdPhoto(photo=photo, file=file, layout=options.layout, report=report)


@dataclass(frozen=True)
class GroupIdPhotos:
    """One ID photo per face of a group: one 4x6 sheet holding them all, or a zip of the single photos."""

    photos: list[IdPhoto]
    data: bytes
    content_type: str           # image/jpeg (sheet) or application/zip
    report: dict                # overall status and every person's report, left to right


def make_id_photos(rgb: np.ndarray, segment: Callable[[np.ndarray], Matte], options: IdPhotoOptions) -> GroupIdPhotos:
    """An ID photo for every face, left to right, each cut out from the crop around it (``options.face``
    and ``options.adjust`` are for one face, and not used)."""
    faces = counted_faces(detect_faces(rgb))
    if not faces:
        raise FaceError(NO_FACE)
    single_cap = options.max_kb if options.layout == "single" else None
    each = replace(options, layout="single", max_kb=single_cap or options.preset.max_kb, gap_mm=None, face=None,
                   adjust=None)
    photos = [_frame_face(rgb, segment, each, face, (len(faces), number), {}) for number, face in enumerate(faces, 1)]
    report = {"preset": options.preset.id, "faces": len(faces), "layout": options.layout,
              "overall": overall(p.report["overall"] for p in photos), "reports": [p.report for p in photos]}
    if options.layout == "sheet-4x6":
        sheet = plan_sheet(options.preset, options.gap_mm)
        encoded = encode_photo(render_sheet([p.photo for p in photos], sheet), SHEET_DPI, options.max_kb)
        report["sheet"] = _sheet_summary(sheet)
        return GroupIdPhotos(photos, encoded.data, "image/jpeg", report)
    return GroupIdPhotos(photos, _zip(photos, report), "application/zip", report)


def _zip(photos: list[IdPhoto], report: dict) -> bytes:
    """face-1.jpg ... face-N.jpg (1 = leftmost) and report.json."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:  # JPEGs do not compress further
        for number, photo in enumerate(photos, 1):
            bundle.writestr(f"face-{number}.jpg", photo.file.data)
        bundle.writestr("report.json", json.dumps(report, indent=1))
    return buffer.getvalue()


def _sheet_summary(layout: SheetLayout) -> dict:
    return {"copies": layout.copies, "columns": layout.columns, "rows": layout.rows, "size_px": list(layout.sheet_px),
            "dpi": SHEET_DPI, "gap_mm": round(layout.gap_px / SHEET_DPI * 25.4, 1)}


def _encode(photo: np.ndarray, options: IdPhotoOptions, report: dict) -> EncodedPhoto:
    """The requested file; records the sheet layout and the size-cap result in the report."""
    if options.layout == "sheet-4x6":
        sheet_layout = plan_sheet(options.preset, options.gap_mm)
        report["sheet"] = _sheet_summary(sheet_layout)
        encoded = encode_photo(render_sheet(photo, sheet_layout), SHEET_DPI, options.max_kb)
    else:
        encoded = encode_photo(photo, options.dpi, options.max_kb)
    size_rule = encoded.rule()
    if size_rule:
        report["rules"].append(size_rule)
        report["overall"] = overall(r["status"] for r in report["rules"])
    report["file"] = {"layout": options.layout, "kb": round(encoded.kb, 1), "jpeg_quality": encoded.quality}
    return encoded
