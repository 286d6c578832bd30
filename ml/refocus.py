"""Coarse to fine: look again, closer, at each small person the whole-photo pass found.

A person who fills 5 % of a photo's height is a dozen pixels tall in a 224 px canvas: too few for
the model to tell a person from a lamp post, and too few for a clean outline. After the whole-photo
pass, every candidate region (probability above a low threshold) smaller than a share of the frame
is cropped from the working copy with context around it, run through the model again at its full
input size, and the closer look replaces the coarse probability there (feathered into it at the
crop's border, where the crop had no context). Big people are left alone: the whole-photo pass
already sees them at full size. The cost is one model call per region, at most ``max_regions``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

Box = tuple[int, int, int, int]   # top, left, bottom, right (exclusive), in probability pixels


@dataclass(frozen=True)
class RefocusConfig:
    threshold: float = 0.3       # candidate regions: probability at least this
    max_share: float = 0.25      # regions whose box is larger than this share of the frame are left alone
    context: float = 0.5         # crop = box grown by this share of its size on every side
    max_regions: int = 4
    min_pixels: int = 4          # ignore specks smaller than this (probability pixels)
    feather: float = 0.15        # share of the crop over which the closer look fades in


def candidate_boxes(prob: np.ndarray, config: RefocusConfig = RefocusConfig()) -> list[Box]:
    """Crops (with context) around the small candidate regions, largest region first."""
    height, width = prob.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats((prob >= config.threshold).astype(np.uint8))
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1
    boxes = []
    for index in order:
        left, top, w, h, area = stats[index]
        if area < config.min_pixels or w * h > config.max_share * height * width:
            continue
        side = max(w, h) * (1 + 2 * config.context)        # square crops suit the square canvas
        cy, cx = top + h / 2, left + w / 2
        boxes.append((max(0, round(cy - side / 2)), max(0, round(cx - side / 2)),
                      min(height, round(cy + side / 2)), min(width, round(cx + side / 2))))
        if len(boxes) == config.max_regions:
            break
    return boxes


def _fade(height: int, width: int, share: float) -> np.ndarray:
    """Weights 1 inside, falling linearly to 0 over ``share`` of each side toward the border."""
    def ramp(n: int) -> np.ndarray:
        edge = max(1.0, share * n)
        distance = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5)
        return np.clip(distance / edge, 0.0, 1.0)
    return np.outer(ramp(height), ramp(width)).astype(np.float32)


def refocus(prob: np.ndarray, work: np.ndarray, look: Callable[[np.ndarray], np.ndarray],
            config: RefocusConfig = RefocusConfig()) -> np.ndarray:
    """``prob`` with each small candidate region replaced by a closer look.

    ``work`` is the photo the whole-photo pass saw (any resolution covering the same area as
    ``prob``); ``look(crop)`` returns the model's probability for a crop of it, at any resolution.
    """
    boxes = candidate_boxes(prob, config)
    if not boxes:
        return prob
    merged = prob.copy()
    sy, sx = work.shape[0] / prob.shape[0], work.shape[1] / prob.shape[1]
    for top, left, bottom, right in boxes:
        crop = work[round(top * sy):round(bottom * sy), round(left * sx):round(right * sx)]
        if min(crop.shape[:2]) < 2:
            continue
        closer = cv2.resize(look(crop), (right - left, bottom - top), interpolation=cv2.INTER_AREA)
        weight = _fade(bottom - top, right - left, config.feather)
        region = merged[top:bottom, left:right]
        merged[top:bottom, left:right] = weight * closer + (1.0 - weight) * region
    return merged
