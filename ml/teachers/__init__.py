"""Teachers: other people's person segmenters, used at training time only, never by the app.

They label photos that have no masks (pseudo-labels), find bystanders that a dataset left
unlabelled, and check that a background photo holds no person. Each teacher maps an RGB photo to a
person probability of the same height and width. Where the teachers disagree, a pixel gets the
``IGNORE`` label and is left out of the loss.
"""
from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np

# Training masks: 0 background, 255 person, IGNORE = no label (left out of the loss).
IGNORE = 128


class Teacher(Protocol):
    name: str

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 person probability in 0-1 for an (H, W, 3) uint8 RGB photo."""


def _mediapipe() -> Teacher:
    from ml.teachers.mediapipe import MediaPipeTeacher
    return MediaPipeTeacher()


def _deeplab(name: str) -> Callable[[], Teacher]:
    def load() -> Teacher:
        from ml.teachers.deeplab import DeepLabTeacher
        return DeepLabTeacher(name)
    return load


def _isnet() -> Teacher:
    from ml.teachers.isnet import ISNetTeacher
    return ISNetTeacher()


# Name -> loader; each loader imports its runtime only when that teacher is used.
TEACHERS: dict[str, Callable[[], Teacher]] = {
    "mediapipe": _mediapipe,
    "deeplab": _deeplab("deeplab"),
    "deeplab-dm05": _deeplab("deeplab-dm05"),
    "isnet": _isnet,
}
# Where each teacher comes from, and its licence (model cards quote this).
SOURCES = {
    "mediapipe": "MediaPipe Selfie Segmentation, selfie_segmentation.tflite in the mediapipe==0.10.14 wheel (Apache-2.0)",
    "deeplab": "DeepLabV3 MobileNetV2 (Pascal VOC, person class), google-coral/test_data via ../shared/pretrained (Apache-2.0)",
    "deeplab-dm05": "DeepLabV3 MobileNetV2 width 0.5 (Pascal VOC, person class), google-coral/test_data (Apache-2.0)",
    "isnet": "ISNet (DIS, MIT licence), /models/medium of the npm package @imgly/background-removal-data@1.4.5",
}
# The ensemble that labels training data (deeplab-dm05 is measured, not used: deeplab is better).
ENSEMBLE = ("mediapipe", "deeplab", "isnet")
# The fast teachers that find bystanders a dataset left unlabelled (both must agree).
BYSTANDER_TEACHERS = ("mediapipe", "deeplab")


def load_teacher(name: str) -> Teacher:
    try:
        return TEACHERS[name]()
    except KeyError:
        raise ValueError(f"unknown teacher {name!r}; choose from {sorted(TEACHERS)}") from None


def ensemble_label(probabilities: Sequence[np.ndarray], threshold: float = 0.5) -> np.ndarray:
    """uint8 training mask from several teachers: 255 where every teacher says person, 0 where every
    teacher says background, ``IGNORE`` where they disagree."""
    votes = np.stack([np.asarray(p) >= threshold for p in probabilities])
    label = np.full(votes.shape[1:], IGNORE, np.uint8)
    label[votes.all(axis=0)] = 255
    label[~votes.any(axis=0)] = 0
    return label
