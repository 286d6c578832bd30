"""The segmentation models the app serves, loaded once at start-up and shared by all requests.

Loading happens in ``create_app`` so the first user never waits for it and a missing weights file
stops the server at boot rather than on someone's upload. The runtimes are safe to share between
threads (``ml.registry`` lends each call one of a small pool of interpreters); a semaphore caps how many images are
worked on at the same time (``WORKER_THREADS``) so a burst of uploads cannot exhaust memory or
starve the CPU.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ml.catalogue import table
from ml.errors import ModelError
from ml.library import TTA_ON_BY_DEFAULT, new_segmenter
from ml.registry import MODEL_FILES
from ml.segmenter import Matte

# Names shown in the UI; the registry's names are what requests and job records use.
LABELS: dict[str, str] = table("label")


class ModelPool:
    """Name -> loaded segmenter, plus the processing slots requests queue for."""

    def __init__(self, weights_dir: Path, worker_threads: int, names: list[str] | None = None,
                 tta: bool = TTA_ON_BY_DEFAULT) -> None:
        names = list(MODEL_FILES) if names is None else names
        start = time.perf_counter()
        # Keyed by (name, matting): each request says whether it wants the matting stage.
        self._segmenters = {(name, matting): new_segmenter(name, tta=tta, matting=matting, weights_dir=weights_dir)
                            for name in names for matting in (False, True)}
        self.load_ms = round((time.perf_counter() - start) * 1000, 1)
        self._runtimes = {name: self._segmenters[name, False].runtime for name in names}
        self._slots = threading.BoundedSemaphore(worker_threads)

    @property
    def names(self) -> list[str]:
        return list(self._runtimes)

    def label(self, name: str) -> str:
        return LABELS.get(name, name)

    def other(self, name: str) -> str:
        """The model to suggest for "Try the other model": the next one in the list."""
        names = self.names
        return names[(names.index(name) + 1) % len(names)]

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``WORKER_THREADS`` processing slots (decode, segment, compose)."""
        with self._slots:
            yield

    def segment(self, name: str, rgb: np.ndarray, matting: bool = False) -> Matte:
        if name not in self._runtimes:
            raise ModelError(f"unknown model {name!r}; choose one of {', '.join(self.names)}")
        return self._segmenters[name, matting].segment(rgb)

    def describe(self) -> list[dict[str, Any]]:
        """What /api/v1/models and /healthz report about each model: identity, size and its card."""
        return [{
            "name": name,
            "label": self.label(name),
            "input_size": runtime.input_size,
            "parameters": runtime.parameters,
            "status": runtime.card.get("status"),
            "metrics": runtime.card.get("metrics"),
            "card": runtime.card,
        } for name, runtime in self._runtimes.items()]
