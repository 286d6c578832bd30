"""A matting stage after the segmentation: a real alpha matte round the outline, for hair and edges.

The guided filter (``ml.refine``) snaps the model's edge to the photo, but it can only fit the
probability as a local linear function of colour, so fine strands and mixed pixels come out either
too hard or as a grey halo. Closed-form matting (Levin, Lischinski and Weiss, TPAMI 2008) instead
solves for the alpha that best explains the photo's colours under the same local linear model,
given only which pixels are surely person and surely background: a trimap.

1. **Trimap** at the working resolution (``ml.refine.reduce``, at most about 640 px): sure person and
   sure background from the guided filter's decision; an unknown band round its outline that is at
   least ``band`` model pixels wide on each side and widens up to ``reach`` where the model hesitates
   (probability between ``unsure`` and ``1 - unsure``). Widths are in model pixels, so the band
   follows the photo's scale.
2. **Solve** the closed-form system for the unknown pixels only. The matting Laplacian is built just
   for the 3x3 windows that touch the band (pymatting's ``estimate_alpha_cf`` builds it for every
   pixel and then slices it: 0.3-0.8 s against 0.2 s here for the same 666 x 500 trimap), then
   solved directly; the faint floor the solve leaves in pure areas is snapped to 0 and 1.
3. **Upsample** with the photo as guide: a guided filter of small radius fitted to the working-resolution
   matte, applied to the full-resolution photo in the band only (the "fast guided filter" way, as in
   ``ml.refine``), so a 12 MP photo costs little more than a 1 MP one.

NumPy, OpenCV and SciPy only: pymatting (numba) is what ``bench/edges.py`` and the tests measure
this against, never imported by the server.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from ml.refine import GuidedFit, WorkImage, apply_fit, expand, guided_coefficients

UNKNOWN = 0.5  # trimap value of the band to solve; 0 and 1 are sure background and person
# Whether the CLIs and the web app matte unless told otherwise. Off: it measures better on
# bench/edges.py but misses the halving target, and costs 1 MP photos about 0.2 s (docs/segmenter.md).
ON_BY_DEFAULT = False


@dataclass(frozen=True)
class MattingConfig:
    """Knobs of the matting stage; the defaults were chosen on the validation split (docs/segmenter.md).

    band: half-width, in model pixels, of the unknown band always left round the outline.
    reach: how far, in model pixels, the band may widen where the model hesitates.
    unsure: probabilities between this and 1 - unsure count as hesitation.
    eps: closed-form regulariser (Levin et al.'s epsilon); larger = smoother matte.
    snap: solved alpha below this becomes 0 and above 1 - snap becomes 1, linearly in between. The solve
        leaves a faint floor of a few per cent wherever the band crosses shaded but pure subject or
        background (the colour-line model explains some shading as mixing); on the strands scene of
        tests/ml/test_matting.py this floor was five sixths of the error.
    upsample_radius: radius, in working pixels, of the guided filter that carries the matte to full
        resolution (small: the matte already has its detail, the filter only transfers it).
    upsample_eps: that filter's regulariser.
    """

    band: float = 2.0
    reach: float = 6.0
    unsure: float = 0.1
    eps: float = 1e-5
    snap: float = 0.1
    upsample_radius: int = 1
    upsample_eps: float = 1e-5


def trimap(fit: GuidedFit, config: MattingConfig) -> np.ndarray:
    """Working-resolution trimap (float64: 0, UNKNOWN, 1) from the guided filter's fit."""
    hard = (fit.decision >= 0.5).astype(np.uint8)
    if hard.min() == hard.max():
        return hard.astype(np.float64)
    distance = cv2.distanceTransform(hard, cv2.DIST_L2, 3) + cv2.distanceTransform(1 - hard, cv2.DIST_L2, 3)
    scale = fit.per_model_pixel
    hesitant = (fit.prob > config.unsure) & (fit.prob < 1.0 - config.unsure)
    unknown = (distance <= max(1.0, config.band * scale)) | (hesitant & (distance <= config.reach * scale))
    return np.where(unknown, UNKNOWN, hard.astype(np.float64))


def _window_laplacian(image: np.ndarray, centres: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel indices (N, 9) and matting-Laplacian contributions (N, 9, 9) of the 3x3 windows at ``centres``.

    Levin et al.'s eq. 12: for window k, L_ij += delta_ij - (1 + (I_i - mu)^T (Sigma + eps/9 I)^-1
    (I_j - mu)) / 9.
    """
    height, width = image.shape[:2]
    ys, xs = np.nonzero(centres)
    dy, dx = np.mgrid[-1:2, -1:2]
    index = (ys[:, None] + dy.ravel()) * width + (xs[:, None] + dx.ravel())
    colours = image.reshape(-1, 3)[index]
    centred = colours - colours.mean(axis=1, keepdims=True)
    covariance = np.einsum("nki,nkj->nij", centred, centred) / 9.0 + (eps / 9.0) * np.eye(3)
    projected = centred @ np.linalg.inv(covariance)
    values = np.eye(9) - (1.0 + projected @ centred.transpose(0, 2, 1)) / 9.0
    return index, values


def closed_form_alpha(image: np.ndarray, tri: np.ndarray, eps: float = MattingConfig.eps) -> np.ndarray:
    """Closed-form alpha (float64, 0-1) of ``image`` (H, W, 3 float 0-1) given ``tri``; known pixels kept.

    Only the windows touching an unknown pixel enter the system, so the cost follows the band, not
    the image. Unknown pixels on the image's outermost row or column belong to no full window and
    take the value of their neighbours through the windows inside.
    """
    unknown = tri == UNKNOWN
    alpha = tri.copy()
    if not unknown.any():
        return alpha
    centres = cv2.dilate(unknown.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    centres[[0, -1], :] = False
    centres[:, [0, -1]] = False
    index, values = _window_laplacian(image, centres, eps)
    variable = np.full(tri.size, -1, np.int64)
    flat_unknown = np.flatnonzero(unknown)
    variable[flat_unknown] = np.arange(flat_unknown.size)
    rows = np.broadcast_to(variable[index][:, :, None], values.shape).ravel()
    cols = np.broadcast_to(index[:, None, :], values.shape).ravel()
    values = values.ravel()
    keep = rows >= 0
    rows, cols, values = rows[keep], cols[keep], values[keep]
    col_variable = variable[cols]
    inside = col_variable >= 0
    size = flat_unknown.size
    matrix = scipy.sparse.csr_matrix((values[inside], (rows[inside], col_variable[inside])), shape=(size, size))
    known = ~inside
    rhs = -np.bincount(rows[known], values[known] * tri.ravel()[cols[known]], minlength=size)
    # Pixels no window reaches (an unknown pixel alone on the border) would make the matrix singular.
    matrix = matrix + scipy.sparse.identity(size, format="csr") * 1e-9
    # A direct solve told the matrix is symmetric positive definite (minimum-degree ordering of
    # A + A^T, no pivoting): 165 ms of CPU for 30,000 unknowns (a 12 MP portrait) where SciPy's
    # default spsolve took 265. pymatting's incomplete-Cholesky conjugate gradients are faster still,
    # but importing pymatting (numba, LLVM) costs a server 1.2 s and 190 MB per worker.
    factor = scipy.sparse.linalg.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                      options={"SymmetricMode": True})
    alpha.ravel()[flat_unknown] = factor.solve(rhs)
    return np.clip(alpha, 0.0, 1.0)


def upsample_matte(rgb: np.ndarray, work: WorkImage, alpha: np.ndarray, config: MattingConfig) -> np.ndarray:
    """Full-resolution uint8 alpha from the working-resolution ``alpha``: pixels whose neighbourhood
    is all 0 or all 1 block by block, the rest through a small guided filter applied to the photo's
    own pixels (only those: on a 12 MP portrait about half the unknown band ends up 0 or 1)."""
    height, width = rgb.shape[:2]
    if work.factor == 1:
        return np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    guide = work.rgb.astype(np.float32) / 255.0
    a, b = guided_coefficients(guide, alpha.astype(np.float32), config.upsample_radius, config.upsample_eps)
    full = expand((alpha >= 0.5).astype(np.uint8) * np.uint8(255), work.factor, height, width)
    # One working pixel more, so every full-resolution pixel that samples a soft one is in.
    band = cv2.dilate(((alpha > 0) & (alpha < 1)).astype(np.uint8), np.ones((3, 3), np.uint8))
    points = cv2.findNonZero(expand(band, work.factor, height, width))
    if points is None:
        return full
    points = points.reshape(-1, 2)
    xs, ys = points[:, 0], points[:, 1]
    value = apply_fit(rgb, a.reshape(guide.shape), b, work.factor, ys, xs)
    full[ys, xs] = np.clip(value * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return full


def matte(rgb: np.ndarray, work: WorkImage, fit: GuidedFit, config: MattingConfig = MattingConfig()) -> np.ndarray:
    """Full-resolution uint8 alpha for photo ``rgb`` from the guided filter's working-resolution ``fit``."""
    tri = trimap(fit, config)
    alpha = closed_form_alpha(work.rgb.astype(np.float64) / 255.0, tri, config.eps)
    alpha = np.clip((alpha - config.snap) / (1.0 - 2.0 * config.snap), 0.0, 1.0)
    return upsample_matte(rgb, work, alpha, config)
