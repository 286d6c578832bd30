"""Backdrop's machine-learning layer: models, data, training, evaluation and inference.

The web app imports from here and never reimplements any of it. The library call is
``from ml import remove, new_segmenter`` (ml/library.py); it is imported on first use, so
``import ml.data`` and the other submodules do not pay for the segmenter's imports.
"""
from __future__ import annotations

from typing import Any

__all__ = ["new_segmenter", "remove"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ml import library
        return getattr(library, name)
    raise AttributeError(f"module 'ml' has no attribute {name!r}")
