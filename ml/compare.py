"""Two models' masks side by side: where they disagree, drawn over the photo, and how each scores
against a ground-truth mask (the web app's Compare page; any caller with two masks).
"""
from __future__ import annotations

import cv2
import numpy as np

from ml import metrics

# Disagreement map colours: where only the first model, or only the second, sees a person.
ONLY_FIRST = np.array([255, 140, 0], np.float32)
ONLY_SECOND = np.array([30, 120, 255], np.float32)


def truth_mask(rgb: np.ndarray) -> np.ndarray:
    """A ground-truth mask someone uploaded (any image, decoded as RGB) as a boolean person mask."""
    return metrics.binarize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def agreement(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """The share of pixels two boolean masks disagree on, and their IoU with each other."""
    return {"disagreement": round(float(np.mean(first != second)), 4),
            "iou_between": round(metrics.iou(first, second), 4)}


def scores(masks: dict[str, np.ndarray], truth: np.ndarray) -> dict[str, dict[str, float]]:
    """Each named boolean mask's IoU and boundary F against ``truth`` (same size)."""
    return {name: {"iou": round(metrics.iou(mask, truth), 4), "boundary_f": round(metrics.boundary_f(mask, truth), 4)}
            for name, mask in masks.items()}


def disagreement_map(rgb: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``rgb`` dimmed to grey, with pixels only the first mask keeps in orange, only the second in blue.

    The masks may be larger than ``rgb`` (full-size masks over a preview: the map is only looked at,
    so it is drawn at the picture's size); they are scaled down to it first.
    """
    first, second = (_shrink(mask, rgb.shape[:2]) for mask in (first, second))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)[:, :, None]
    both = (first & second)[:, :, None]
    base = np.where(both, grey * 0.9 + 25, grey * 0.35)
    out = np.repeat(base, 3, axis=2)
    out[first & ~second] = ONLY_FIRST
    out[second & ~first] = ONLY_SECOND
    return np.clip(out, 0, 255).astype(np.uint8)


def _shrink(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask at ``shape`` (area averaging, then half or more counts as person)."""
    return cv2.resize(mask.astype(np.uint8) * 255, shape[::-1], interpolation=cv2.INTER_AREA) >= 128
