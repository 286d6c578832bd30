"""The compliance report: every preset rule measured on the finished photo, with a plain hint.

Measurements are taken from the output itself (the face is found again in it, the crown is read
from the transformed person mask), not copied from the framing plan, so the report checks the
result rather than repeating what framing aimed for.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ml.idphoto.face import CHIN_BELOW_BOX, EYE_LINE_IN_BOX, Face, detect_faces
from ml.idphoto.framing import MAX_ROLL_CORRECTION_DEG, Frame, find_crown
from ml.idphoto.presets import Preset, hex_to_rgb, px_per_mm

PASS, WARN, FAIL = "pass", "warn", "fail"
CENTRING_MM = (1.0, 2.0)         # off-centre up to 1 mm passes, up to 2 mm warns
RESOLUTION = (1.1, 2.0)          # output px per source px: up to 1.1 passes, up to 2 warns
BACKGROUND_STD = (4.0, 12.0)     # grey levels of spread in the background: pass, warn limits
BACKGROUND_SHIFT = (8.0, 24.0)   # distance of the background's mean from the chosen colour
MIN_BACKGROUND_SHARE = 0.05
PADDING_AREA = 0.005             # more than 0.5 % of the photo filled with colour: say so
BACKGROUND_ALPHA = 128           # output alpha below this is background (half-transparent leftovers count)
CHIN_TO_EYE_PER_WIDTH = 1 - EYE_LINE_IN_BOX + CHIN_BELOW_BOX  # dlib boxes are square


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


def _in_range(value: float, low: float, high: float) -> bool:
    return low - 1e-6 <= value <= high + 1e-6


def head_height_rule(value_mm: float, preset: Preset, crown_from_mask: bool, crown_cut: bool) -> Rule:
    low, high = preset.head_mm
    status = PASS if _in_range(value_mm, low, high) else FAIL
    hint = "Head size is right."
    if value_mm < low:
        hint = "The head is too small: use a photo taken closer, or with more of your head in it."
    elif value_mm > high:
        hint = "The head is too large: move back from the camera so your whole head fits with space around it."
    if crown_cut:
        status, hint = FAIL, "The top of your head is cut off: move back so there is space above your hair."
    elif not crown_from_mask and status == PASS:
        status, hint = WARN, "The top of the head was estimated (the cut-out missed it): check the result."
    return Rule("head_height", "Head height, chin to crown", status, round(float(value_mm), 1), "mm", [low, high], hint)


def eye_line_rule(value_mm: float, preset: Preset) -> Rule | None:
    if not preset.eyes_from_bottom_mm:
        return None
    low, high = preset.eyes_from_bottom_mm
    ok = _in_range(value_mm, low, high)
    hint = "Eye line is in the allowed band." if ok else (
        "The eyes sit too low: leave less space above your head." if value_mm < low
        else "The eyes sit too high: leave more space above your head.")
    return Rule("eye_line", "Eye line above the bottom edge", PASS if ok else FAIL, round(float(value_mm), 1), "mm",
                [low, high], hint)


def top_margin_rule(value_mm: float, preset: Preset) -> Rule:
    low, high = preset.top_margin_mm or (0.0, None)
    ok = value_mm >= low - 1e-6 and (high is None or value_mm <= high + 1e-6)
    return Rule("top_margin", "Space above the head", PASS if ok else FAIL, round(float(value_mm), 1), "mm",
                [low, high], "There is room above the head." if ok else
                "The head touches or leaves the top edge: move back from the camera.")


def centring_rule(offset_mm: float) -> Rule:
    status = PASS if abs(offset_mm) <= CENTRING_MM[0] else WARN if abs(offset_mm) <= CENTRING_MM[1] else FAIL
    side = "right" if offset_mm > 0 else "left"
    hint = "The face is centred." if status == PASS else f"The face is {abs(offset_mm):.1f} mm to the {side}: " \
        "centre yourself in the frame and leave space on both sides."
    return Rule("centring", "Face centred left to right", status, round(float(offset_mm), 1), "mm",
                [-CENTRING_MM[0], CENTRING_MM[0]], hint)


def roll_rule(roll_deg: float, corrected: bool) -> Rule:
    status = PASS if corrected or abs(roll_deg) < 0.5 else WARN
    hint = (f"A tilt of {abs(roll_deg):.1f} deg was levelled." if corrected else "The head is level.") \
        if status == PASS else "The head is tilted too much to level: hold your head and the camera straight."
    return Rule("roll", "Head tilt (eyes level)", status, round(roll_deg, 1), "deg",
                [-MAX_ROLL_CORRECTION_DEG, MAX_ROLL_CORRECTION_DEG], hint)


def face_count_rule(count: int) -> Rule:
    ok = count == 1
    return Rule("face_count", "Exactly one face", PASS if ok else FAIL, count, "faces", [1, 1],
                "One face found." if ok else "Only you may be in the photo.")


def background_rules(out_rgb: np.ndarray, out_alpha: np.ndarray, colour: str, name: str | None,
                     preset: Preset) -> list[Rule]:
    """Is the background one flat colour, and one the document allows?"""
    rules = []
    allowed = list(preset.backgrounds)
    ok = name in allowed
    rules.append(Rule("background_colour", "Background colour allowed", PASS if ok else FAIL, name or colour, "",
                      allowed, "The colour is one this document accepts." if ok else
                      f"This document needs a {' or '.join(allowed)} background."))
    edge = max(3, out_alpha.shape[0] // 100) * 2 + 1  # keep clear of the hair's soft edge
    region = cv2.erode((out_alpha < BACKGROUND_ALPHA).astype(np.uint8), np.ones((edge, edge), np.uint8)) > 0
    if region.mean() < MIN_BACKGROUND_SHARE:
        rules.append(Rule("background_uniform", "Background plain and even", WARN, None, "", None,
                          "Almost no background is visible: move back from the camera."))
        return rules
    pixels = out_rgb[region].astype(np.float32)
    spread = float(pixels.std(axis=0).mean())
    shift = float(np.abs(pixels.mean(axis=0) - np.array(hex_to_rgb(colour))).max())
    status = PASS if spread <= BACKGROUND_STD[0] and shift <= BACKGROUND_SHIFT[0] else \
        WARN if spread <= BACKGROUND_STD[1] and shift <= BACKGROUND_SHIFT[1] else FAIL
    hint = "The background is plain." if status == PASS else \
        "Parts of the old background show through: use a photo taken against a plain wall, away from clutter."
    rules.append(Rule("background_uniform", "Background plain and even (spread in grey levels)", status,
                      round(spread, 1), "levels", [0, BACKGROUND_STD[0]], hint))
    return rules


def resolution_rule(scale: float, dpi: int) -> Rule:
    effective = dpi / scale
    status = PASS if scale <= RESOLUTION[0] else WARN if scale <= RESOLUTION[1] else FAIL
    hint = "The photo has enough detail for this size." if status == PASS else \
        f"The photo was enlarged {scale:.1f}x (about {effective:.0f} DPI of real detail): use a sharper, " \
        "higher-resolution photo or come closer to the camera."
    return Rule("resolution", "Photo resolution for the DPI", status, round(effective), "dpi",
                [round(dpi / RESOLUTION[0]), None], hint)


def padding_rule(padding: dict[str, float]) -> Rule:
    sides = [side for side in ("top", "bottom", "left", "right") if padding[side] > 0.02]
    status = PASS if padding["area"] <= PADDING_AREA else WARN
    hint = "The photo fills the frame." if status == PASS else \
        f"The photo was too tight; background colour was added at the {', '.join(sides) or 'edges'}: " \
        "move back from the camera so your shoulders are in the picture."
    return Rule("padding", "Photo fills the frame", status, round(100 * padding["area"], 1), "%", [0, 100 * PADDING_AREA],
                hint)


def overall(statuses: Iterable[str]) -> str:
    """The worst status: one failed rule fails the photo."""
    statuses = set(statuses)
    return FAIL if FAIL in statuses else WARN if WARN in statuses else PASS


def _measured_face(out_rgb: np.ndarray, frame: Frame) -> tuple[float, float, float, float, bool]:
    """(eye y, chin y, centre x, face width) in the output, found again by the detector; mapped when not."""
    faces: list[Face] = detect_faces(out_rgb)
    if faces:
        face = max(faces, key=lambda f: f.width)
        return face.eye_y, face.chin_y, face.centre_x, face.width, True
    head = frame.head
    centre_x, eye_y = frame.output_point(head.centre_x, head.eye_y)
    chin_y = frame.output_point(head.centre_x, head.chin_y)[1]
    return eye_y, chin_y, centre_x, (chin_y - eye_y) / CHIN_TO_EYE_PER_WIDTH, False


def measure(out_rgb: np.ndarray, out_alpha: np.ndarray, frame: Frame, dpi: int) -> dict:
    """Head geometry of the finished photo in millimetres."""
    ppm = px_per_mm(dpi)
    eye_y, chin_y, centre_x, face_width, refound = _measured_face(out_rgb, frame)
    crown, from_mask, _ = find_crown(out_alpha, centre_x, eye_y, face_width)
    if not from_mask:
        crown = frame.output_point(frame.head.centre_x, frame.head.crown_y)[1]
    height = out_rgb.shape[0]
    return {"head_mm": (chin_y - crown) / ppm, "eyes_from_bottom_mm": (height - eye_y) / ppm,
            "top_margin_mm": crown / ppm, "centre_offset_mm": (centre_x - out_rgb.shape[1] / 2) / ppm,
            "face_refound": refound}


def build_report(preset: Preset, dpi: int, colour: str, colour_name: str | None, frame: Frame,
                 out_rgb: np.ndarray, out_alpha: np.ndarray, padding: dict[str, float]) -> dict:
    """The JSON-ready report: measured values, allowed ranges, statuses and hints."""
    m = measure(out_rgb, out_alpha, frame, dpi)
    rules = [face_count_rule(1),
             head_height_rule(m["head_mm"], preset, frame.head.crown_from_mask, frame.head.crown_cut),
             eye_line_rule(m["eyes_from_bottom_mm"], preset), top_margin_rule(m["top_margin_mm"], preset),
             centring_rule(m["centre_offset_mm"]), roll_rule(frame.roll_deg, frame.roll_corrected),
             *background_rules(out_rgb, out_alpha, colour, colour_name, preset),
             resolution_rule(frame.scale, dpi), padding_rule(padding)]
    rules = [r for r in rules if r is not None]
    return {"preset": preset.id, "preset_name": preset.name, "size_px": list(frame.size), "dpi": dpi,
            "size_mm": [round(preset.width_mm, 1), round(preset.height_mm, 1)], "background": colour,
            "overall": overall(r.status for r in rules), "face_refound": m["face_refound"], "rules": [r.to_dict() for r in rules]}
