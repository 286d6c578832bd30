"""ISNet (Qin et al., "Highly Accurate Dichotomous Image Segmentation", MIT-licensed weights) as a
training teacher, taken from the npm package ``@imgly/background-removal-data``.

That package (itself AGPL: it is only unpacked into the cache, never shipped or linked) stores its
ONNX models in 4 MB chunks named by hash, listed in ``dist/resources.json``; ``/models/medium`` is
ISNet with float16 weights. ``npm pack`` fetches the tarball once into the cache, and the chunks are
joined into ``isnet-medium.onnx``. The model takes RGB stretched to 1024x1024, as (x - 128) / 256 in
NCHW, and returns the foreground probability. It is a salient-object model, not a person model: it
can miss bystanders or keep a held object, which is what the other teachers are there to outvote.
"""
from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import cv2
import numpy as np

from ml.atomic import write_atomic
from ml.errors import BackdropError
from ml.teachers.cache import CACHE_ROOT

PACKAGE = "@imgly/background-removal-data@1.4.5"
RESOURCE = "/models/medium"
CACHE = CACHE_ROOT / "isnet"
INPUT_SIZE = 1024


def fetch_model(cache: Path = CACHE) -> Path:
    """``isnet-medium.onnx`` in ``cache``, assembled from the npm package the first time."""
    target = cache / "isnet-medium.onnx"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    if not any(cache.glob("*.tgz")):
        try:
            subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(cache)], check=True,
                           stdout=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError):
            raise BackdropError(f"npm could not fetch {PACKAGE}; put its tarball into {cache} by hand") from None
    with tarfile.open(next(cache.glob("*.tgz"))) as archive:
        def member(name: str) -> bytes:
            return archive.extractfile(f"package/dist/{name}").read()

        entry = json.loads(member("resources.json"))[RESOURCE]
        model = b"".join(member(chunk["hash"]) for chunk in entry["chunks"])
    if len(model) != entry["size"]:
        raise BackdropError(f"{PACKAGE}: {RESOURCE} has {len(model)} bytes, its index says {entry['size']}")
    write_atomic(target, model)
    return target


class ISNetTeacher:
    """ISNet's foreground probability at the photo's own size."""

    name = "isnet"

    def __init__(self, cache: Path = CACHE, threads: int = 2):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(fetch_model(cache)), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        canvas = cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        batch = ((canvas - 128.0) / 256.0).transpose(2, 0, 1)[None]
        prob = self.session.run(["output"], {self.input_name: batch})[0][0, 0]
        return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
