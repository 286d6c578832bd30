"""Shared fixtures for the ID-photo tests: the public-domain test portrait, its mask, and a
stand-in segmenter that returns that mask, so framing is tested without the trained model."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ml.imageio import load_image
from ml.segmenter import Matte

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    return load_image(DATA / "astronaut.jpg")


@pytest.fixture(scope="session")
def portrait_alpha() -> np.ndarray:
    mask = np.asarray(Image.open(DATA / "astronaut_mask.png").convert("L"))
    return cv2.GaussianBlur(mask, (5, 5), 0)  # a soft edge, as the real segmenter gives


class StoredMaskSegmenter:
    """Answers every photo with a fixed alpha (the test portrait's mask), like Segmenter.segment."""

    def __init__(self, alpha: np.ndarray):
        self.alpha = alpha

    def segment(self, rgb: np.ndarray) -> Matte:
        assert rgb.shape[:2] == self.alpha.shape, "the stored mask belongs to the test portrait"
        return Matte(self.alpha, self.alpha >= 128, {})


@pytest.fixture(scope="session")
def stored_segmenter(portrait_alpha) -> StoredMaskSegmenter:
    return StoredMaskSegmenter(portrait_alpha)
