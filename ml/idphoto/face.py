"""Face and eye finding for ID photos, with models that ship inside installed packages.

Faces: dlib's HOG + linear-SVM frontal face detector, compiled into the ``dlib`` module (PyPI
``dlib-bin``). Measured on group photos assembled from test-split portraits (docs/idphoto.md), it
finds as many faces as dlib's CNN detector (``mmod_human_face_detector.dat``) at a tenth of the time
once it looks at a copy of about a megapixel instead of a 640 px thumbnail, which was what made it
miss the faces of groups. Eyes: dlib's 5-point landmark model from the ``face_recognition_models``
package (two corners per eye), which gives a level eye line on level faces, where the former
dark-blob search could pick an eyebrow and read a tilt of 20 degrees. Nothing is downloaded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ml.errors import FaceError, ModelError
from ml.pool import Pool

DETECT_AREA = 1_000_000         # faces are looked for on a copy of at most this many pixels
UPSAMPLE = 1                    # dlib's smallest face is 80 px; one 2x upsample finds 40 px faces
MIN_SCORE = 0.0                 # dlib's own default threshold for a face
OTHER_FACE_MIN_SCORE = 0.3      # a face counts for the face count when this confident ...
OTHER_FACE_MIN_SIZE = 0.4       # ... and at least this large relative to the largest face
# Where the chin sits relative to a dlib box (measured on frontal portraits, see docs/idphoto.md):
CHIN_BELOW_BOX = 0.09           # chin below the box bottom, as a fraction of the box height


@dataclass(frozen=True)
class Face:
    """One detected face in image pixels; ``eyes`` is (left-in-image, right-in-image) eye centre."""

    left: float
    top: float
    right: float
    bottom: float
    score: float
    eyes: tuple[tuple[float, float], tuple[float, float]]

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def centre_x(self) -> float:
        """Horizontal face centre: between the eyes (robust to a box off to one side)."""
        return (self.eyes[0][0] + self.eyes[1][0]) / 2

    @property
    def eye_y(self) -> float:
        return (self.eyes[0][1] + self.eyes[1][1]) / 2

    @property
    def chin_y(self) -> float:
        return self.bottom + CHIN_BELOW_BOX * self.height

    @property
    def roll_deg(self) -> float:
        """Head tilt in the image plane, positive when the right-hand eye sits lower."""
        (lx, ly), (rx, ry) = self.eyes
        return math.degrees(math.atan2(ry - ly, rx - lx))

    def to_dict(self) -> dict:
        return {"box": [round(v, 1) for v in (self.left, self.top, self.right, self.bottom)],
                "score": round(self.score, 3), "eyes": [[round(v, 1) for v in eye] for eye in self.eyes],
                "roll_deg": round(self.roll_deg, 2)}


FACE_MODELS = 2                 # detector + landmark pairs a process keeps: one per core


def _load_models():
    """A (detector, 5-point landmark model) pair: about 12 MB, the landmark file read from disk."""
    try:
        import dlib
        import face_recognition_models
    except ImportError as exc:
        raise ModelError(f"The face models are not installed (Python package {exc.name}).") from None
    landmarks = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    return dlib.get_frontal_face_detector(), landmarks


# A dlib detector is not safe to share: threads running one at the same time get garbage boxes
# (found by bench.load with 4 concurrent ID-photo requests). A pair per web thread, as before, held a
# gunicorn worker at 520-560 MB after ID photos from 8 concurrent clients (each thread kept its own
# pair and dlib's scratch memory); a pool of two keeps both cores busy and held it at 298-319 MB.
_MODELS: Pool = Pool(_load_models, FACE_MODELS)


def _eyes(landmarks, image: np.ndarray, rect: tuple[int, int, int, int], scale: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Eye centres (mean of each eye's two corners), left one in the image first, in image pixels."""
    import dlib
    shape = landmarks(image, dlib.rectangle(*rect))
    points = [(shape.part(i).x / scale, shape.part(i).y / scale) for i in range(4)]
    pair = sorted((((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in (points[0:2], points[2:4])))
    return pair[0], pair[1]


def detect_faces(rgb: np.ndarray) -> list[Face]:
    """All faces in an RGB uint8 image, left to right (so face 1 is the leftmost), in its own pixels."""
    height, width = rgb.shape[:2]
    scale = min(1.0, math.sqrt(DETECT_AREA / (height * width)))
    small = rgb if scale == 1.0 else cv2.resize(rgb, (round(width * scale), round(height * scale)),
                                                interpolation=cv2.INTER_AREA)
    small = np.ascontiguousarray(small)
    faces = []
    with _MODELS.lease() as (detector, landmarks):
        rects, scores, _ = detector.run(small, UPSAMPLE, MIN_SCORE)
        for rect, score in zip(rects, scores):
            box = (rect.left(), rect.top(), rect.right(), rect.bottom())
            faces.append(Face(box[0] / scale, box[1] / scale, (box[2] + 1) / scale, (box[3] + 1) / scale,
                              float(score), _eyes(landmarks, small, box, scale)))
    return sorted(faces, key=lambda f: f.centre_x)


def counted_faces(faces: list[Face]) -> list[Face]:
    """The faces a person would count: confident ones at least 40 % the size of the largest confident one.

    When no face is confident, the best one still counts (a dim or soft portrait of one person).
    """
    confident = [f for f in faces if f.score >= OTHER_FACE_MIN_SCORE]
    if not confident:
        return [max(faces, key=lambda f: f.score)] if faces else []
    largest = max(f.width for f in confident)
    return [f for f in confident if f.width >= OTHER_FACE_MIN_SIZE * largest]


NO_FACE = ("No face was found. Use a photo where your whole face is visible, looking straight at the camera, "
           "in good light.")


def choose_face(rgb: np.ndarray, number: int | None = None) -> tuple[Face, int, int]:
    """(the face to frame, its number, how many were counted). ``number`` picks one, 1 = leftmost.

    FaceError (a 422 on the web) for no face, for several when no number was given (saying how to
    choose), and for a number outside 1..count.
    """
    faces = counted_faces(detect_faces(rgb))
    if not faces:
        raise FaceError(NO_FACE)
    if number is None:
        if len(faces) > 1:
            raise FaceError(f"{len(faces)} faces were found. Choose whose ID photo to make with face=1 to "
                            f"{len(faces)} (1 = leftmost), or make one for each person.")
        return faces[0], 1, 1
    if not 1 <= number <= len(faces):
        raise FaceError(f"Face {number} does not exist: {len(faces)} face{'s' * (len(faces) > 1)} "
                        f"{'were' if len(faces) > 1 else 'was'} found (1 = leftmost).")
    return faces[number - 1], number, len(faces)
