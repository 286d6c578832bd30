"""Geometry shared by training and inference, so both see images the same way.

Models take a square RGB canvas of 0-255 floats; a photo is letterboxed into it (aspect ratio kept,
the rest padded) rather than stretched, and the model's output is mapped back through the same box
(reduced by the model's stride when its output is smaller than its input).
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

    def reduced(self, factor: int) -> "Box":
        """The same box on a grid ``factor`` times coarser (exact when every field is a multiple of it)."""
        return Box(self.top // factor, self.left // factor, self.height // factor, self.width // factor)


def letterbox_box(height: int, width: int, size: int, multiple: int = 1) -> Box:
    """Place a height x width photo, scaled to fit, in the centre of a size x size canvas.

    With ``multiple`` > 1 every offset and side is a multiple of it (the aspect ratio moves by under
    ``multiple`` pixels), so the box lands exactly on the grid of a model output ``multiple`` times
    smaller than the canvas (``Box.reduced``). ``size`` must be a multiple of it.
    """
    scale = size / max(height, width)
    new_h = multiple * max(1, round(height * scale / multiple))
    new_w = multiple * max(1, round(width * scale / multiple))
    return Box((size - new_h) // (2 * multiple) * multiple, (size - new_w) // (2 * multiple) * multiple, new_h, new_w)


def letterbox(image: np.ndarray, size: int, interpolation: int = cv2.INTER_AREA,
              multiple: int = 1) -> tuple[np.ndarray, Box]:
    """Resize ``image`` (H, W[, C]) to fit a square canvas of ``size`` keeping its aspect ratio
    (``multiple``: see ``letterbox_box``)."""
    box = letterbox_box(image.shape[0], image.shape[1], size, multiple)
    resized = cv2.resize(image, (box.width, box.height), interpolation=interpolation)
    canvas = np.full((size, size) + image.shape[2:], PAD_VALUE, dtype=image.dtype)
    canvas[box.top:box.top + box.height, box.left:box.left + box.width] = resized.reshape(
        (box.height, box.width) + image.shape[2:])
    return canvas, box


def unletterbox(canvas: np.ndarray, box: Box) -> np.ndarray:
    """Cut the photo's region back out of a model-sized canvas (inverse of the placement)."""
    return canvas[box.top:box.top + box.height, box.left:box.left + box.width]
