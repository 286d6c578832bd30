"""Backdrop as a library: ``remove(image)`` cuts the person out in one call, ``new_segmenter(name)``
gives the shared segmenter behind it.

The defaults here (model, mirror averaging, refinement, matting, threshold) are the only ones: the
CLIs, the web app, the ID-photo tool and the benchmarks all build their segmenter through
``new_segmenter``, so a photo comes out the same whichever door it went in by.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

from ml.catalogue import DEFAULT_MODEL
from ml.compose import Background, compose, parse_background
from ml.imageio import DEFAULT_MAX_PIXELS, image_to_rgb, load_image
from ml.matting import ON_BY_DEFAULT as MATTING_ON_BY_DEFAULT
from ml.refocus import RefocusConfig
from ml.registry import DEFAULT_WEIGHTS_DIR, ModelRuntime, load_runtime
from ml.segmenter import CROP_MARGIN, Segmenter

# Average the model over the photo and its mirror image: +0.01 test IoU, +0.02 boundary F for one
# more model call (about 2 ms for SINet); bench/results/refinement.json, "guided, tta".
TTA_ON_BY_DEFAULT = True
# Alpha at or above which a pixel counts as person in the hard mask.
DEFAULT_THRESHOLD = 128

ImageInput = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]


def new_segmenter(name: str = DEFAULT_MODEL, *, tta: bool = TTA_ON_BY_DEFAULT, refine: bool = True,
                  matting: bool = MATTING_ON_BY_DEFAULT, threshold: int = DEFAULT_THRESHOLD,
                  refocus: bool = False, weights_dir: Path = DEFAULT_WEIGHTS_DIR,
                  backend: str = "tflite") -> Segmenter:
    """The segmenter for model ``name`` with these settings, made once and then shared.

    ``refocus`` (coarse to fine, ``ml.refocus``) is off unless asked: on the validation data it finds
    small people in synthetic scenes better (SINet 0.851 -> 0.903 IoU) but costs the real validation
    photos 0.7-0.9 IoU points (docs/segmenter.md). Segmenters are stateless per call
    and safe across threads, so one per (model file, settings) is enough. The weights are looked up
    afresh each call (``load_runtime`` notices a replaced file), so a new file gets a new segmenter.
    Raises ModelError for an unknown name or a missing/corrupt file.
    """
    runtime = load_runtime(name, Path(weights_dir), backend)
    return _segmenter(runtime, tta, refine, matting, threshold, refocus)


@lru_cache(maxsize=32)
def _segmenter(runtime: ModelRuntime, tta: bool, refine: bool, matting: bool, threshold: int,
               refocus: bool) -> Segmenter:
    return Segmenter(runtime, tta=tta, refine=refine, threshold=threshold, matting=matting,
                     refocus=RefocusConfig() if refocus else None)


def remove(image: ImageInput, model: str | Segmenter = DEFAULT_MODEL, background: str | Background = "transparent",
           crop: bool = False, *, margin: float = CROP_MARGIN, max_pixels: int = DEFAULT_MAX_PIXELS,
           **settings) -> np.ndarray:
    """The person in ``image`` cut out: (H, W, 4) RGBA uint8 on ``transparent``, (H, W, 3) RGB on a
    colour, ``blur``, ``grey`` or an image background (any ``parse_background`` spec, file paths included).

    ``image`` is a file path, the file's bytes, a Pillow image or a uint8 array (grey, RGB or RGBA;
    alpha is ignored). ``model`` is a catalogue name, or a segmenter already made (a batch reuses one);
    ``settings`` go to ``new_segmenter`` with a name (``tta``, ``refine``, ``matting``, ``threshold``, ``refocus``,
    ``weights_dir``, ``backend``). ``crop`` trims the result to the subject's box plus ``margin``.
    """
    if isinstance(model, Segmenter) and settings:
        raise TypeError(f"settings {sorted(settings)} apply to a model name, not to a segmenter already made")
    segmenter = model if isinstance(model, Segmenter) else new_segmenter(model, **settings)
    rgb = to_rgb(image, max_pixels)
    matte = segmenter.segment(rgb)
    if crop:
        rgb, matte = matte.crop(rgb, margin)
    chosen = background if isinstance(background, Background) else parse_background(background, max_pixels, files=True)
    return compose(rgb, matte.alpha, chosen)


def to_rgb(image: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Any input ``remove`` takes as an upright (H, W, 3) RGB uint8 array (ImageError for a bad file)."""
    if isinstance(image, Image.Image):
        return image_to_rgb(image)
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    return load_image(image, max_pixels)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4) uint8 as RGB; ValueError for anything else, since
    a float or BGR-shaped guess would silently give a wrong cut-out."""
    if array.dtype != np.uint8:
        raise ValueError(f"an image array must be uint8, got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[:, :, :3])
    raise ValueError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
