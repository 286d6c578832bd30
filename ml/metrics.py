"""Segmentation metrics on full-resolution masks: IoU, Dice, pixel accuracy and boundary F-score.

NumPy and OpenCV only: this module is on the serving path and must never import Keras or TensorFlow.

Conventions, chosen so that every image gets a number and averages stay meaningful:
- a mask is a 2-D array; ``bool`` is used as is, floats are person where >= 0.5 (a probability map),
  integers are person where > 127 (the 0/255 masks stored on disk);
- when prediction and ground truth are both empty (no person, or for boundary F no contour), the
  prediction is perfect and the score is 1.0; when only one of them is empty it is 0.0.
"""
from __future__ import annotations

from statistics import median
from typing import Iterable, Mapping

import cv2
import numpy as np

# Boundary pixels count as matched within this fraction of the image diagonal (DAVIS uses 0.008;
# the issue fixes 0.75 %).
BOUNDARY_TOLERANCE = 0.0075
METRICS = ("iou", "dice", "accuracy", "boundary_f")


def binarize(mask: np.ndarray) -> np.ndarray:
    """A boolean person mask from a bool, probability (float) or 0-255 (integer) 2-D array."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        return mask >= 0.5
    return mask > 127


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = binarize(pred), binarize(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    if pred.size == 0:
        raise ValueError("masks are empty arrays")
    return pred, gt


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of the person pixels; 1.0 when both masks are empty."""
    pred, gt = _pair(pred, gt)
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice coefficient 2|P & G| / (|P| + |G|); 1.0 when both masks are empty."""
    pred, gt = _pair(pred, gt)
    total = np.count_nonzero(pred) + np.count_nonzero(gt)
    return 1.0 if total == 0 else 2.0 * np.count_nonzero(pred & gt) / total


def pixel_accuracy(pred: np.ndarray, gt: np.ndarray) -> float:
    """Fraction of pixels labelled correctly (person or background)."""
    pred, gt = _pair(pred, gt)
    return float(np.count_nonzero(pred == gt)) / pred.size


def boundary(mask: np.ndarray) -> np.ndarray:
    """The mask's inner contour: person pixels with a background pixel among their 8 neighbours.

    The image border is not a contour: a person cut off by the frame has no boundary there, so
    pixels outside the image count as copies of their neighbours (replicated border).
    """
    mask = binarize(mask).astype(np.uint8)
    eroded = cv2.erode(mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return (mask - eroded).astype(bool)


def tolerance_pixels(shape: tuple[int, ...], fraction: float = BOUNDARY_TOLERANCE) -> float:
    """Matching distance in pixels for an image of ``shape``: ``fraction`` of its diagonal."""
    return fraction * float(np.hypot(shape[0], shape[1]))


def _matched_fraction(points: np.ndarray, targets: np.ndarray, tolerance: float) -> float:
    """Fraction of ``points`` pixels lying within ``tolerance`` (Euclidean) of some ``targets`` pixel."""
    distance = cv2.distanceTransform((~targets).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float(np.count_nonzero(distance[points] <= tolerance)) / np.count_nonzero(points)


def boundary_precision_recall(pred: np.ndarray, gt: np.ndarray,
                              fraction: float = BOUNDARY_TOLERANCE) -> tuple[float, float]:
    """Boundary precision and recall: the share of predicted contour pixels near the true contour, and
    of true contour pixels near the predicted one. An empty contour scores 1.0 against an empty one and
    0.0 against a non-empty one."""
    pred_b, gt_b = (boundary(m) for m in _pair(pred, gt))
    has_pred, has_gt = pred_b.any(), gt_b.any()
    if not has_pred or not has_gt:
        return (1.0, 1.0) if has_pred == has_gt else (0.0, 0.0)
    tolerance = tolerance_pixels(pred_b.shape, fraction)
    return _matched_fraction(pred_b, gt_b, tolerance), _matched_fraction(gt_b, pred_b, tolerance)


def boundary_f(pred: np.ndarray, gt: np.ndarray, fraction: float = BOUNDARY_TOLERANCE) -> float:
    """Boundary F-score: harmonic mean of boundary precision and recall (tolerance as a diagonal share).

    IoU barely moves when a 2-pixel fringe of hair is wrong; this score is what shows edge quality.
    """
    precision, recall = boundary_precision_recall(pred, gt, fraction)
    return 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)


def score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Every metric for one (prediction, ground truth) pair, keyed as in ``METRICS``."""
    return {
        "iou": iou(pred, gt),
        "dice": dice(pred, gt),
        "accuracy": pixel_accuracy(pred, gt),
        "boundary_f": boundary_f(pred, gt),
    }


def summarize(scores: Iterable[Mapping[str, float]], metrics: Iterable[str] = METRICS) -> dict[str, float]:
    """Mean and median of each metric over images: ``{"images": n, "iou_mean": .., "iou_median": .., ...}``.

    An empty set of images gives ``{"images": 0}`` rather than NaNs, so it is visible, not averaged in.
    """
    rows = list(scores)
    summary: dict[str, float] = {"images": len(rows)}
    if not rows:
        return summary
    for name in metrics:
        values = [float(row[name]) for row in rows]
        summary[f"{name}_mean"] = float(np.mean(values))
        summary[f"{name}_median"] = float(median(values))
    return summary
