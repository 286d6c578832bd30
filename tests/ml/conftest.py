"""Shared fixtures for the ML tests: tiny generated datasets, so no test depends on shared data."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest


ROOT = Path(__file__).resolve().parents[2]


def person_mask(height: int, width: int, seed: int) -> np.ndarray:
    """An off-centre rectangle (0/255), so a flip or shift applied to only one of image/mask shows."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), np.uint8)
    top, left = rng.integers(2, height // 4), rng.integers(2, width // 4)
    mask[top:top + height // 2, left:left + width // 3] = 255
    return mask


def write_dataset(folder: Path, count: int, height: int = 48, width: int = 64, start: int = 0) -> Path:
    """``count`` pairs ``images/<i>.png`` + ``masks/<i>.png``: a bright person on a dark noisy background."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    for i in range(start, start + count):
        mask = person_mask(height, width, i)
        noise = np.random.default_rng(i).integers(0, 60, (height, width, 3))
        image = np.where(mask[..., None] > 0, 200, noise).astype(np.uint8)
        cv2.imwrite(str(folder / "images" / f"{i}.png"), image)
        cv2.imwrite(str(folder / "masks" / f"{i}.png"), mask)
    return folder


@pytest.fixture(scope="session")
def make_dataset():
    """The ``write_dataset`` function, for tests that need their own folder layout."""
    return write_dataset


@pytest.fixture(scope="session")
def mask_of():
    """The ``person_mask`` function (the ground truth ``write_dataset`` draws)."""
    return person_mask


@pytest.fixture(scope="session")
def run_python():
    """Run ``code`` in a fresh interpreter at the repository root, where imports start from nothing
    (what a tool or the server sees); return its stdout, failing with its stderr if it fails."""
    def run(code: str) -> str:
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout
    return run
