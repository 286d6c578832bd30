"""Turning a model's low-resolution probability into a full-resolution matte that follows the photo.

The model sees the photo at 192-224 px, so a plain bilinear upsample gives a blurry, blocky edge
several photo pixels wide. A guided filter (He, Sun and Tang, TPAMI 2013) fits the probability, in
every small window, as a linear function of the photo's colours, so edges snap to where the colours
change. It is run the "fast" way (He and Sun, 2015): the linear coefficients are computed on a
working copy of the photo reduced by a whole factor to well under a megapixel, then applied to the
full-resolution photo.

Only a band round the subject's outline is computed at full resolution: away from the edge the
matte is exactly 0 or 255 anyway, so those pixels are filled from the working-resolution decision.
On a 12 MP photo the band is a few per cent of the pixels, which is what makes the refinement cost
tens of milliseconds rather than hundreds, and keeps soft "ghost" areas where the model hesitates
out of the cutout. Small-blob removal and hole filling are done at working resolution too.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_REMAP_COLUMNS = 4096
_GREY_WEIGHTS = np.float32([0.299, 0.587, 0.114])  # what cv2.COLOR_RGB2GRAY uses for the working guide


@dataclass(frozen=True)
class RefineConfig:
    """Knobs of the refinement; the defaults were chosen by measurement (docs/segmenter.md).

    work_side: the photo is reduced by the whole factor that brings its longer side nearest this.
    radius: guided-filter window radius, in units of the model's canvas pixel (so it scales with
        the photo: one model pixel covers photo_side / model_side photo pixels). Canvas, not output:
        the radii were tuned when both were 224 px, and SINet's served output is half its canvas
        (``ml.registry.ModelRuntime.stride``), which must not halve its windows.
    eps: guided-filter regulariser (colour variance, 0-1 scale): bigger = smoother, less edge-bound.
    colour_guide: guide with the three colour channels (hair against a background of similar
        brightness) rather than luminance only.
    soft_low, soft_high: filter output mapped linearly onto 0-255 between these, so that confident
        inside and outside become exactly 255 and 0 while the transition stays soft.
    band: half-width, in model pixels, of the zone round the outline where alpha may be soft (fully
        soft in its inner two thirds, tapering to the hard decision in its outer third).
    min_blob: foreground blobs smaller than this fraction of the largest one are dropped.
    max_hole: background holes inside the subject smaller than this fraction of the largest
        foreground blob are filled (larger enclosed regions, like the gap between an arm and the body,
        are real background and stay).
    """

    work_side: int = 640
    radius: float = 4.0
    eps: float = 1e-4
    colour_guide: bool = True
    soft_low: float = 0.15
    soft_high: float = 0.85
    band: float = 1.5
    min_blob: float = 0.01
    max_hole: float = 0.0005


@dataclass(frozen=True)
class WorkImage:
    """The photo reduced by a whole ``factor`` (area average): pixel (y, x) of ``rgb`` covers photo
    pixels [y*factor, (y+1)*factor) x [x*factor, (x+1)*factor). A whole factor makes the reduction
    OpenCV's fast path and the mapping back exact; the last < factor rows and columns are left out.
    """

    rgb: np.ndarray
    factor: int


def reduce(rgb: np.ndarray, work_side: int) -> WorkImage:
    """The working copy of ``rgb`` whose longer side is nearest ``work_side`` (no copy when factor is 1)."""
    height, width = rgb.shape[:2]
    factor = max(1, round(max(height, width) / work_side))
    factor = min(factor, height, width)
    if factor == 1:
        return WorkImage(rgb, 1)
    small_h, small_w = height // factor, width // factor
    cropped = rgb[:small_h * factor, :small_w * factor]
    return WorkImage(cv2.resize(cropped, (small_w, small_h), interpolation=cv2.INTER_AREA), factor)


def expand(small: np.ndarray, factor: int, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour inverse of ``reduce`` for a 2-D uint8 map: each pixel becomes a factor x factor block."""
    if factor == 1:
        return small
    big = cv2.resize(small, (small.shape[1] * factor, small.shape[0] * factor), interpolation=cv2.INTER_NEAREST)
    return cv2.copyMakeBorder(big, 0, height - big.shape[0], 0, width - big.shape[1], cv2.BORDER_REPLICATE)


def sample_at(image: np.ndarray, ys: np.ndarray, xs: np.ndarray, factor: float) -> np.ndarray:
    """Bilinear samples of a map reduced by ``factor`` at full-resolution pixel centres (ys, xs).

    Returns (N, C) float32. The points are laid out in rows of 4096 because cv2.remap wants maps
    under 32767 a side.
    """
    count = ys.size
    channels = 1 if image.ndim == 2 else image.shape[2]
    if count == 0:
        return np.empty((0, channels), np.float32)
    rows = -(-count // _REMAP_COLUMNS)
    map_x = np.zeros(rows * _REMAP_COLUMNS, np.float32)
    map_y = np.zeros(rows * _REMAP_COLUMNS, np.float32)
    map_x[:count] = (xs + 0.5) / factor - 0.5
    map_y[:count] = (ys + 0.5) / factor - 0.5
    shape = (rows, _REMAP_COLUMNS)
    sampled = cv2.remap(image, map_x.reshape(shape), map_y.reshape(shape), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    return sampled.reshape(-1, channels)[:count]


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
    """Solve Sigma a = rhs per pixel for symmetric 3x3 Sigma given by its upper triangle.

    Written with few, reused temporaries: the plain expression allocates some thirty arrays and was
    five times slower (page faults on fresh memory), 10 ms against 2 ms at 1 MP.
    """
    rr, rg, rb, gg, gb, bb = cov[0, 0], cov[0, 1], cov[0, 2], cov[1, 1], cov[1, 2], cov[2, 2]
    adjugate = np.empty((6,) + rr.shape, np.float32)  # rr, rg, rb, gg, gb, bb entries of the adjugate
    for k, (p, q, u, v) in enumerate(((gg, bb, gb, gb), (gb, rb, rg, bb), (rg, gb, gg, rb),
                                      (rr, bb, rb, rb), (rb, rg, rr, gb), (rr, gg, rg, rg))):
        np.multiply(p, q, out=adjugate[k])
        adjugate[k] -= u * v
    inverse_det = rr * adjugate[0]
    inverse_det += rg * adjugate[1]
    inverse_det += rb * adjugate[2]
    np.reciprocal(inverse_det, out=inverse_det)
    x, y, z = rhs[:, :, 0], rhs[:, :, 1], rhs[:, :, 2]
    a = np.empty_like(rhs)
    for k, (i, j, m) in enumerate(((0, 1, 2), (1, 3, 4), (2, 4, 5))):
        row = adjugate[i] * x
        row += adjugate[j] * y
        row += adjugate[m] * z
        row *= inverse_det
        a[:, :, k] = row
    return a


def _band_weight(hard: np.ndarray, radius: float) -> np.ndarray:
    """How much the soft filter output counts, by distance from the outline of a 0/1 mask.

    1 up to two thirds of ``radius`` from the outline, falling linearly to 0 at ``radius``. The taper
    matters: a cut straight from soft to 0/255 would follow the working pixels' grid and show as a
    staircase wherever the model hesitates over a wide area.
    """
    if hard.min() == hard.max():  # all person or no person: no outline, nothing soft
        return np.zeros(hard.shape, np.float32)
    distance = cv2.distanceTransform(hard, cv2.DIST_L2, 3) + cv2.distanceTransform(1 - hard, cv2.DIST_L2, 3)
    return np.clip((radius - distance) / (radius / 3), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class GuidedFit:
    """The guided filter fitted at working resolution: ``a``, ``b`` such that alpha = a . guide + b,
    ``decision`` (that fit applied to the working photo, 0-1 scale, unclipped), the cleaned
    probability ``prob`` it fitted, and how many working pixels one model pixel covers."""

    a: np.ndarray
    b: np.ndarray
    decision: np.ndarray
    prob: np.ndarray
    per_model_pixel: float


def guided_fit(work: WorkImage, prob: np.ndarray, model_side: int, config: RefineConfig,
               clean: bool = True) -> GuidedFit:
    """Fit the guided filter to ``prob`` (any resolution, same view as ``work``) at working resolution.

    ``model_side`` (the model's canvas side) converts the radius, set in model pixels, to working pixels.
    """
    small = work.rgb
    work_h, work_w = small.shape[:2]
    prob_w = cv2.resize(prob, (work_w, work_h), interpolation=cv2.INTER_LINEAR)
    if clean:
        prob_w = clean_mask(prob_w, config.min_blob, config.max_hole)
    guide = small.astype(np.float32) / 255.0
    if not config.colour_guide:
        guide = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)[:, :, None]
    per_model_pixel = max(work_h, work_w) / model_side
    radius = max(1, round(config.radius * per_model_pixel))
    a, b = guided_coefficients(guide, prob_w, radius, config.eps)
    a = a.reshape(work_h, work_w, -1)
    decision = np.einsum("hwc,hwc->hw", a, guide.reshape(work_h, work_w, -1)) + b
    return GuidedFit(a, b, decision, prob_w, per_model_pixel)


def apply_fit(rgb: np.ndarray, a: np.ndarray, b: np.ndarray, factor: int, ys: np.ndarray,
              xs: np.ndarray) -> np.ndarray:
    """Guided-filter output (N,) float32 at full-resolution pixels (ys, xs) of ``rgb``: the working
    coefficients sampled there, applied to the photo's own colours (grey when ``a`` has one channel)."""
    colours = rgb[ys, xs].astype(np.float32) / 255.0
    if a.shape[2] == 1:
        colours = colours @ _GREY_WEIGHTS[:, None]
    return (sample_at(a, ys, xs, factor) * colours).sum(axis=1) + sample_at(b, ys, xs, factor)[:, 0]


def guided_upsample(rgb: np.ndarray, work: WorkImage, prob: np.ndarray, model_side: int,
                    config: RefineConfig, clean: bool = True) -> np.ndarray:
    """Full-resolution uint8 alpha for photo ``rgb`` from its low-resolution probability ``prob``.

    ``work`` is the reduced photo; ``prob`` covers the same view at any resolution. ``model_side``
    converts the radii, set in model pixels, to working pixels.
    """
    height, width = rgb.shape[:2]
    fit = guided_fit(work, prob, model_side, config, clean)
    hard = (fit.decision >= 0.5).astype(np.uint8)
    weight = _band_weight(hard, max(2.0, config.band * fit.per_model_pixel))
    # One working pixel more, so every full-resolution pixel whose sampled weight is above 0 is in.
    band = cv2.dilate((weight > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    alpha = expand(hard * np.uint8(255), work.factor, height, width)
    points = cv2.findNonZero(expand(band, work.factor, height, width))
    if points is None:
        return alpha
    points = points.reshape(-1, 2)
    xs, ys = points[:, 0], points[:, 1]
    value = apply_fit(rgb, fit.a, fit.b, work.factor, ys, xs)
    soft = np.clip((value - config.soft_low) * (255.0 / (config.soft_high - config.soft_low)), 0, 255)
    share = sample_at(weight, ys, xs, work.factor)[:, 0]
    blended = alpha[ys, xs] + share * (soft - alpha[ys, xs]) + 0.5
    alpha[ys, xs] = blended.astype(np.uint8)
    return alpha


def bilinear_upsample(prob: np.ndarray, height: int, width: int) -> np.ndarray:
    """The baseline: probability resized to full resolution, as uint8 0-255."""
    full = cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(full * 255.0 + 0.5, 0, 255).astype(np.uint8)
