"""Putting a cut-out subject onto a new background: transparent, a colour, the blurred or greyscale
original, or another photo.

Edges are colour-decontaminated first. A pixel on the subject's edge is a mix of subject and old
background (I = a F + (1 - a) B); pasting it unchanged onto a new colour leaves a fringe of the old
background (the bright halo round dark hair that users complain about in other tools). We estimate
the pure subject colour F at every partly transparent pixel with the blur-fusion estimator of Forte
and Pitie ("Approximate Fast Foreground Colour Estimation", ICIP 2021): local means of subject and
background colours, weighted by alpha, then one correction step. The smooth means are computed at a
working resolution; the correction runs only on the edge band at full resolution, so the cost is
proportional to the outline, not the photo.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ml.colour import colour_hex, colour_label, is_css_name, parse_colour
from ml.errors import BackgroundError
from ml.imageio import DEFAULT_MAX_PIXELS, fit_within, load_image
from ml.metrics import binarize
from ml.refine import reduce, sample_at
from ml.segmenter import subject_box

# The local colour means are smooth, so they are computed small: 384 px gave the same error as 512 on
# synthetic dark-on-light edges (the scene of tests/ml/test_compose.py) at 0.08, 1 and 12 MP, and
# halves the cost at 1 MP.
DECONTAMINATION_WORK_SIDE = 384
# Box radii of the two blur-fusion passes as fractions of the working resolution's longer side:
# the first gathers colours from well inside the subject and background, the second stays local.
WIDE_RADIUS = 1 / 16
NARROW_RADIUS = 1 / 128
# The local means weight pixels by alpha ** 4 (subject) and (1 - alpha) ** 4 (background), not by
# alpha itself as in the paper: mixed pixels then barely count, which cut the colour error at the edge
# of a synthetic dark-hair-on-white test from 4.5 to 1.0 grey levels (tests/ml/test_compose.py).
CONFIDENCE_POWER = 4
_EPS = 1e-4


class Background(ABC):
    """What goes behind the subject, parsed once from what people wrote (``parse_background``) and
    passed around as this value. ``transparent`` backgrounds yield RGBA, the others RGB.

    ``spec`` is how it is written down (job records, settings) and read back by ``parse_background``;
    ``label`` is how pages name it.
    """

    transparent = False
    spec: str
    label: str

    @abstractmethod
    def render(self, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """The (H, W, 3) uint8 background for photo ``rgb`` with subject ``alpha``."""


class Transparent(Background):
    """No background: the output carries the alpha channel."""

    transparent = True
    spec = "transparent"
    label = "Transparent"

    def render(self, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return np.zeros_like(rgb)


@dataclass(frozen=True)
class Colour(Background):
    """A solid colour."""

    rgb: tuple[int, int, int]

    @property
    def spec(self) -> str:
        return colour_hex(self.rgb)

    @property
    def label(self) -> str:
        return colour_label(self.rgb)

    def render(self, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        # One row copied down the image: several times faster than np.full on 12 MP.
        row = np.full((1,) + rgb.shape[1:], self.rgb, dtype=np.uint8)
        return np.ascontiguousarray(np.broadcast_to(row, rgb.shape))


@dataclass(frozen=True)
class Blur(Background):
    """The original background, blurred like a shallow depth of field.

    ``strength`` is the Gaussian sigma in percent of the photo's longer side (so a phone photo and its
    thumbnail look alike). The subject is left out of the average (normalised convolution), otherwise
    its colours smear into a ghost around it.
    """

    strength: float = 2.0
    label = "Blurred"

    @property
    def spec(self) -> str:
        return "blur" if self.strength == Blur.strength else f"blur:{self.strength:g}"

    def render(self, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        # Blur at a resolution where sigma is a few pixels: the result is smooth, so upsampling loses nothing.
        side = max(64, round(8 * 100 / self.strength))
        small = reduce(rgb, side).rgb.astype(np.float32)
        weight = 1.0 - reduce(alpha, side).rgb.astype(np.float32) / 255.0
        sigma = self.strength / 100.0 * max(small.shape[:2])
        blurred = cv2.GaussianBlur(small * weight[:, :, None], (0, 0), sigma)
        total = cv2.GaussianBlur(weight, (0, 0), sigma)
        plain = cv2.GaussianBlur(small, (0, 0), sigma)
        # Where the subject fills the whole neighbourhood there is no background to average: use the plain blur.
        trust = np.clip(total / 0.05, 0.0, 1.0)[:, :, None]
        mixed = trust * blurred / np.maximum(total, _EPS)[:, :, None] + (1.0 - trust) * plain
        small_out = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        return cv2.resize(small_out, (width, height), interpolation=cv2.INTER_LINEAR)


class Grey(Background):
    """The original background in greyscale (the subject keeps its colour)."""

    spec = "grey"
    label = "Greyscale"

    def render(self, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


@dataclass(frozen=True, eq=False)
class ImageBackground(Background):
    """Another picture: ``fill`` covers the frame (centre crop), ``fit`` shows all of it (padded)."""

    image: np.ndarray
    fit: str = "fill"
    label = "Image"

    def __post_init__(self):
        if self.fit not in ("fill", "fit"):
            raise BackgroundError(f"unknown fit {self.fit!r}; use fill or fit")

    @property
    def spec(self) -> str:
        """``image`` (or ``fit:image``): the pixels came with the request, never from a path."""
        return IMAGE if self.fit == "fill" else f"fit:{IMAGE}"

    def render(self, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        src_h, src_w = self.image.shape[:2]
        if self.fit == "fill":
            scale = max(height / src_h, width / src_w)
            new_h, new_w = max(height, round(src_h * scale)), max(width, round(src_w * scale))
        else:
            scale = min(height / src_h, width / src_w)
            new_h, new_w = max(1, min(height, round(src_h * scale))), max(1, min(width, round(src_w * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(self.image, (new_w, new_h), interpolation=interpolation)
        if self.fit == "fill":
            top, left = (new_h - height) // 2, (new_w - width) // 2
            return np.ascontiguousarray(resized[top:top + height, left:left + width])
        mean = tuple(int(v) for v in self.image.reshape(-1, 3).mean(axis=0))
        out = np.full((height, width, 3), mean, dtype=np.uint8)
        top, left = (height - new_h) // 2, (width - new_w) // 2
        out[top:top + new_h, left:left + new_w] = resized
        return out


# The word naming an image background whose pixels the caller holds (an upload, a stored picture).
IMAGE = "image"
_GREY_WORDS = {"grey", "gray", "greyscale", "grayscale"}


def parse_background(spec: str, max_pixels: int = DEFAULT_MAX_PIXELS, *, image: np.ndarray | None = None,
                     files: bool = False) -> Background:
    """Turn a user's background choice into a Background.

    Accepts ``transparent``, a colour (``#RRGGBB``, ``#RGB``, a CSS name), ``blur`` or ``blur:STRENGTH``
    (sigma in percent of the longer side, 0.1-20), ``grey`` (the greyscale photo, not CSS grey),
    ``image`` when the caller passes the picture as ``image``, and, only with ``files`` (the CLIs and the
    library: never a request), the path of an image file; ``fit:``/``fill:`` before an image or path.
    Raises BackgroundError (a ValueError) for an unknown value and ImageError for an unreadable image.
    """
    text = spec.strip()
    word = text.lower()
    if word == Transparent.spec:
        return Transparent()
    if word in _GREY_WORDS:
        return Grey()
    if word == "blur" or word.startswith("blur:"):
        return Blur(_parse_strength(text[5:]) if ":" in word else Blur.strength)
    if text.startswith("#") or is_css_name(word):
        return Colour(parse_colour(text))
    fit = "fill"
    if word.startswith(("fit:", "fill:")):
        fit, text = text.split(":", 1)
        fit = fit.lower()
    if image is not None and text.lower() == IMAGE:
        return ImageBackground(image, fit)
    if files and Path(text).is_file():
        return ImageBackground(load_image(text, max_pixels), fit)
    path = " or the path of an image file" if files else ""
    raise BackgroundError(f"unknown background {spec!r}: use transparent, #RRGGBB, #RGB, a CSS colour name, "
                          f"blur, blur:STRENGTH, grey{path}")


@dataclass(frozen=True)
class Framing:
    """How much of the photo a result shows: cropped to the subject (``crop_margin``: the room left
    round it, as a fraction of its longer side) and/or scaled down to ``max_side`` pixels at most.

    Applied to the photo and its matte before composing, so a small result costs a small compose.
    """

    crop_margin: float | None = None
    max_side: int | None = None

    @property
    def whole(self) -> bool:
        """True when the result is the full photo at full size."""
        return self.crop_margin is None and self.max_side is None

    def apply(self, images: Sequence[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
        """``images`` (all of ``mask``'s height and width) cropped and scaled alike; uncropped when
        ``mask`` holds no subject."""
        box = subject_box(mask, self.crop_margin) if self.crop_margin is not None else None
        if box is not None:
            top, left, bottom, right = box
            images = [image[top:bottom, left:right] for image in images]
        if self.max_side is not None:
            images = [fit_within(image, self.max_side) for image in images]
        return list(images)

    def apply_to_mask(self, mask: np.ndarray) -> np.ndarray:
        """A 0/255 mask framed as its photo would be (cropped to itself), and 0/255 again after scaling,
        which greys the outline."""
        (framed,) = self.apply([mask], binarize(mask))
        return binarize(framed).astype(np.uint8) * 255


def _parse_strength(text: str) -> float:
    try:
        strength = float(text)
    except ValueError:
        raise BackgroundError(f"blur strength {text!r} is not a number") from None
    if not 0.1 <= strength <= 20:
        raise BackgroundError(f"blur strength {strength:g} is out of range; use 0.1 to 20")
    return strength


def _box_mean(values: np.ndarray, weight: np.ndarray, radius: int) -> np.ndarray:
    """Weighted local mean: box(values * weight) / box(weight)."""
    size = (2 * radius + 1, 2 * radius + 1)
    total = cv2.boxFilter(values * weight[:, :, None], -1, size, borderType=cv2.BORDER_REFLECT)
    norm = cv2.boxFilter(weight, -1, size, borderType=cv2.BORDER_REFLECT)
    return total / (norm[:, :, None] + _EPS)


def _local_colours(rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Working-resolution maps of the local subject and background colours (float32, 0-1), and the
    factor they are reduced by."""
    work = reduce(rgb, DECONTAMINATION_WORK_SIDE)
    image = work.rgb.astype(np.float32) / 255.0
    a = reduce(alpha, DECONTAMINATION_WORK_SIDE).rgb.astype(np.float32) / 255.0
    side = max(a.shape)
    wide, narrow = max(1, round(WIDE_RADIUS * side)), max(1, round(NARROW_RADIUS * side))
    fg_weight, bg_weight = a ** CONFIDENCE_POWER, (1.0 - a) ** CONFIDENCE_POWER
    fg = _box_mean(image, fg_weight, wide)
    bg = _box_mean(image, bg_weight, wide)
    a3 = a[:, :, None]
    fg = np.clip(fg + a3 * (image - a3 * fg - (1.0 - a3) * bg), 0.0, 1.0)
    return _box_mean(fg, fg_weight, narrow), _box_mean(bg, bg_weight, narrow), work.factor


def edge_band(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the partly transparent pixels (0 < alpha < 255)."""
    points = cv2.findNonZero(cv2.inRange(alpha, 1, 254))
    if points is None:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    points = points.reshape(-1, 2)
    return points[:, 1].astype(np.intp), points[:, 0].astype(np.intp)


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Pure subject colour (N, 3) float32 0-255 at the band pixels (ys, xs), old background removed."""
    if ys.size == 0:
        return np.empty((0, 3), np.float32)
    fg_mean, bg_mean, factor = _local_colours(rgb, alpha)
    fg = sample_at(fg_mean, ys, xs, factor)
    bg = sample_at(bg_mean, ys, xs, factor)
    a = (alpha[ys, xs].astype(np.float32) / 255.0)[:, None]
    image = rgb[ys, xs].astype(np.float32) / 255.0
    return np.clip(fg + a * (image - a * fg - (1.0 - a) * bg), 0.0, 1.0) * 255.0


def compose(rgb: np.ndarray, alpha: np.ndarray, background: Background, decontaminate: bool = True) -> np.ndarray:
    """Subject of ``rgb`` (H, W, 3 uint8) with matte ``alpha`` (H, W uint8) over ``background``.

    Returns RGBA for a transparent background, RGB otherwise. Where alpha is 255 the photo's pixels
    are kept exactly, where it is 0 the background's; only the edge band in between is blended (and,
    with ``decontaminate``, cleaned of the old background's colour first).
    """
    if rgb.shape[:2] != alpha.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"photo {rgb.shape} and alpha {alpha.shape} do not match")
    ys, xs = edge_band(alpha)
    band_rgb = estimate_foreground(rgb, alpha, ys, xs) if decontaminate else rgb[ys, xs].astype(np.float32)
    if background.transparent:
        # Colour under fully transparent pixels is invisible; zeroing it also makes PNGs much smaller.
        out = cv2.cvtColor(cv2.bitwise_and(rgb, rgb, mask=cv2.inRange(alpha, 1, 255)), cv2.COLOR_RGB2RGBA)
        out[:, :, 3] = alpha
        out[ys, xs, :3] = np.clip(band_rgb + 0.5, 0, 255).astype(np.uint8)
        return out
    out = background.render(rgb, alpha)
    cv2.copyTo(rgb, cv2.inRange(alpha, 255, 255), out)
    a = (alpha[ys, xs].astype(np.float32) / 255.0)[:, None]
    blended = a * band_rgb + (1.0 - a) * out[ys, xs].astype(np.float32)
    out[ys, xs] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out
