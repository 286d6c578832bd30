"""Geometry shared by training and inference, so both see images the same way.

Models take a square RGB canvas of 0-255 floats; a photo is letterboxed into it (aspect ratio kept,
the rest padded) rather than stretched, and the model's output is mapped back through the same box.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 0


@dataclass(frozen=True)
class Box:
    """Where the resized photo sits inside the square canvas: offsets and size in canvas pixels."""

    top: int
    left: int
    height: int
    width: int


def letterbox_box(height: int, width: int, size: int) -> Box:
    """Place a height x width photo, scaled to fit, in the centre of a size x size canvas."""
    scale = size / max(height, width)
    new_h = max(1, round(height * scale))
    new_w = max(1, round(width * scale))
    return Box((size - new_h) // 2, (size - new_w) // 2, new_h, new_w)


def letterbox(image: np.ndarray, size: int, interpolation: int = cv2.INTER_AREA) -> tuple[np.ndarray, Box]:
    """Resize ``image`` (H, W[, C]) to fit a square canvas of ``size`` keeping its aspect ratio."""
    box = letterbox_box(image.shape[0], image.shape[1], size)
    resized = cv2.resize(image, (box.width, box.height), interpolation=interpolation)
    canvas = np.full((size, size) + image.shape[2:], PAD_VALUE, dtype=image.dtype)
    canvas[box.top:box.top + box.height, box.left:box.left + box.width] = resized.reshape(
        (box.height, box.width) + image.shape[2:])
    return canvas, box


def unletterbox(canvas: np.ndarray, box: Box) -> np.ndarray:
    """Cut the photo's region back out of a model-sized canvas (inverse of the placement)."""
    return canvas[box.top:box.top + box.height, box.left:box.left + box.width]
