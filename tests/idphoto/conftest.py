"""Shared fixtures for the ID-photo tests: the public-domain test portrait, its mask, and a
stand-in segmenter that returns that mask, so framing is tested without the trained model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.idphoto import StoredMask
from ml.imageio import load_image

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    return load_image(DATA / "astronaut.jpg")


@pytest.fixture(scope="session")
def stored_segmenter() -> StoredMask:
    """The test portrait's hand-checked mask, softened like a model's edge (bench.idphoto's stand-in)."""
    return StoredMask(DATA / "astronaut_mask.png")


@pytest.fixture(scope="session")
def portrait_alpha(stored_segmenter) -> np.ndarray:
    return stored_segmenter.alpha
