"""Previews: the small pictures pages show instead of full-size files.

A 12 MP photo's full-size files weigh 5-10 MB, and a page that fetched them would be slow on a phone
for no visible gain in a frame a few hundred pixels wide; previews are made once, with the photo or
result, and full-size files are only fetched by the download links.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.imageio import encode_image, fit_within

# The longer side of what pages show (sharp on a 2x screen at 800 px) and of history thumbnails.
# Opaque ones are JPEG (a 1600 px one encodes in 11 ms, against 300 ms for WebP at its default
# effort); cutouts need alpha, so WebP at its fastest effort (1600 px: 55-70 ms and 78 kB, against
# about 190 ms and 55 kB at the default 4): previews are made on every upload.
PREVIEW_SIDE = 1600
THUMB_SIDE = 360
PREVIEW_QUALITY = 85
PREVIEW_WEBP_METHOD = 0


@dataclass(frozen=True)
class Previews:
    """The page preview and thumbnail of one picture, encoded in ``fmt`` (``webp`` or ``jpg``)."""

    fmt: str
    preview: bytes
    thumb: bytes


def result_previews(image: np.ndarray) -> Previews:
    """Previews of a cutout (WebP, it needs alpha) or an opaque result (JPEG); the thumbnail is
    scaled from the preview, which is as sharp as it needs and much cheaper than the full image."""
    fmt = "webp" if image.ndim == 3 and image.shape[2] == 4 else "jpg"
    preview = fit_within(image, PREVIEW_SIDE)
    encoded = (encode_image(picture, fmt, PREVIEW_QUALITY, webp_method=PREVIEW_WEBP_METHOD)
               for picture in (preview, fit_within(preview, THUMB_SIDE)))
    return Previews(fmt, *encoded)


def photo_previews(rgb: np.ndarray) -> Previews:
    """JPEG previews of an uploaded photo, each scaled from the full photo."""
    preview, thumb = (encode_image(fit_within(rgb, side), "jpg", PREVIEW_QUALITY) for side in (PREVIEW_SIDE, THUMB_SIDE))
    return Previews("jpg", preview, thumb)
