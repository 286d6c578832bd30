"""The public-domain sample portrait (NASA's astronaut photo, ``data/SOURCES.md``) and its hand-checked
mask: the one real photo the ID-photo tests, the reliability tests and the load benchmark's ID-photo
requests send, kept here so none of them reads another's folder.

``StoredMask`` answers that portrait with its mask, so framing and ID-photo figures can be checked
without the trained model.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ml.errors import BackdropError
from ml.segmenter import Matte

DATA = Path(__file__).resolve().parent / "data"
PORTRAIT = DATA / "astronaut.jpg"
PORTRAIT_MASK = DATA / "astronaut_mask.png"


class StoredMask:
    """Answers the sample portrait with its stored mask, softened like a model's edge (the tests' stand-in)."""

    def __init__(self, path: Path = PORTRAIT_MASK):
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise BackdropError(f"cannot read the stored mask {path}")
        self.alpha = cv2.GaussianBlur(np.where(mask > 0, 255, 0).astype(np.uint8), (5, 5), 0)

    def segment(self, rgb: np.ndarray) -> Matte:
        if rgb.shape[:2] != self.alpha.shape:
            raise BackdropError("the stored mask belongs to another photo")
        return Matte(self.alpha, self.alpha >= 128, {})
