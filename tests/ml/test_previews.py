"""ml.previews: small pictures for pages, WebP where alpha is needed, JPEG otherwise."""
import io

import numpy as np
from PIL import Image

from ml.previews import PREVIEW_SIDE, THUMB_SIDE, photo_previews, result_previews


def sizes(previews) -> list[tuple[int, int]]:
    return [Image.open(io.BytesIO(data)).size for data in (previews.preview, previews.thumb)]


def test_cutouts_get_webp_and_results_jpeg_at_both_sides():
    cutout = np.zeros((2000, 1000, 4), np.uint8)
    made = result_previews(cutout)
    assert made.fmt == "webp" and sizes(made) == [(800, PREVIEW_SIDE), (180, THUMB_SIDE)]
    assert result_previews(cutout[:, :, :3]).fmt == "jpg"


def test_a_small_photo_is_not_enlarged():
    made = photo_previews(np.zeros((100, 50, 3), np.uint8))
    assert made.fmt == "jpg" and sizes(made) == [(50, 100), (50, 100)]
