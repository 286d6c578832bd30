"""Face and eye finding for ID photos, with a detector that ships inside an installed package.

OpenCV 5 dropped its Haar cascades (cv2.data holds no XML files and cv2.CascadeClassifier is gone),
so the detector is dlib's HOG + linear-SVM frontal face detector, which is compiled into the
``dlib`` module itself (PyPI ``dlib-bin``): nothing is downloaded or read from disk. It finds
upright frontal faces, which is exactly what an ID photo needs, and returns a score per face.

Eyes are found in the face box as the two darkest blobs of the upper face (iris, lashes and the
eye-socket shadow are darker than skin at the scale of an eye). They are only trusted when their
geometry is plausible; otherwise the eye line falls back to a fixed fraction of the box.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
import threading

import cv2
import numpy as np

from ml.errors import FaceError, ModelError

DETECT_LONG_SIDE = 640          # faces are looked for on a copy this size: fast, and big enough
UPSAMPLE = 1                    # dlib's smallest face is 80 px; one 2x upsample finds 40 px faces
MIN_SCORE = 0.0                 # dlib's own default threshold for a face
OTHER_FACE_MIN_SCORE = 0.3      # a second face must be this confident ...
OTHER_FACE_MIN_SIZE = 0.4       # ... and this large relative to the main face to count
# Where the features sit in a dlib box (measured on frontal portraits, see docs/idphoto.md):
EYE_LINE_IN_BOX = 0.22          # eye line below the box top, as a fraction of the box height
CHIN_BELOW_BOX = 0.09           # chin below the box bottom, as a fraction of the box height
EYE_BAND = (0.12, 0.42)         # rows of the box searched for eyes
EYE_MIN_CONTRAST = 4.0          # grey levels a blob must be darker than its surroundings
EYE_MAX_ROLL_DEG = 20.0         # eye pairs tilted more than this are rejected as implausible


@dataclass(frozen=True)
class Face:
    """One detected face in image pixels. ``eyes`` is (left-in-image, right-in-image) or None."""

    left: float
    top: float
    right: float
    bottom: float
    score: float
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def centre_x(self) -> float:
        """Horizontal face centre: between the eyes when known (robust to a box off to one side)."""
        if self.eyes:
            return (self.eyes[0][0] + self.eyes[1][0]) / 2
        return (self.left + self.right) / 2

    @property
    def eye_y(self) -> float:
        if self.eyes:
            return (self.eyes[0][1] + self.eyes[1][1]) / 2
        return self.top + EYE_LINE_IN_BOX * self.height

    @property
    def chin_y(self) -> float:
        return self.bottom + CHIN_BELOW_BOX * self.height

    @property
    def roll_deg(self) -> float:
        """Head tilt in the image plane, positive when the right-hand eye sits lower."""
        if not self.eyes:
            return 0.0
        (lx, ly), (rx, ry) = self.eyes
        return math.degrees(math.atan2(ry - ly, rx - lx))

    def to_dict(self) -> dict:
        return {"box": [round(v, 1) for v in (self.left, self.top, self.right, self.bottom)],
                "score": round(self.score, 3),
                "eyes": [[round(v, 1) for v in eye] for eye in self.eyes] if self.eyes else None,
                "roll_deg": round(self.roll_deg, 2)}


_local = threading.local()


def _detector():
    """dlib's built-in frontal face detector, one per thread.

    A detector is not safe to share: threads running one at the same time get garbage boxes (found by
    bench/load.py: hundreds of "faces", then crashes, with 4 concurrent ID-photo requests). Building
    one takes about a millisecond and holds no weights file, so each server thread keeps its own.
    """
    detector = getattr(_local, "detector", None)
    if detector is None:
        try:
            import dlib
        except ImportError:
            raise ModelError("The face detector is not installed (Python package dlib-bin).") from None
        detector = _local.detector = dlib.get_frontal_face_detector()
    return detector


def detect_faces(rgb: np.ndarray) -> list[Face]:
    """All faces in an RGB uint8 image, most confident first, in the image's own pixels."""
    height, width = rgb.shape[:2]
    scale = min(1.0, DETECT_LONG_SIDE / max(height, width))
    small = rgb if scale == 1.0 else cv2.resize(rgb, (round(width * scale), round(height * scale)),
                                                interpolation=cv2.INTER_AREA)
    rects, scores, _ = _detector().run(np.ascontiguousarray(small), UPSAMPLE, MIN_SCORE)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    faces = []
    for rect, score in sorted(zip(rects, scores), key=lambda rs: -rs[1]):
        box = [rect.left() / scale, rect.top() / scale, (rect.right() + 1) / scale, (rect.bottom() + 1) / scale]
        faces.append(Face(*box, score=float(score), eyes=find_eyes(gray, box)))
    return faces


def find_single_face(rgb: np.ndarray) -> Face:
    """The one face of an ID photo; FaceError for none or several (weak or tiny extras are ignored)."""
    faces = detect_faces(rgb)
    if not faces:
        raise FaceError("No face was found. Use a photo where your whole face is visible, looking "
                        "straight at the camera, in good light.")
    main = max(faces, key=lambda f: f.width * min(f.score + 1.0, 2.0))
    others = [f for f in faces if f is not main and f.score >= OTHER_FACE_MIN_SCORE
              and f.width >= OTHER_FACE_MIN_SIZE * main.width]
    if others:
        raise FaceError(f"{len(others) + 1} faces were found. An ID photo must show only you: "
                        "crop the others out or take a new photo alone.")
    return main


def _blob_map(gray: np.ndarray, box: list[float]) -> tuple[np.ndarray, int, int]:
    """Dark-blob strength around a face (difference of Gaussians at eye scale) and its origin.

    A DoG answers "darker than its surroundings at the size of an eye", which an eye is and a
    large dark area (hair, a hat, a beard) is not: that is why it beats simply taking the darkest spot.
    """
    left, top, right, bottom = box
    w = right - left
    x0, y0 = int(max(0, left - 0.1 * w)), int(max(0, top - 0.1 * w))
    x1, y1 = int(min(gray.shape[1], right + 0.1 * w)), int(min(gray.shape[0], bottom))
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    small, large = max(1.0, w / 30), max(2.0, w / 10)
    return cv2.GaussianBlur(crop, (0, 0), large) - cv2.GaussianBlur(crop, (0, 0), small), x0, y0


def find_eyes(gray: np.ndarray, box: list[float]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Eye centres inside a face box, or None when the two blobs do not look like a pair of eyes."""
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    blobs, ox, oy = _blob_map(gray, box)
    ry0, ry1 = (int(top + f * h) - oy for f in EYE_BAND)
    eyes = []
    for fx0, fx1 in ((0.16, 0.45), (0.55, 0.84)):
        cx0, cx1 = int(left + fx0 * w) - ox, int(left + fx1 * w) - ox
        window = blobs[max(ry0, 0):max(ry1, 0), max(cx0, 0):max(cx1, 0)]
        if window.size == 0 or window.max() < EYE_MIN_CONTRAST:
            return None
        y, x = np.unravel_index(int(np.argmax(window)), window.shape)
        eyes.append((ox + max(cx0, 0) + x + 0.5, oy + max(ry0, 0) + y + 0.5))
    (lx, ly), (rx, ry) = eyes
    dx, dy = rx - lx, ry - ly
    if not 0.25 * w <= dx <= 0.7 * w or abs(math.degrees(math.atan2(dy, dx))) > EYE_MAX_ROLL_DEG:
        return None
    return eyes[0], eyes[1]
