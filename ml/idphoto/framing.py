"""Scale, level and crop a portrait so the head lands where an ID-photo preset wants it.

Geometry only: this module finds the crown in the person alpha and the chin and eyes from the face,
then builds one affine transform (roll about the eye midpoint, scale, shift). The transform is
chosen among every allowed head size, eye height and a small sideways shift so that the output lies
inside the source photo: the photo is padded with colour only when no allowed choice avoids it.
Preference order: no padding, then the face exactly centred, then the head size nearest the middle
of the range, then the eye line nearest its middle.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from ml.idphoto.face import Face
from ml.idphoto.presets import Preset, px_per_mm

MAX_ROLL_CORRECTION_DEG = 10.0  # larger tilts are left alone and reported: rotating more looks fake
TOP_SHARE = (0.25, 0.55)        # no eye or margin rule: share of the spare height above the head
MIN_TOP_MM = 1.0                # crown at least this far below the top edge unless the preset says otherwise
HEAD_INSET = 0.25               # head sizes: stay this share of the range away from its ends (the chin is
                                # estimated from the face box, which varies by about 1 mm between scales)
RANGE_INSET = 0.1               # eye line and top margin: the same for their ranges
MAX_SHIFT_MM = 2.0              # the face may move this far off centre to avoid padding (reported)
STEPS = 9                       # candidate values per range
ALPHA_ON = 128                  # alpha at or above this is the person
CROWN_BAND = 0.3                # columns searched for the crown: face centre +- this x face width
CROWN_PERCENTILE = 5            # the crown is the top of the dome, robust to a few stray pixels
MIN_MASKED_COLUMNS = 0.3        # below this share of crown columns on the person, the mask missed the head
CROWN_FALLBACK_RATIO = 1.0      # eye-to-crown ~ eye-to-chin when the mask cannot tell (adult heads)
PADDING_TOLERANCE = 0.001       # padded share of the photo below this is rounding at the edge
MAX_USER_SHIFT_MM = 5.0         # how far a user may move the face off centre


@dataclass(frozen=True)
class Head:
    """The head in an upright (roll-corrected) source frame, in source pixels."""

    crown_y: float
    chin_y: float
    eye_y: float
    centre_x: float
    crown_from_mask: bool       # False: the crown was estimated from the face, the mask did not cover it
    crown_cut: bool             # True: the head touches the top edge, the real crown is out of the photo
    chin_cut: bool              # True: the chin lies below the bottom edge of the photo

    @property
    def height(self) -> float:
        return self.chin_y - self.crown_y


@dataclass(frozen=True)
class Adjustment:
    """A crop the user set by hand, in millimetres: the head height (held inside the preset's range),
    the face centre's offset from the middle (right is positive) and the space above the crown
    (None: where the app would put it)."""

    head_mm: float
    offset_mm: float = 0.0
    top_mm: float | None = None


@dataclass(frozen=True)
class Frame:
    """How the source maps into the output: a 2x3 affine, what it was built from, what it padded."""

    matrix: np.ndarray          # source pixel -> output pixel
    size: tuple[int, int]       # output (width, height)
    scale: float                # output pixels per source pixel
    roll_deg: float             # measured head tilt in the source
    roll_corrected: bool
    head: Head                  # in the upright source frame
    shift_px: float             # face centre moved this far right of the output centre to avoid padding
    padding: dict[str, float]   # share of each output edge (and of the area) outside the source
    adjusted: bool = False      # the user set head size and place by hand (Adjustment)

    def output_point(self, x: float, y: float) -> tuple[float, float]:
        """Where a point of the upright source frame lands in the output (rotation is about the eyes)."""
        eye_x, eye_y = self.matrix @ np.array([self.head.centre_x, self.head.eye_y, 1.0])
        return eye_x + self.scale * (x - self.head.centre_x), eye_y + self.scale * (y - self.head.eye_y)

    @property
    def padded_sides(self) -> list[str]:
        return [side for side in ("top", "bottom", "left", "right") if self.padding[side] > 0.02]

    @property
    def padded(self) -> bool:
        return self.padding["area"] > PADDING_TOLERANCE


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
                crown_from_mask=from_mask, crown_cut=cut, chin_cut=bool(chin > alpha.shape[0]))


def _inset(low: float, high: float, inset: float = RANGE_INSET) -> np.ndarray:
    """Candidate values inside (low, high), the middle first."""
    margin = inset * (high - low)
    values = np.linspace(low + margin, high - margin, STEPS)
    return values[np.argsort(np.abs(values - (low + high) / 2), kind="stable")]


def _eye_rows(preset: Preset, height: int, ppm: float, head_px: float, eye_to_crown_px: float) -> np.ndarray:
    """Candidate output rows of the eye line: the preset's eye band, its top margin, or a balanced layout."""
    if preset.eyes_from_bottom_mm:
        return height - ppm * _inset(*preset.eyes_from_bottom_mm)
    if preset.top_margin_mm:
        return ppm * _inset(*preset.top_margin_mm) + eye_to_crown_px
    return _inset(*TOP_SHARE) * (height - head_px) + eye_to_crown_px


def _matrix(head: Head, roll: float, scale: float, eye_out: tuple[float, float]) -> np.ndarray:
    rot = rotation_about((head.centre_x, head.eye_y), roll)
    linear = scale * rot[:, :2]
    shift = np.array(eye_out) - linear @ np.array([head.centre_x, head.eye_y])
    return np.hstack([linear, shift[:, None]])


def beyond_edges(matrix: np.ndarray, size: tuple[int, int], shape: tuple[int, int]) -> dict[str, float]:
    """How far (source px) the output reaches past each edge of the source photo; 0 = not past it."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size[0], 0, 1], [0, size[1], 1], [size[0], size[1], 1]], np.float64)
    points = corners @ inverse.T
    low, high = points.min(axis=0), points.max(axis=0)
    return {"top": float(max(0, -low[1])), "bottom": float(max(0, high[1] - shape[0])),
            "left": float(max(0, -low[0])), "right": float(max(0, high[0] - shape[1]))}


def _overhang(matrix: np.ndarray, size: tuple[int, int], shape: tuple[int, int]) -> float:
    """How far (source px) the output's corners reach outside the source; 0 = the photo covers the output."""
    return max(beyond_edges(matrix, size, shape).values())


def body_cut_sides(alpha: np.ndarray, frame: Frame) -> list[str]:
    """Edges of the source that the output reaches past while the person touches them there: the
    frame is padded across the body (a replaced background hides padding anywhere else)."""
    beyond = beyond_edges(frame.matrix, frame.size, alpha.shape)
    top, bottom, left, right = source_window(frame, alpha.shape)
    edges = {"top": alpha[0, left:right], "bottom": alpha[-1, left:right],
             "left": alpha[top:bottom, 0], "right": alpha[top:bottom, -1]}
    return [side for side, far in beyond.items() if far > 0.5 and (edges[side] >= ALPHA_ON).any()]


def plan_frame(alpha: np.ndarray, face: Face, preset: Preset, dpi: int, adjust: Adjustment | None = None) -> Frame:
    """The transform that frames the head within the preset's ranges without padding where possible,
    or as the user adjusted it (head size held inside the range, the move limited)."""
    size = preset.pixel_size(dpi)
    ppm = px_per_mm(dpi)
    roll = face.roll_deg
    corrected = abs(roll) <= MAX_ROLL_CORRECTION_DEG and roll != 0.0
    turn = roll if corrected else 0.0
    head = upright_head(alpha, face, turn)
    min_top = ppm * (preset.top_margin_mm[0] if preset.top_margin_mm else MIN_TOP_MM)
    if adjust:
        return _adjusted_frame(alpha, preset, size, ppm, head, roll, corrected, adjust)
    shifts = [0.0] + [s for step in np.linspace(0, MAX_SHIFT_MM * ppm, 5)[1:] for s in (step, -step)]
    candidates = []
    for dx, (rank, head_mm) in itertools.product(shifts, enumerate(_inset(*preset.head_mm, HEAD_INSET))):
        scale = ppm * head_mm / max(head.height, 1.0)
        eye_to_crown = scale * (head.eye_y - head.crown_y)
        for eye_rank, eye_row in enumerate(_eye_rows(preset, size[1], ppm, scale * head.height, eye_to_crown)):
            if eye_row - eye_to_crown < min_top or eye_row + scale * (head.chin_y - head.eye_y) > size[1]:
                continue
            matrix = _matrix(head, turn, scale, (size[0] / 2 + dx, eye_row))
            overhang = round(2 * _overhang(matrix, size, alpha.shape)) / 2
            candidates.append(((overhang, abs(dx), rank, eye_rank), matrix, scale, dx))
    if not candidates:  # the head is too tall for the photo at any allowed size: top margin, middle size
        scale = ppm * sum(preset.head_mm) / 2 / max(head.height, 1.0)
        eye_row = min_top + scale * (head.eye_y - head.crown_y)
        candidates.append(((0,), _matrix(head, turn, scale, (size[0] / 2, eye_row)), scale, 0.0))
    best = min(candidates, key=lambda candidate: candidate[0])
    if best[0][0] > 0:  # padded whatever we do: then at least keep the face centred
        best = min((c for c in candidates if c[3] == 0.0), key=lambda candidate: candidate[0], default=best)
    _, matrix, scale, dx = best
    return Frame(matrix=matrix, size=size, scale=scale, roll_deg=roll, roll_corrected=corrected, head=head,
                 shift_px=dx, padding=padding_share(alpha.shape, matrix, size))


def _adjusted_frame(alpha: np.ndarray, preset: Preset, size: tuple[int, int], ppm: float, head: Head, roll: float,
                    corrected: bool, adjust: Adjustment) -> Frame:
    """The user's crop: head height clipped into the range, the face where they put it, with the eye
    line kept in its band and the head inside the photo."""
    head_mm = float(np.clip(adjust.head_mm, *preset.head_mm))
    scale = ppm * head_mm / max(head.height, 1.0)
    eye_to_crown, eye_to_chin = scale * (head.eye_y - head.crown_y), scale * (head.chin_y - head.eye_y)
    eye_row = _eye_rows(preset, size[1], ppm, scale * head.height, eye_to_crown)[0] if adjust.top_mm is None \
        else ppm * adjust.top_mm + eye_to_crown
    low, high = eye_to_crown, size[1] - eye_to_chin
    if preset.eyes_from_bottom_mm:
        low, high = max(low, size[1] - ppm * preset.eyes_from_bottom_mm[1]), \
            min(high, size[1] - ppm * preset.eyes_from_bottom_mm[0])
    eye_row = float(np.clip(eye_row, low, max(low, high)))
    dx = ppm * float(np.clip(adjust.offset_mm, -MAX_USER_SHIFT_MM, MAX_USER_SHIFT_MM))
    matrix = _matrix(head, roll if corrected else 0.0, scale, (size[0] / 2 + dx, eye_row))
    return Frame(matrix=matrix, size=size, scale=scale, roll_deg=roll, roll_corrected=corrected, head=head,
                 shift_px=dx, padding=padding_share(alpha.shape, matrix, size), adjusted=True)


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


def padding_share(source_shape: tuple[int, int], matrix: np.ndarray, size: tuple[int, int]) -> dict[str, float]:
    """Share of each output edge's strip that lies outside the source (0 = photo fills it)."""
    coverage = cv2.warpAffine(np.full(source_shape, 255, np.uint8), matrix, size,
                              flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return {"top": float(1 - coverage[0].mean()), "bottom": float(1 - coverage[-1].mean()),
            "left": float(1 - coverage[:, 0].mean()), "right": float(1 - coverage[:, -1].mean()),
            "area": float(1 - coverage.mean())}
