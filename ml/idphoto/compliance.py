"""The compliance report: every preset rule, read from one measurement, with a plain hint.

One measurement feeds every rule: the head found in the source (crown from the person mask, chin
and eyes from the face) is mapped into the output through the frame's transform, so head height,
eye line, space above the head and centring cannot contradict each other. Framing already centres
and levels the face and avoids padding wherever the source allows, so centring, tilt and padding
rules speak only when the source ran out, and say so. The cut-out is graded on the output alpha
(pieces not joined to the body, the soft matte's uncertain area); a kept background is graded on
the photo's own pixels (colour, evenness, shadows beside the head).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ml.idphoto.framing import MAX_ROLL_CORRECTION_DEG, Frame
from ml.idphoto.presets import DocumentColour, Preset, named_colours, px_per_mm

PASS, WARN, FAIL = "pass", "warn", "fail"
CENTRING_MM = 1.0                # off-centre up to this passes
RESOLUTION = (1.1, 2.0)          # output px per source px: up to 1.1 passes, up to 2 warns
ALPHA_ON = 128                   # output alpha at or above this is the person
UNCERTAIN = (40, 215)            # alpha strictly between these is neither person nor background
EDGE_BAND = 0.03                 # the outline's own soft edge: this share of the width each side
UNCERTAIN_SHARE = (0.005, 0.015) # uncertain area away from the outline, share of the photo: warn, fail
MIN_BACKGROUND_SHARE = 0.05
KEPT_COLOUR = (30.0, 60.0)       # kept background: largest channel distance to an allowed colour
KEPT_SPREAD = (12.0, 24.0)       # kept background: grey levels of spread
SHADOW = (12.0, 25.0)            # kept background: how much darker beside the head than elsewhere
CLOTHES_DELTA_E = 20.0           # collar closer than this (CIE76) to the background: warn
MIN_CLOTHES_PIXELS = 100


@dataclass(frozen=True)
class Rule:
    """One line of the report."""

    id: str
    label: str
    status: str
    value: float | int | str | None
    unit: str
    allowed: list | str | None
    hint: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Geometry:
    """The one measurement every rule reads: the head in output pixels and millimetres."""

    crown_row: float
    chin_row: float
    eye_row: float
    centre_col: float
    head_px: float
    ppm: float
    size: tuple[int, int]

    @property
    def head_mm(self) -> float:
        return self.head_px / self.ppm

    @property
    def eyes_from_bottom_mm(self) -> float:
        return (self.size[1] - self.eye_row) / self.ppm

    @property
    def top_margin_mm(self) -> float:
        return self.crown_row / self.ppm

    @property
    def centre_offset_mm(self) -> float:
        return (self.centre_col - self.size[0] / 2) / self.ppm


def measure(frame: Frame, dpi: int) -> Geometry:
    """The head of the upright source, mapped through the frame's transform into the output."""
    head = frame.head
    centre_col, eye_row = frame.output_point(head.centre_x, head.eye_y)
    return Geometry(crown_row=frame.output_point(head.centre_x, head.crown_y)[1],
                    chin_row=frame.output_point(head.centre_x, head.chin_y)[1], eye_row=eye_row,
                    centre_col=centre_col, head_px=frame.scale * head.height, ppm=px_per_mm(dpi), size=frame.size)


def _in_range(value: float, low: float, high: float) -> bool:
    return low - 1e-6 <= value <= high + 1e-6


def _cut_hint(frame: Frame) -> str | None:
    """Why the head cannot be measured whole, when the source photo cuts it."""
    if frame.head.crown_cut:
        return "The top of your head is cut off in your photo: use one with space above your hair."
    if frame.head.chin_cut:
        return "Your chin is cut off in your photo: use one that shows your shoulders."
    return None


def head_height_rule(geometry: Geometry, preset: Preset, frame: Frame) -> Rule:
    low, high = preset.head_mm
    value = geometry.head_mm
    status = PASS if _in_range(value, low, high) else FAIL
    hint = "Head size is right." if status == PASS else \
        "The head is too small: use a photo taken closer." if value < low else \
        "The head is too large: move back from the camera so your whole head fits with space around it."
    if _cut_hint(frame):
        status, hint = FAIL, _cut_hint(frame)
    elif not frame.head.crown_from_mask and status == PASS:
        status, hint = WARN, "The top of the head was estimated (the cut-out missed it): check the result."
    return Rule("head_height", "Head height, chin to crown", status, round(value, 1), "mm", [low, high], hint)


def eye_line_rule(geometry: Geometry, preset: Preset) -> Rule | None:
    if not preset.eyes_from_bottom_mm:
        return None
    low, high = preset.eyes_from_bottom_mm
    value = geometry.eyes_from_bottom_mm
    ok = _in_range(value, low, high)
    hint = "Eye line is in the allowed band." if ok else \
        "The eyes sit too low: your photo has too little room above your head." if value < low else \
        "The eyes sit too high: your photo has too little room below your chin."
    return Rule("eye_line", "Eye line above the bottom edge", PASS if ok else FAIL, round(value, 1), "mm",
                [low, high], hint)


def top_margin_rule(geometry: Geometry, preset: Preset, frame: Frame) -> Rule:
    """Space above the crown; when the source cuts the crown there is nothing honest to measure."""
    low, high = preset.top_margin_mm or (0.0, None)
    if frame.head.crown_cut:
        return Rule("top_margin", "Space above the head", FAIL, None, "mm", [low, high], _cut_hint(frame))
    value = geometry.top_margin_mm
    ok = value >= low - 1e-6 and (high is None or value <= high + 1e-6)
    return Rule("top_margin", "Space above the head", PASS if ok else FAIL, round(value, 1), "mm", [low, high],
                "There is room above the head." if ok else "The head touches or leaves the top edge.")


def _ran_out(frame: Frame) -> str:
    return "right" if frame.shift_px > 0 else "left"


def centring_rule(geometry: Geometry, frame: Frame) -> Rule:
    """Framing centres the face; it only moves it when the photo ends close beside the face."""
    offset = geometry.centre_offset_mm
    side = "right" if offset > 0 else "left"
    if abs(offset) <= CENTRING_MM:
        hint = "The face is centred." if frame.adjusted else "The face is centred (the app placed it)."
        status = PASS
    elif frame.adjusted:
        status = WARN if abs(offset) <= 2 * CENTRING_MM else FAIL
        hint = f"You moved the face {abs(offset):.1f} mm to the {side}: documents want it centred."
    else:
        status = WARN
        hint = (f"Your photo ends close to the {_ran_out(frame)} of your face, so the face sits {abs(offset):.1f} mm "
                "off centre to avoid filling an edge: use a photo with more room beside you.")
    return Rule("centring", "Face centred left to right", status, round(offset, 1), "mm",
                [-CENTRING_MM, CENTRING_MM], hint)


def roll_rule(frame: Frame) -> Rule:
    """Tilt as photographed; the app levels up to 10 degrees, so only a larger tilt is the user's to fix."""
    roll = frame.roll_deg
    if frame.roll_corrected or abs(roll) < 0.05:
        hint = f"A tilt of {abs(roll):.1f} deg was levelled by the app." if frame.roll_corrected else "The head is level."
        status = PASS
    else:
        status = FAIL
        hint = (f"The head is tilted {abs(roll):.1f} deg, more than the app levels "
                f"({MAX_ROLL_CORRECTION_DEG:.0f} deg): hold your head and the camera straight.")
    return Rule("roll", "Head tilt (eyes level)", status, round(roll, 1), "deg",
                [-MAX_ROLL_CORRECTION_DEG, MAX_ROLL_CORRECTION_DEG], hint)


def face_count_rule(count: int, number: int) -> Rule:
    hint = "One face found." if count == 1 else f"Face {number} of {count} was used, as chosen."
    return Rule("face_count", "One face chosen", PASS, count, "faces", [1, 1] if count == 1 else None, hint)


def method_rule(preset: Preset, replaced: bool) -> Rule:
    """Which background rule applied, with the document's own words."""
    if replaced:
        hint = f"The background was replaced: the document allows it. {preset.background_rule}"
    else:
        hint = f"The photo's own background was kept, only cropped and scaled: {preset.background_rule}"
    return Rule("background_method", "Background replaced or kept", PASS, "replaced" if replaced else "kept", "",
                None, hint)


def colour_allowed_rule(colour: DocumentColour, preset: Preset) -> Rule:
    allowed = list(preset.backgrounds)
    ok = colour.name in allowed
    return Rule("background_colour", "Background colour allowed", PASS if ok else FAIL, colour.name or colour.hex, "",
                allowed,
                "The colour is one this document accepts." if ok else
                f"This document needs a {' or '.join(allowed)} background.")


def _body(out_alpha: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The person region joined to the chin (or the eyes) in the output."""
    person = (out_alpha >= ALPHA_ON).astype(np.uint8)
    _, labels = cv2.connectedComponents(person, connectivity=8)
    height, width = out_alpha.shape
    row = int(np.clip(geometry.chin_row, 0, height - 1))
    col = int(np.clip(geometry.centre_col, 0, width - 1))
    seed = labels[row, col] or labels[int(np.clip(geometry.eye_row, 0, height - 1)), col]
    return (labels == seed) if seed else np.zeros_like(person, bool)


def cutout_rules(out_alpha: np.ndarray, geometry: Geometry, removed_share: float) -> list[Rule]:
    """Does the cut-out hold only the person? Pieces not joined to the body were removed (say so);
    uncertain matte away from the outline (leaves in hair, a pole by the head) fails."""
    rules = []
    if removed_share > 0.001:
        rules.append(Rule("cutout_pieces", "Cut-out holds only you", WARN, round(100 * removed_share, 1), "%",
                          [0, 0.1], "Pieces of the old scene not joined to you (other people, objects) were taken "
                          "out of the cut-out: check the result."))
    else:
        rules.append(Rule("cutout_pieces", "Cut-out holds only you", PASS, round(100 * removed_share, 1), "%",
                          [0, 0.1], "Nothing but you was cut out."))
    body = _body(out_alpha, geometry)
    band = max(3, int(EDGE_BAND * out_alpha.shape[1])) * 2 + 1
    edge = cv2.morphologyEx(body.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((band, band), np.uint8)) > 0
    uncertain = (out_alpha > UNCERTAIN[0]) & (out_alpha < UNCERTAIN[1]) & ~edge
    share = float(uncertain.mean())
    status = PASS if share <= UNCERTAIN_SHARE[0] else WARN if share <= UNCERTAIN_SHARE[1] else FAIL
    hint = "The cut-out's outline is clean." if status == PASS else \
        "The cut-out is unsure about parts of the photo (things in or near your hair, objects touching you): " \
        "use a photo taken against a plain wall."
    rules.append(Rule("cutout_clean", "Cut-out outline clean (unsure area)", status, round(100 * share, 2), "%",
                      [0, 100 * UNCERTAIN_SHARE[0]], hint))
    return rules


def _grade(value: float, limits: tuple[float, float]) -> str:
    return PASS if value <= limits[0] else WARN if value <= limits[1] else FAIL


def kept_background_rules(out_rgb: np.ndarray, out_alpha: np.ndarray, geometry: Geometry, preset: Preset,
                          covered: np.ndarray) -> list[Rule]:
    """Grade the photo's own background: an allowed colour, even, no shadow beside the head."""
    edge = max(3, out_alpha.shape[0] // 100) * 2 + 1  # keep clear of the hair's soft edge
    region = cv2.erode(((out_alpha < ALPHA_ON) & covered).astype(np.uint8), np.ones((edge, edge), np.uint8)) > 0
    if region.mean() < MIN_BACKGROUND_SHARE:
        return [Rule("background_uniform", "Background plain and even", WARN, None, "", None,
                     "Almost no background is visible: move back from the wall or the camera.")]
    pixels = out_rgb[region].astype(np.float32)
    mean = pixels.mean(axis=0)
    colours = {name: np.array(named_colours()[name], np.float32) for name in preset.backgrounds}
    nearest = min(colours, key=lambda name: float(np.abs(colours[name] - mean).max()))
    distance = float(np.abs(colours[nearest] - mean).max())
    looks = "#%02X%02X%02X" % tuple(int(v) for v in mean)
    status = _grade(distance, KEPT_COLOUR)
    rules = [Rule("background_colour", "Background colour allowed (as photographed)", status, looks, "",
                  list(preset.backgrounds), f"Close to {nearest.replace('-', ' ')}." if status == PASS else
                  f"The background looks {looks}, not {' or '.join(preset.backgrounds)}: take the photo against "
                  "a plain wall of an allowed colour in even light.")]
    spread = float(pixels.std(axis=0).mean())
    rules.append(Rule("background_uniform", "Background plain and even (spread in grey levels)", _grade(spread, KEPT_SPREAD),
                      round(spread, 1), "levels", [0, KEPT_SPREAD[0]],
                      "The background is plain." if spread <= KEPT_SPREAD[0] else
                      "The background is uneven or busy: use a plain wall, away from objects."))
    rules.append(_shadow_rule(out_rgb, region, geometry))
    return rules


def _shadow_rule(out_rgb: np.ndarray, region: np.ndarray, geometry: Geometry) -> Rule:
    """Background beside the head compared with the rest: a shadow cast on the wall shows as darker."""
    grey = cv2.cvtColor(out_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    near = np.zeros_like(region)
    top, bottom = int(max(0, geometry.crown_row)), int(max(0, geometry.chin_row))
    reach = int(0.6 * geometry.head_px)
    near[top:bottom, int(max(0, geometry.centre_col - reach)):int(geometry.centre_col + reach)] = True
    beside, far = region & near, region & ~near
    if beside.sum() < 50 or far.sum() < 50:
        return Rule("background_shadow", "No shadow behind the head", PASS, None, "levels", [0, SHADOW[0]],
                    "Too little background beside the head to judge.")
    darker = float(grey[far].mean() - grey[beside].mean())
    status = _grade(darker, SHADOW)
    return Rule("background_shadow", "No shadow behind the head", status, round(darker, 1), "levels", [0, SHADOW[0]],
                "No shadow behind the head." if status == PASS else
                "The background is darker around your head: stand further from the wall, light it evenly.")


def _lab(rgb) -> np.ndarray:
    """CIE L*a*b* of one RGB colour (OpenCV's 8-bit Lab scales L to 0-255; undo that for dE)."""
    lab = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2LAB)[0, 0].astype(np.float32)
    return lab * np.array([100 / 255, 1, 1], np.float32)


def clothes_rule(out_rgb: np.ndarray, out_alpha: np.ndarray, geometry: Geometry, colour: DocumentColour,
                 preset: Preset, replaced: bool) -> Rule | None:
    """Warn when the garment at the collar line nearly matches the background (white shirt on white)."""
    height, width = out_alpha.shape
    top, bottom = int(geometry.chin_row + 0.1 * geometry.head_px), int(geometry.chin_row + 0.35 * geometry.head_px)
    left, right = int(geometry.centre_col - 0.5 * geometry.head_px), int(geometry.centre_col + 0.5 * geometry.head_px)
    top, bottom, left, right = max(0, top), min(height, bottom), max(0, left), min(width, right)
    collar = out_rgb[top:bottom, left:right][out_alpha[top:bottom, left:right] >= ALPHA_ON]
    if len(collar) < MIN_CLOTHES_PIXELS:
        return None
    garment = _lab(np.median(collar, axis=0))
    delta = float(np.linalg.norm(garment - _lab(colour.rgb)))
    if delta >= CLOTHES_DELTA_E:
        return Rule("clothes_contrast", "Clothes stand out from the background", PASS, round(delta, 1), "dE",
                    [CLOTHES_DELTA_E, None], "Your clothes contrast with the background.")
    colours = named_colours()
    best = max(preset.backgrounds, key=lambda n: np.linalg.norm(garment - _lab(colours[n])))
    best_delta = float(np.linalg.norm(garment - _lab(colours[best])))
    if replaced and best_delta >= CLOTHES_DELTA_E:
        advice = f"choose the {best.replace('-', ' ')} background, which contrasts with them."
    else:
        advice = "wear clothes of a different colour (every background this document allows is close to them)." \
            if replaced else "wear clothes that differ from the wall behind you."
    return Rule("clothes_contrast", "Clothes stand out from the background", WARN, round(delta, 1), "dE",
                [CLOTHES_DELTA_E, None], f"Your clothes at the collar are close in colour to the background: {advice}")


def resolution_rule(scale: float, dpi: int) -> Rule:
    effective = dpi / scale
    status = PASS if scale <= RESOLUTION[0] else WARN if scale <= RESOLUTION[1] else FAIL
    hint = "The photo has enough detail for this size." if status == PASS else \
        f"The photo was enlarged {scale:.1f}x (about {effective:.0f} DPI of real detail): use a sharper, " \
        "higher-resolution photo or come closer to the camera."
    return Rule("resolution", "Photo resolution for the DPI", status, round(effective), "dpi",
                [round(dpi / RESOLUTION[0]), None], hint)


def padding_rule(frame: Frame, cut_sides: list[str], replaced: bool) -> Rule:
    """Padding fails where it crosses the body, or anywhere when the photo's own background is kept;
    framing pads only when no allowed head size and position avoids it. With a replaced background,
    colour added beyond an edge the person does not touch looks like the rest of the background."""
    area = 100 * frame.padding["area"]
    sides = cut_sides if replaced else frame.padded_sides
    if not frame.padded or (replaced and not cut_sides):
        hint = "The photo fills the frame." if not frame.padded else \
            "The background colour continues where your photo ended; no part of you is cut."
        return Rule("padding", "Photo fills the frame", PASS, round(area, 1), "%", [0, 0], hint)
    where = ", ".join(sides or frame.padded_sides) or "edges"
    return Rule("padding", "Photo fills the frame", FAIL, round(area, 1), "%", [0, 0],
                f"Your photo ends too close to you: colour had to be added at the {where} at every allowed head "
                "size. Use a photo with more room around you (shoulders in the picture).")


def overall(statuses: Iterable[str]) -> str:
    """The worst status: one failed rule fails the photo."""
    statuses = set(statuses)
    return FAIL if FAIL in statuses else WARN if WARN in statuses else PASS


def build_report(preset: Preset, dpi: int, colour: DocumentColour, frame: Frame,
                 faces: tuple[int, int], out_rgb: np.ndarray, out_alpha: np.ndarray, covered: np.ndarray,
                 removed_share: float, cut_sides: list[str]) -> dict:
    """The JSON-ready report. ``faces`` is (count, number used); ``covered`` marks output pixels from the
    source; ``removed_share`` is the share of the photo taken out of the cut-out as not joined to the body;
    ``cut_sides`` are the edges where the frame is padded across the body."""
    geometry = measure(frame, dpi)
    replaced = preset.replace_background
    if replaced:
        background = [colour_allowed_rule(colour, preset), *cutout_rules(out_alpha, geometry, removed_share)]
    else:
        background = kept_background_rules(out_rgb, out_alpha, geometry, preset, covered)
    rules = [face_count_rule(*faces), head_height_rule(geometry, preset, frame), eye_line_rule(geometry, preset),
             top_margin_rule(geometry, preset, frame), centring_rule(geometry, frame), roll_rule(frame),
             method_rule(preset, replaced), *background,
             clothes_rule(out_rgb, out_alpha, geometry, colour, preset, replaced),
             resolution_rule(frame.scale, dpi), padding_rule(frame, cut_sides, replaced)]
    rules = [r for r in rules if r is not None]
    return {"preset": preset.id, "preset_name": preset.name, "size_px": list(frame.size), "dpi": dpi,
            "size_mm": [round(preset.width_mm, 1), round(preset.height_mm, 1)],
            "background": colour.hex if replaced else None, "background_method": "replaced" if replaced else "kept",
            "overall": overall(r.status for r in rules), "rules": [r.to_dict() for r in rules]}
