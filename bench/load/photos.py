"""The test photos: synthetic portraits at fixed sizes and the NASA portrait (``devtools.portrait``) for ID photos.

Synthetic, so the benchmark needs no photo collection and every run sends the same bytes; cached in
``.cache/bench-photos/`` because generating a 12 MP one takes longer than the request it feeds.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image

from bench.load import ROOT, log
from devtools.portrait import PORTRAIT
from ml.atomic import write_atomic

CACHE = ROOT / ".cache" / "bench-photos"
PHOTO_VERSION = 1  # part of the cached file names: bump it when synthetic_photo draws differently

# Megapixels of the synthetic photos and how often the mixed load picks each (small ones are common).
PHOTO_SIZES_MP = {0.3: 0.30, 1.0: 0.25, 2.0: 0.18, 4.0: 0.12, 8.0: 0.09, 12.0: 0.06}
SMALL_SIZES_MP = {0.3: 0.6, 1.0: 0.4}  # the 2,000-request memory run


def synthetic_photo(megapixels: float, seed: int) -> np.ndarray:
    """A portrait-like RGB photo: soft gradient room, blurred shapes, a head-and-shoulders figure, grain.

    Smooth areas and hard edges in photo-like proportions make JPEG sizes and segmentation work
    realistic, which flat noise (incompressible) or flat colour (trivial) would not.
    """
    rng = np.random.default_rng(seed)
    width = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
    height = int(round(width * 4 / 3))
    small_w, small_h = max(8, width // 16), max(8, height // 16)
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    top, bottom = rng.uniform(60, 220, 3), rng.uniform(30, 200, 3)
    room = top + (bottom - top) * (yy / small_h)[..., None] + 25 * np.sin(xx / small_w * 3 + rng.uniform(0, 6))[..., None]
    for _ in range(12):  # furniture, windows, plants: blurred rectangles and discs
        colour = tuple(float(c) for c in rng.uniform(20, 235, 3))
        x0, y0 = int(rng.uniform(0, small_w)), int(rng.uniform(0, small_h))
        if rng.random() < 0.5:
            cv2.rectangle(room, (x0, y0), (x0 + int(rng.uniform(2, small_w / 3)), y0 + int(rng.uniform(2, small_h / 3))), colour, -1)
        else:
            cv2.circle(room, (x0, y0), int(rng.uniform(2, small_w / 5)), colour, -1)
    room = cv2.GaussianBlur(room, (0, 0), 1.2)
    image = cv2.resize(room, (width, height), interpolation=cv2.INTER_CUBIC)
    cx, unit = width // 2 + int(rng.uniform(-0.05, 0.05) * width), width / 100
    shirt = tuple(float(c) for c in rng.uniform(20, 200, 3))
    skin = tuple(float(c) for c in (rng.uniform(150, 225), rng.uniform(110, 170), rng.uniform(90, 140)))
    cv2.ellipse(image, (cx, int(height * 0.95)), (int(42 * unit), int(height * 0.3)), 0, 180, 360, shirt, -1)
    cv2.rectangle(image, (cx - int(42 * unit), int(height * 0.95)), (cx + int(42 * unit), height), shirt, -1)
    cv2.rectangle(image, (cx - int(8 * unit), int(height * 0.5)), (cx + int(8 * unit), int(height * 0.68)), skin, -1)
    cv2.ellipse(image, (cx, int(height * 0.42)), (int(17 * unit), int(22 * unit)), 0, 0, 360, skin, -1)
    cv2.ellipse(image, (cx, int(height * 0.36)), (int(19 * unit), int(14 * unit)), 0, 180, 360,
                tuple(float(c) for c in rng.uniform(10, 90, 3)), -1)
    for side in (-1, 1):  # eyes and a mouth, so the figure reads as a face at a glance
        cv2.circle(image, (cx + side * int(6 * unit), int(height * 0.42)), max(1, int(1.6 * unit)), (40, 30, 30), -1)
    cv2.ellipse(image, (cx, int(height * 0.47)), (int(5 * unit), max(1, int(1.2 * unit))), 0, 0, 180, (150, 60, 60), -1)
    image = cv2.GaussianBlur(image, (0, 0), max(0.6, unit / 8))
    image += rng.normal(0, 4, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB array: every test upload is a JPEG, as most photos people send are."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def load_photos(sizes: Iterable[float], cache: Path = CACHE) -> dict[float, bytes]:
    """JPEG bytes per size in megapixels, generated on first use and cached."""
    cache.mkdir(parents=True, exist_ok=True)
    photos = {}
    for megapixels in sizes:
        path = cache / f"portrait-{megapixels:g}mp-v{PHOTO_VERSION}.jpg"
        if not path.exists():
            log(f"generating a {megapixels:g} MP test photo -> {path.relative_to(ROOT)}")
            write_atomic(path, jpeg(synthetic_photo(megapixels, seed=int(megapixels * 10))))
        photos[megapixels] = path.read_bytes()
    return photos


def id_photo_inputs() -> list[bytes]:
    """The NASA portrait as shipped (0.26 MP) and upscaled to 1600 px (2.6 MP)."""
    small = PORTRAIT.read_bytes()
    path = CACHE / f"astronaut-1600-v{PHOTO_VERSION}.jpg"
    if not path.exists():
        rgb = np.asarray(Image.open(io.BytesIO(small)).convert("RGB"))
        write_atomic(path, jpeg(cv2.resize(rgb, (1600, 1600), interpolation=cv2.INTER_CUBIC)))
    return [small, path.read_bytes()]

