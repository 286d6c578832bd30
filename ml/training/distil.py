"""Soft targets for distillation: a trained model's person probability on each training canvas.

SINet has 90k parameters; the trained Mobile-UNet (a million) or MediaPipe see more in the same
photo. Run on the very canvas the student gets (after augmentation and synthesis), their probability
becomes the target's third channel and ``ml.training.losses.Distilled`` adds the cross-entropy to it.
The teacher runs through LiteRT in the batch workers, beside the Keras student, on any backend.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ml.catalogue import MODELS
from ml.registry import ModelRuntime, load_runtime, stretched_probability

PEER = "mediapipe"
# The models a run may distil from: our own (their published .tflite) and MediaPipe Selfie.
SOURCES: tuple[str, ...] = (*MODELS, PEER)


def _load(name: str) -> ModelRuntime:
    if name == PEER:
        from ml.teachers.mediapipe import load_peer
        return load_peer()
    return load_runtime(name)


class SoftTargets:
    """``(N, S, S, 3)`` float32 canvases in 0-255 to ``(N, S, S)`` person probabilities from ``name``.

    The runtime loads on first use in each process: batch workers may be forked, and a LiteRT
    interpreter (with its thread pool) made before a fork must not be used after it.
    """

    def __init__(self, name: str, load: Callable[[str], ModelRuntime] = _load):
        if name not in SOURCES:
            raise ValueError(f"cannot distil from {name!r}; choose from {', '.join(SOURCES)}")
        self.name, self._load = name, load
        self._runtime: ModelRuntime | None = None
        self._pid = -1

    def _model(self) -> ModelRuntime:
        if self._runtime is None or self._pid != os.getpid():
            self._runtime, self._pid = self._load(self.name), os.getpid()
        return self._runtime

    def __call__(self, canvases: np.ndarray) -> np.ndarray:
        model = self._model()
        return np.stack([stretched_probability(model, canvas) for canvas in canvases])
