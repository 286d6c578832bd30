"""Photo in, full-resolution soft alpha matte and hard mask out.

Stages (each timed in ``Matte.timings_ms``): ``resize`` reduces the photo once by a whole factor
(the working copy, shared with the refinement) and letterboxes that into the model's square canvas
with the same ``ml.preprocess.letterbox`` training used; ``model`` runs the network (twice with
test-time augmentation: the canvas and its mirror image, averaged); ``refine`` upsamples the
probability to the photo's own size guided by the photo's edges, after dropping stray blobs and
filling pin-holes (``ml.refine``), then, with ``matting``, solves a real alpha matte in the band round
the outline (``ml.matting``; its time is part of ``refine``). With ``refocus``, each small person
found is looked at again, cropped at the model's full input size, before the refinement (``ml.refocus``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from ml.preprocess import letterbox, unletterbox
from ml.matting import MattingConfig, matte
from ml.refine import RefineConfig, WorkImage, bilinear_upsample, clean_mask, guided_fit, guided_upsample, reduce
from ml.refocus import RefocusConfig, refocus
from ml.registry import ModelRuntime


# Room left round the subject when a result is cropped to it (CLI --crop, API crop=subject), as a
# fraction of the subject box's longer side.
CROP_MARGIN = 0.05


def subject_box(mask: np.ndarray, margin: float = 0.0) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the True pixels of ``mask``, exclusive at bottom/right, grown by
    ``margin`` (a fraction of the box's longer side) and clipped to the image. None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    pad = round(margin * max(bottom - top, right - left))
    height, width = mask.shape
    return (max(0, top - pad), max(0, left - pad), min(height, bottom + pad), min(width, right + pad))


@dataclass
class Matte:
    """The result for one photo: ``alpha`` uint8 (H, W) 0-255, ``mask`` bool (H, W) = alpha >= threshold."""

    alpha: np.ndarray
    mask: np.ndarray
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when no pixel is foreground: the model found no person."""
        return not bool(self.mask.any())

    def bbox(self, margin: float = 0.0) -> tuple[int, int, int, int] | None:
        """The subject's box (see ``subject_box``); None when empty."""
        return subject_box(self.mask, margin)

    def crop(self, image: np.ndarray, margin: float = CROP_MARGIN) -> tuple[np.ndarray, "Matte"]:
        """Crop ``image`` (same H, W) and this matte to the subject's box; unchanged when empty."""
        box = self.bbox(margin)
        if box is None:
            return image, self
        top, left, bottom, right = box
        cropped = Matte(self.alpha[top:bottom, left:right], self.mask[top:bottom, left:right],
                        dict(self.timings_ms))
        return image[top:bottom, left:right], cropped


def _letterbox_fit(rgb: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    canvas, box = letterbox(rgb, size, interpolation=cv2.INTER_AREA, multiple=stride)
    return canvas, lambda prob: unletterbox(prob, box.reduced(stride))


def _stretch_fit(rgb: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    # The photo's aspect ratio is lost (only kept for measuring against letterbox: docs/segmenter.md).
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA), lambda prob: prob


# How a photo is fitted into the model's square canvas (of a size and for an output stride)
# -> (canvas, function mapping the output back).
FITS = {"letterbox": _letterbox_fit, "stretch": _stretch_fit}


class Segmenter:
    """Runs one model runtime over photos of any size. Stateless per call, so safe to share between threads."""

    def __init__(self, runtime: ModelRuntime, tta: bool = False, refine: bool = True, threshold: int = 128,
                 clean: bool = True, config: RefineConfig = RefineConfig(), fit: str = "letterbox",
                 matting: bool = False, matting_config: MattingConfig = MattingConfig(),
                 refocus: RefocusConfig | None = None):
        if matting and not refine:
            raise ValueError("matting starts from the guided refinement; it cannot run with refine=False")
        if not 1 <= threshold <= 255:
            raise ValueError(f"threshold must be 1-255, got {threshold}")
        if fit not in FITS:
            raise ValueError(f"unknown fit {fit!r}; choose from {', '.join(FITS)}")
        self.runtime = runtime
        self.tta = tta
        self.refine = refine
        self.clean = clean
        self.threshold = threshold
        self.config = config
        self.fit = fit
        self.matting = matting
        self.matting_config = matting_config
        self.refocus = refocus

    def probability(self, rgb: np.ndarray, timings: dict[str, float] | None = None) -> np.ndarray:
        """Low-resolution person probability covering ``rgb`` (canvas padding removed)."""
        timings = {} if timings is None else timings
        start = time.perf_counter()
        canvas, undo = FITS[self.fit](rgb, self.runtime.input_size, self.runtime.stride)
        canvas = canvas.astype(np.float32)
        timings["resize"] = timings.get("resize", 0.0) + _ms(start)
        start = time.perf_counter()
        prob = self.runtime.predict(canvas)
        if self.tta:
            mirrored = self.runtime.predict(np.ascontiguousarray(canvas[:, ::-1]))
            prob = 0.5 * (prob + mirrored[:, ::-1])
        timings["model"] = _ms(start)
        return np.ascontiguousarray(undo(prob))

    def upsample(self, rgb: np.ndarray, prob: np.ndarray, work: WorkImage | None = None) -> np.ndarray:
        """Full-resolution uint8 alpha for ``rgb`` from its low-resolution probability.

        ``work`` is the photo's working copy if the caller has it already (see ``segment``).
        """
        if self.matting:
            work = work or reduce(rgb, self.config.work_side)
            fit = guided_fit(work, prob, self.runtime.input_size, self.config, clean=self.clean)
            return matte(rgb, work, fit, self.matting_config)
        if self.refine:
            work = work or reduce(rgb, self.config.work_side)
            return guided_upsample(rgb, work, prob, self.runtime.input_size, self.config, clean=self.clean)
        if self.clean:
            prob = clean_mask(prob, self.config.min_blob, self.config.max_hole)
        return bilinear_upsample(prob, *rgb.shape[:2])

    def segment(self, rgb: np.ndarray) -> Matte:
        """Soft alpha and hard mask at the size of ``rgb`` (H, W, 3) uint8."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 array, got {rgb.dtype} {rgb.shape}")
        timings: dict[str, float] = {}
        total = time.perf_counter()
        # One area-averaged reduction serves both the model's input and the refinement's guide.
        work = reduce(rgb, self.config.work_side)
        timings["resize"] = _ms(total)
        prob = self.probability(work.rgb, timings)
        if self.refocus is not None:
            start = time.perf_counter()
            prob = refocus(prob, work.rgb, self.probability, self.refocus)
            timings["refocus"] = _ms(start)
        start = time.perf_counter()
        alpha = self.upsample(rgb, prob, work)
        mask = alpha >= self.threshold
        timings["refine"] = _ms(start)
        timings["total"] = _ms(total)
        return Matte(alpha, mask, timings)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
