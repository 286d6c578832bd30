"""Turning a model's low-resolution probability into a full-resolution matte that follows the photo.

The model sees the photo at 192-224 px, so a plain bilinear upsample gives a blurry, blocky edge
several photo pixels wide. A guided filter (He, Sun and Tang, TPAMI 2013) fits the probability, in
every small window, as a linear function of the photo's colours, so edges snap to where the colours
change. It is run the "fast" way (He and Sun, 2015): the linear coefficients are computed at a
working resolution of well under a megapixel, then upsampled and applied to the full-resolution
photo in strips of rows, which keeps a 24 MP photo's working memory to a few tens of megabytes.
Small-blob removal and hole filling are done on the working-resolution mask, where they are cheap.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

STRIP_ROWS = 512


@dataclass(frozen=True)
class RefineConfig:
    """Knobs of the refinement; the defaults were chosen by measurement (docs/segmenter.md).

    work_side: longest side of the working resolution the filter coefficients are computed at.
    radius: guided-filter window radius, in units of the model's output pixel (so it scales with
        the photo: one model pixel covers photo_side / model_side photo pixels).
    eps: guided-filter regulariser (colour variance, 0-1 scale): bigger = smoother, less edge-bound.
    colour_guide: guide with the three colour channels (hair against a background of similar
        brightness) rather than luminance only.
    soft_low, soft_high: filter output mapped linearly onto 0-255 between these, so that confident
        inside and outside become exactly 255 and 0 while the transition stays soft.
    min_blob: foreground blobs smaller than this fraction of the largest one are dropped.
    max_hole: background holes inside the subject smaller than this fraction of the largest
        foreground blob are filled (larger enclosed regions, like the gap between an arm and the body,
        are real background and stay).
    """

    work_side: int = 640
    radius: float = 1.0
    eps: float = 1e-3
    colour_guide: bool = True
    soft_low: float = 0.15
    soft_high: float = 0.85
    min_blob: float = 0.01
    max_hole: float = 0.002


def clean_mask(prob: np.ndarray, min_blob: float, max_hole: float, level: float = 0.5) -> np.ndarray:
    """Zero small foreground blobs and fill small holes in a probability map (returns a new map)."""
    mask = (prob >= level).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return prob.copy()
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = int(areas.max())
    out = prob.copy()
    small = np.flatnonzero(areas < min_blob * largest) + 1
    if small.size:
        out[np.isin(labels, small)] = 0.0
    holes = 1 - mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    height, width = prob.shape
    fill = [
        i for i in range(1, count)
        if stats[i, cv2.CC_STAT_AREA] < max_hole * largest and not _touches_border(stats[i], height, width)
    ]
    if fill:
        out[np.isin(labels, fill)] = 1.0
    return out


def _touches_border(stat: np.ndarray, height: int, width: int) -> bool:
    left, top = stat[cv2.CC_STAT_LEFT], stat[cv2.CC_STAT_TOP]
    right, bottom = left + stat[cv2.CC_STAT_WIDTH], top + stat[cv2.CC_STAT_HEIGHT]
    return left == 0 or top == 0 or right == width or bottom == height


def working_size(height: int, width: int, work_side: int) -> tuple[int, int]:
    """(h, w) of the working resolution: the photo scaled so its longest side is at most work_side."""
    scale = min(1.0, work_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(guide: np.ndarray, prob: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Guided-filter coefficients (a, b), already window-averaged, so that output = a . guide + b.

    ``guide`` is float32 (h, w, C) in 0-1 with C = 1 or 3; ``prob`` float32 (h, w). For a colour guide
    the 3x3 covariance of each window is inverted in closed form (vectorised adjugate).
    """
    if guide.ndim == 2:
        guide = guide[:, :, None]
    mean_i = _box(guide, radius).reshape(guide.shape)
    mean_p = _box(prob, radius)
    mean_ip = _box(guide * prob[:, :, None], radius).reshape(guide.shape)
    cov_ip = mean_ip - mean_i * mean_p[:, :, None]
    channels = guide.shape[2]
    if channels == 1:
        var = _box(guide[:, :, 0] * guide[:, :, 0], radius) - mean_i[:, :, 0] ** 2
        a = cov_ip / (var + eps)[:, :, None]
    else:
        a = _solve_3x3(_covariance(guide, mean_i, radius, eps), cov_ip)
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return _box(a, radius).reshape(a.shape), _box(b, radius)


def _covariance(guide: np.ndarray, mean_i: np.ndarray, radius: int, eps: float) -> dict[tuple[int, int], np.ndarray]:
    cov = {}
    for i in range(3):
        for j in range(i, 3):
            cov[i, j] = _box(guide[:, :, i] * guide[:, :, j], radius) - mean_i[:, :, i] * mean_i[:, :, j]
            if i == j:
                cov[i, j] = cov[i, j] + eps
    return cov


def _solve_3x3(cov: dict[tuple[int, int], np.ndarray], rhs: np.ndarray) -> np.ndarray:
    """Solve Sigma a = rhs per pixel for symmetric 3x3 Sigma given by its upper triangle."""
    rr, rg, rb, gg, gb, bb = cov[0, 0], cov[0, 1], cov[0, 2], cov[1, 1], cov[1, 2], cov[2, 2]
    inv_rr = gg * bb - gb * gb
    inv_rg = gb * rb - rg * bb
    inv_rb = rg * gb - gg * rb
    inv_gg = rr * bb - rb * rb
    inv_gb = rb * rg - rr * gb
    inv_bb = rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    x, y, z = rhs[:, :, 0], rhs[:, :, 1], rhs[:, :, 2]
    a = np.empty_like(rhs)
    a[:, :, 0] = inv_rr * x + inv_rg * y + inv_rb * z
    a[:, :, 1] = inv_rg * x + inv_gg * y + inv_gb * z
    a[:, :, 2] = inv_rb * x + inv_gb * y + inv_bb * z
    return a / det[:, :, None]


def apply_coefficients(rgb: np.ndarray, a: np.ndarray, b: np.ndarray, colour: bool,
                       low: float, high: float) -> np.ndarray:
    """Full-resolution alpha (uint8) = clip((a . guide + b - low) / (high - low)) * 255.

    The coefficient maps are bilinearly upsampled strip by strip with warpAffine (the same sampling
    as cv2.resize) so that no full-resolution float image is ever held whole.
    """
    height, width = rgb.shape[:2]
    gain = 255.0 / (high - low)
    a = (a * (gain / 255.0)).astype(np.float32)  # folds the 0-255 guide scale and the soft stretch in
    b = ((b - low) * gain + 0.5).astype(np.float32)  # + 0.5: round when truncating to uint8
    scale_y, scale_x = b.shape[0] / height, b.shape[1] / width
    alpha = np.empty((height, width), np.uint8)
    grey = None if colour else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for top in range(0, height, STRIP_ROWS):
        rows = min(STRIP_ROWS, height - top)
        matrix = np.float32([[scale_x, 0, 0.5 * scale_x - 0.5],
                             [0, scale_y, (top + 0.5) * scale_y - 0.5]])
        size = (width, rows)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        a_strip = cv2.warpAffine(a, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        q = cv2.warpAffine(b, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        if colour:
            product = cv2.multiply(a_strip, rgb[top:top + rows], dtype=cv2.CV_32F)
            q += cv2.transform(product, np.ones((1, 3), np.float32)).reshape(rows, width)
        else:
            q += a_strip.reshape(rows, width) * grey[top:top + rows]
        np.clip(q, 0, 255, out=q)
        alpha[top:top + rows] = q
    return alpha


def guided_upsample(rgb: np.ndarray, prob: np.ndarray, model_side: int, config: RefineConfig,
                    clean: bool = True) -> np.ndarray:
    """Full-resolution uint8 alpha for photo ``rgb`` from its low-resolution probability ``prob``.

    ``model_side`` is the side of the model canvas; with it the filter radius, set in model pixels,
    is converted to working-resolution pixels.
    """
    height, width = rgb.shape[:2]
    work_h, work_w = working_size(height, width, config.work_side)
    guide = cv2.resize(rgb, (work_w, work_h), interpolation=cv2.INTER_AREA)
    prob_w = cv2.resize(prob, (work_w, work_h), interpolation=cv2.INTER_LINEAR)
    if clean:
        prob_w = clean_mask(prob_w, config.min_blob, config.max_hole)
    guide = guide.astype(np.float32) / 255.0
    if not config.colour_guide:
        guide = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    # One model pixel spans max(work_h, work_w) / model_side working pixels.
    radius = max(1, round(config.radius * max(work_h, work_w) / model_side))
    a, b = guided_coefficients(guide, prob_w, radius, config.eps)
    return apply_coefficients(rgb, a, b, config.colour_guide, config.soft_low, config.soft_high)


def bilinear_upsample(prob: np.ndarray, height: int, width: int) -> np.ndarray:
    """The baseline: probability resized to full resolution, as uint8 0-255."""
    full = cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(full * 255.0 + 0.5, 0, 255).astype(np.uint8)
