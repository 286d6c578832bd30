"""Fixtures for the web tests: an app on a temporary data directory, and photos drawn on the fly.

The app loads the real committed LiteRT models (start-up takes tens of milliseconds), so every test
exercises the same code path a user's upload does.
"""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from webapp import create_app


def portrait(height: int = 320, width: int = 240, seed: int = 0) -> np.ndarray:
    """A person-like figure (head and shoulders in skin and shirt colours) on a textured backdrop."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.dstack([60 + 80 * yy / height, 120 + 60 * xx / width, 170 - 40 * yy / height])
    image = image + rng.normal(0, 6, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    cx = width // 2
    cv2.ellipse(image, (cx, int(height * 0.72)), (int(width * 0.42), int(height * 0.3)), 0, 180, 360,
                (40, 60, 150), -1)
    cv2.rectangle(image, (cx - int(width * 0.42), int(height * 0.72)), (cx + int(width * 0.42), height), (40, 60, 150), -1)
    cv2.ellipse(image, (cx, int(height * 0.36)), (int(width * 0.17), int(height * 0.2)), 0, 0, 360, (205, 160, 130), -1)
    cv2.ellipse(image, (cx, int(height * 0.24)), (int(width * 0.19), int(height * 0.1)), 0, 180, 360, (50, 35, 25), -1)
    return image


def encode(rgb: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **options)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app(data_dir: Path):
    return create_app({"DATA_DIR": data_dir, "TESTING": True, "MAX_UPLOAD_MB": 2, "MAX_PIXELS": 1_000_000})


@pytest.fixture
def client(app, form_client_class):
    app.test_client_class = form_client_class  # posts forms with the page's CSRF token (tests/conftest.py)
    return app.test_client()


@pytest.fixture
def photo() -> bytes:
    return encode(portrait())


@pytest.fixture
def store(app):
    return app.extensions["backdrop"].store


def upload(client, url: str = "/jobs", image: bytes | None = None, filename: str = "photo.jpg",
           mimetype: str = "image/jpeg", json: bool = False, **fields):
    """POST a multipart form like the page (or API) does; ``image=None`` leaves the file out."""
    data = dict(fields)
    if image is not None:
        data["image"] = (io.BytesIO(image), filename, mimetype)
    headers = {"Accept": "application/json"} if json else {}
    return client.post(url, data=data, headers=headers, content_type="multipart/form-data")


def job_id_from(location: str) -> str:
    return location.split("/jobs/")[1].split("/")[0].split("?")[0]
