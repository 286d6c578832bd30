"""Shared fixtures for the ID-photo tests: the public-domain sample portrait (``devtools.portrait``),
its mask, and a stand-in segmenter that returns that mask, so framing is tested without the trained model."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from devtools.portrait import PORTRAIT, StoredMask
from ml.imageio import load_image
from ml.segmenter import Matte


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    return load_image(PORTRAIT)


@pytest.fixture(scope="session")
def stored_segmenter() -> StoredMask:
    """The sample portrait's hand-checked mask, softened like a model's edge."""
    return StoredMask()


@pytest.fixture(scope="session")
def portrait_alpha(stored_segmenter) -> np.ndarray:
    return stored_segmenter.alpha


class CropAware:
    """A stand-in segmenter for a photo whose person alpha is known: answers the whole photo or any crop
    of it (the pipeline cuts faces out of crops around them), finding the crop by exact match."""

    def __init__(self, rgb: np.ndarray, alpha: np.ndarray):
        self.rgb, self.alpha = rgb, alpha

    def segment(self, rgb: np.ndarray) -> Matte:
        if rgb.shape == self.rgb.shape:
            alpha = self.alpha
        else:
            found = cv2.matchTemplate(self.rgb, rgb, cv2.TM_SQDIFF)
            _, _, (left, top), _ = cv2.minMaxLoc(found)
            alpha = self.alpha[top:top + rgb.shape[0], left:left + rgb.shape[1]]
        return Matte(alpha, alpha >= 128, {})
