"""Scale, level and crop a portrait so the head lands where an ID-photo preset wants it.

Geometry only: the photo arrives with its new background already composited (ml.compose) and its
person alpha; this module finds the crown in the alpha and the chin and eyes from the face, then
builds one affine transform (roll about the eye midpoint, scale, shift) and applies it. Where the
source does not reach the output's edges the gap is filled with the background colour.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml.idphoto.face import Face
from ml.idphoto.presets import Preset, px_per_mm

MAX_ROLL_CORRECTION_DEG = 10.0  # larger tilts are left alone and reported: rotating more looks fake
TOP_SHARE_OF_FREE_SPACE = 0.4   # with no eye or margin rule: 40 % of the spare height goes above the head
ALPHA_ON = 128                  # alpha at or above this is the person
CROWN_BAND = 0.3                # columns searched for the crown: face centre +- this x face width
CROWN_PERCENTILE = 5            # the crown is the top of the dome, robust to a few stray pixels
MIN_MASKED_COLUMNS = 0.3        # below this share of crown columns on the person, the mask missed the head
CROWN_FALLBACK_RATIO = 1.0      # eye-to-crown ~ eye-to-chin when the mask cannot tell (adult heads)


@dataclass(frozen=True)
class Head:
    """The head in an upright (roll-corrected) source frame, in source pixels."""

    crown_y: float
    chin_y: float
    eye_y: float
    centre_x: float
    crown_from_mask: bool       # False: the crown was estimated from the face, the mask did not cover it
    crown_cut: bool             # True: the head touches the top edge, the real crown is out of the photo

    @property
    def height(self) -> float:
        return self.chin_y - self.crown_y


@dataclass(frozen=True)
class Frame:
    """How the source maps into the output: a 2x3 affine and what it was built from."""

    matrix: np.ndarray          # source pixel -> output pixel
    size: tuple[int, int]       # output (width, height)
    scale: float                # output pixels per source pixel
    roll_deg: float             # measured head tilt
    roll_corrected: bool
    head: Head                  # in the upright source frame

    def output_point(self, x: float, y: float) -> tuple[float, float]:
        """Where a point of the upright source frame lands in the output (rotation is about the eyes)."""
        eye_x, eye_y = self.matrix @ np.array([self.head.centre_x, self.head.eye_y, 1.0])
        return eye_x + self.scale * (x - self.head.centre_x), eye_y + self.scale * (y - self.head.eye_y)


def rotation_about(centre: tuple[float, float], angle_deg: float) -> np.ndarray:
    """2x3 matrix rotating by ``angle_deg`` counter-clockwise (as seen) about ``centre``."""
    return cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle_deg, 1.0)


def find_crown(alpha: np.ndarray, centre_x: float, eye_y: float, face_width: float) -> tuple[float, bool, bool]:
    """(crown y, found in the mask, cut by the top edge): the person's top edge above the eyes.

    Each column near the face centre is followed upwards from the eye line while it stays on the
    person, so only the region connected to the face counts (a raised hand elsewhere does not).
    """
    height, width = alpha.shape
    x0 = int(np.clip(centre_x - CROWN_BAND * face_width, 0, width - 1))
    x1 = int(np.clip(centre_x + CROWN_BAND * face_width, x0 + 1, width))
    start = int(np.clip(eye_y, 0, height - 1))
    on_person = alpha[:start + 1, x0:x1][::-1] >= ALPHA_ON
    run = np.cumprod(on_person, axis=0).sum(axis=0)
    masked = run > 0
    if masked.mean() < MIN_MASKED_COLUMNS:
        return float(eye_y), False, False
    tops = start + 1 - run[masked]
    crown = float(np.percentile(tops, CROWN_PERCENTILE))
    return crown, True, bool(crown <= 0)


def upright_head(alpha: np.ndarray, face: Face, angle_deg: float) -> Head:
    """Crown, chin and eye line with the head levelled by ``angle_deg`` about the eye midpoint."""
    centre = (face.centre_x, face.eye_y)
    if angle_deg:
        rot = rotation_about(centre, angle_deg)
        alpha = cv2.warpAffine(alpha, rot, (alpha.shape[1], alpha.shape[0]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    chin = face.chin_y
    crown, from_mask, cut = find_crown(alpha, face.centre_x, face.eye_y, face.width)
    if not from_mask:
        crown = face.eye_y - CROWN_FALLBACK_RATIO * (chin - face.eye_y)
    return Head(crown_y=crown, chin_y=chin, eye_y=face.eye_y, centre_x=face.centre_x,
                crown_from_mask=from_mask, crown_cut=cut)


def _target_eye_y(preset: Preset, size: tuple[int, int], ppm: float, head: Head, scale: float) -> float:
    """Output row of the eye line: the preset's eye rule, else its top margin, else a balanced layout."""
    out_h = size[1]
    eye_to_crown = scale * (head.eye_y - head.crown_y)
    if preset.eyes_from_bottom_mm:
        return out_h - ppm * sum(preset.eyes_from_bottom_mm) / 2
    head_px = scale * head.height
    if preset.top_margin_mm:
        crown_out = ppm * sum(preset.top_margin_mm) / 2
    else:
        crown_out = TOP_SHARE_OF_FREE_SPACE * (out_h - head_px)
    return crown_out + eye_to_crown


def plan_frame(alpha: np.ndarray, face: Face, preset: Preset, dpi: int) -> Frame:
    """The transform that puts the head at the middle of the preset's ranges, face centred."""
    size = preset.pixel_size(dpi)
    ppm = px_per_mm(dpi)
    roll = face.roll_deg
    corrected = abs(roll) <= MAX_ROLL_CORRECTION_DEG and roll != 0.0
    head = upright_head(alpha, face, roll if corrected else 0.0)
    scale = ppm * sum(preset.head_mm) / 2 / max(head.height, 1.0)
    eye_out = _target_eye_y(preset, size, ppm, head, scale)
    rot = rotation_about((head.centre_x, head.eye_y), roll if corrected else 0.0)
    linear = scale * rot[:, :2]
    shift = np.array([size[0] / 2, eye_out]) - linear @ np.array([head.centre_x, head.eye_y])
    matrix = np.hstack([linear, shift[:, None]])
    return Frame(matrix=matrix, size=size, scale=scale, roll_deg=roll, roll_corrected=corrected, head=head)


def source_window(frame: Frame, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the source pixels the output can see, plus a small margin.

    Compositing only this window instead of a whole 12 MP photo keeps the cost to the output's size.
    """
    inverse = cv2.invertAffineTransform(frame.matrix)
    width, height = frame.size
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], np.float64)
    points = corners @ inverse.T
    margin = 2 + 2 / frame.scale
    left, top = np.floor(points.min(axis=0) - margin).astype(int)
    right, bottom = np.ceil(points.max(axis=0) + margin).astype(int)
    top, left = max(0, min(top, shape[0] - 1)), max(0, min(left, shape[1] - 1))
    return top, max(top + 1, min(bottom, shape[0])), left, max(left + 1, min(right, shape[1]))


def apply_frame(image: np.ndarray, frame: Frame, fill: tuple[int, ...] | int,
                offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Warp ``image`` (RGB or alpha) into the output; ``offset`` is (left, top) of a source window.

    Shrinking goes through INTER_AREA first: a straight warp would alias a large photo.
    """
    matrix = frame.matrix.copy()
    matrix[:, 2] += matrix[:, :2] @ np.array(offset, np.float64)
    if frame.scale < 1.0:
        image = cv2.resize(image, None, fx=frame.scale, fy=frame.scale, interpolation=cv2.INTER_AREA)
        matrix[:, :2] /= frame.scale
    interpolation = cv2.INTER_CUBIC if frame.scale >= 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, frame.size, flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def padding_share(source_shape: tuple[int, int], frame: Frame) -> dict[str, float]:
    """Share of each output edge's strip that lies outside the source (0 = photo fills it)."""
    coverage = cv2.warpAffine(np.full(source_shape, 255, np.uint8), frame.matrix, frame.size,
                              flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return {"top": float(1 - coverage[0].mean()), "bottom": float(1 - coverage[-1].mean()),
            "left": float(1 - coverage[:, 0].mean()), "right": float(1 - coverage[:, -1].mean()),
            "area": float(1 - coverage.mean())}
