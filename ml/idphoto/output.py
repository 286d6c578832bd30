"""Files a person takes away: the photo as a JPEG with its DPI, optionally under a size cap, and a
4x6 in print sheet for a photo kiosk with as many copies as fit, a chosen gap and crop marks.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml.idphoto.presets import Preset, mm_to_px
from ml.imageio import encode_image

BEST_QUALITY = 95
QUALITY_FLOOR = 60              # below this JPEG blocks and colour smearing become visible on a face
SHEET_INCHES = (6, 4)           # 10x15 cm kiosk print, landscape; portrait is tried too
SHEET_DPI = 300
SHEET_GAPS_MM = (2.0, 1.0, 0.0) # widest gap that still fits the most copies wins
CROP_MARK_COLOUR = (0, 0, 0)
CROP_MARK_MM = 3.0              # length of a crop mark in the margin
CROP_MARK_OFFSET_MM = 1.0       # gap between a mark and the photos


@dataclass(frozen=True)
class EncodedPhoto:
    """JPEG bytes and how they were made; ``fits`` is False when the cap could not be met."""

    data: bytes
    quality: int
    max_kb: int | None
    fits: bool

    @property
    def kb(self) -> float:
        return len(self.data) / 1024

    def rule(self) -> dict | None:
        """The file-size line of the compliance report (None when no cap was asked for)."""
        if self.max_kb is None:
            return None
        if self.fits:
            hint = f"The file is {self.kb:.0f} KB at JPEG quality {self.quality}."
        else:
            hint = (f"Even at the lowest acceptable quality ({QUALITY_FLOOR}) the file is {self.kb:.0f} KB, "
                    f"over the {self.max_kb} KB limit: choose a lower DPI or a smaller size.")
        return {"id": "file_size", "label": "File size", "status": "pass" if self.fits else "fail",
                "value": round(self.kb, 1), "unit": "KB", "allowed": [0, self.max_kb], "hint": hint}


def encode_photo(rgb: np.ndarray, dpi: int, max_kb: int | None = None) -> EncodedPhoto:
    """JPEG with ``dpi`` in its header; with ``max_kb``, the best quality (>= the floor) that fits.

    Size falls monotonically (near enough) with quality, so a binary search finds the highest
    quality under the cap in about six encodes.
    """
    best = encode_image(rgb, "jpg", quality=BEST_QUALITY, dpi=dpi)
    if max_kb is None or len(best) <= max_kb * 1024:
        return EncodedPhoto(best, BEST_QUALITY, max_kb, True)
    low, high = QUALITY_FLOOR, BEST_QUALITY - 1
    found: tuple[int, bytes] | None = None
    while low <= high:
        quality = (low + high) // 2
        data = encode_image(rgb, "jpg", quality=quality, dpi=dpi)
        if len(data) <= max_kb * 1024:
            found, low = (quality, data), quality + 1
        else:
            high = quality - 1
    if found:
        return EncodedPhoto(found[1], found[0], max_kb, True)
    return EncodedPhoto(encode_image(rgb, "jpg", quality=QUALITY_FLOOR, dpi=dpi), QUALITY_FLOOR, max_kb, False)


@dataclass(frozen=True)
class SheetLayout:
    """Copies in a grid on the sheet: counts, photo size and gap in pixels, sheet size."""

    columns: int
    rows: int
    photo_px: tuple[int, int]
    gap_px: int
    sheet_px: tuple[int, int]

    @property
    def copies(self) -> int:
        return self.columns * self.rows

    def origins(self) -> list[tuple[int, int]]:
        """Top-left corner of every copy; the grid is centred on the sheet."""
        (pw, ph), (sw, sh), g = self.photo_px, self.sheet_px, self.gap_px
        x0 = (sw - self.columns * pw - (self.columns - 1) * g) // 2
        y0 = (sh - self.rows * ph - (self.rows - 1) * g) // 2
        return [(x0 + c * (pw + g), y0 + r * (ph + g)) for r in range(self.rows) for c in range(self.columns)]


def _fit(length: int, photo: int, gap: int) -> int:
    return max(0, (length + gap) // (photo + gap))


def plan_sheet(preset: Preset, gap_mm: float | None = None) -> SheetLayout:
    """Most copies of the photo on a 4x6 in sheet at 300 DPI, trying both orientations; with ``gap_mm``
    that gap between copies, else the widest of SHEET_GAPS_MM that keeps the most copies."""
    photo = preset.pixel_size(SHEET_DPI)
    landscape = (SHEET_INCHES[0] * SHEET_DPI, SHEET_INCHES[1] * SHEET_DPI)
    best: SheetLayout | None = None
    for sheet in (landscape, landscape[::-1]):
        for gap in (SHEET_GAPS_MM if gap_mm is None else (gap_mm,)):
            gap_px = mm_to_px(gap, SHEET_DPI)
            layout = SheetLayout(_fit(sheet[0], photo[0], gap_px), _fit(sheet[1], photo[1], gap_px), photo, gap_px,
                                 sheet)
            if best is None or layout.copies > best.copies:
                best = layout
    return best


def render_sheet(photos: np.ndarray | list[np.ndarray], layout: SheetLayout) -> np.ndarray:
    """White sheet with the copies and crop marks: short lines in the margin, in line with every cut.

    Several photos (one per person of a group) take the copies in turn, so each person gets about
    the same number on one sheet.

    Marks stay outside the photos (a line across a photo would be printed on it) and stop short of
    the grid so a slightly misaligned cut does not leave a mark on the photo's edge.
    """
    sheet = np.full((layout.sheet_px[1], layout.sheet_px[0], 3), 255, np.uint8)
    pw, ph = layout.photo_px
    photos = [photos] if isinstance(photos, np.ndarray) else photos
    photos = [p if p.shape[:2] == (ph, pw) else cv2.resize(p, (pw, ph), interpolation=cv2.INTER_AREA) for p in photos]
    origins = layout.origins()
    for number, (x, y) in enumerate(origins):
        sheet[y:y + ph, x:x + pw] = photos[number % len(photos)]
    left, top = origins[0]
    right, bottom = origins[-1][0] + pw, origins[-1][1] + ph
    offset, length = mm_to_px(CROP_MARK_OFFSET_MM, SHEET_DPI), mm_to_px(CROP_MARK_MM, SHEET_DPI)
    for x in sorted({x for x, _ in origins} | {x + pw - 1 for x, _ in origins}):
        sheet[max(0, top - offset - length):max(0, top - offset), x] = CROP_MARK_COLOUR
        sheet[bottom + offset:bottom + offset + length, x] = CROP_MARK_COLOUR
    for y in sorted({y for _, y in origins} | {y + ph - 1 for _, y in origins}):
        sheet[y, max(0, left - offset - length):max(0, left - offset)] = CROP_MARK_COLOUR
        sheet[y, right + offset:right + offset + length] = CROP_MARK_COLOUR
    return sheet
