"""Model runtimes looked up by name: one small class per backend behind one interface.

Serving runs the LiteRT ``.tflite`` export (no TensorFlow import: faster start-up, a fraction of the
memory); the ``.keras`` file can be selected instead to check that the export agrees with it. Either
way a model is loaded once per process (``load_runtime`` caches by file), and ``predict`` may be
called from several threads at once.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.catalogue import table
from ml.errors import ModelError
from ml.paths import WEIGHTS
from ml.pool import Pool

DEFAULT_WEIGHTS_DIR = WEIGHTS
NUM_THREADS = 2
# Interpreters per model: calls beyond this many at once wait (see TFLiteRuntime).
MAX_INTERPRETERS = 2

# User-facing model name -> file stem under weights/ (from ml.catalogue).
MODEL_FILES: dict[str, str] = table("stem")


class ModelRuntime(ABC):
    """A person-segmentation model: square float32 RGB canvas (0-255) in, square probability map out.

    The map may be smaller than the canvas by a whole factor, ``stride`` (SINet's and Mobile-UNet's
    served graphs stop one grid before the input size: ``ml.training.export.head_before_upsampling``);
    callers resize it.
    """

    suffix: str = ""

    def __init__(self, name: str, path: Path, card: dict[str, Any]):
        self.name = name
        self.path = path
        self.card = card
        self.input_size = 0
        self._output_size = 0   # 0: the same as the input size
        self.parameters: int | None = card.get("parameters")

    @property
    def output_size(self) -> int:
        """Side of the probability map ``predict`` returns."""
        return self._output_size or self.input_size

    @property
    def stride(self) -> int:
        """How many canvas pixels one output pixel covers along each side."""
        return self.input_size // self.output_size

    def predict(self, canvas: np.ndarray) -> np.ndarray:
        """Return the (O, O) float32 person probability for an (S, S, 3) float32 canvas in 0-255,
        O = S / ``stride``."""
        prob = self._run(self._check_canvas(canvas)).reshape(self.output_size, self.output_size)
        if not np.isfinite(prob).all():
            # Seen with broken exports: NaN would silently become an empty (or full) matte.
            raise ModelError(f"{self.path} produced non-finite output; the weights file is broken")
        return prob

    @abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a (1, S, S, 3) float32 batch; return float32 of O*O values."""

    def _check_canvas(self, canvas: np.ndarray) -> np.ndarray:
        expected = (self.input_size, self.input_size, 3)
        if canvas.shape != expected:
            raise ValueError(f"{self.name} expects a canvas of shape {expected}, got {canvas.shape}")
        return np.ascontiguousarray(canvas, dtype=np.float32)[None]

    def _set_sizes(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
        """Take the sizes from the network's (1, S, S, 3) input and (1, O, O, 1) output, O dividing S."""
        if len(input_shape) != 4 or input_shape[0] != 1 or input_shape[3] != 3 or input_shape[1] != input_shape[2]:
            raise ModelError(f"{self.path} takes input of shape {input_shape}, not (1, S, S, 3)")
        size = output_shape[1] if len(output_shape) == 4 else 0
        if (len(output_shape) != 4 or output_shape[3] != 1 or output_shape[2] != size or not size
                or input_shape[1] % size):
            raise ModelError(f"{self.path} gives output of shape {output_shape}, not (1, O, O, 1) with O "
                             f"dividing {input_shape[1]}")
        self.input_size, self._output_size = int(input_shape[1]), int(size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, input_size={self.input_size}, path={str(self.path)!r})"


class TFLiteRuntime(ModelRuntime):
    """LiteRT interpreters lent out one call at a time, at most ``max_interpreters`` of them.

    A LiteRT interpreter holds its tensors in place, so two threads may not share one. An interpreter
    costs memory (measured 13 MB for SINet, 21-29 MB for Mobile-UNet: arena plus XNNPACK's packed
    weights), and each call already runs on ``NUM_THREADS`` cores, so one interpreter per web thread
    bought no throughput on 2 cores and cost a worker about 100 MB. A small pool keeps concurrent calls
    overlapping (no lock around every call) with a bounded footprint; callers beyond the pool wait.
    """

    suffix = ".tflite"

    def __init__(self, name: str, path: Path, card: dict[str, Any], max_interpreters: int = MAX_INTERPRETERS):
        super().__init__(name, path, card)
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter_class = Interpreter
        self._content = path.read_bytes()
        self._pool: Pool[_Lease] = Pool(self._new_lease, max_interpreters)
        lease = self._new_lease()  # fail here, at load time, if the file is corrupt
        self._pool.add(lease)
        details = lease.interpreter.get_input_details()[0], lease.interpreter.get_output_details()[0]
        self._set_sizes(*(tuple(int(v) for v in detail["shape"]) for detail in details))
        if self.parameters is None:
            self.parameters = tflite_parameters(self._content)

    @property
    def interpreter_count(self) -> int:
        """Interpreters made so far (never more than ``max_interpreters``)."""
        return self._pool.created

    def _new_lease(self) -> _Lease:
        try:
            interpreter = self._interpreter_class(model_content=self._content, num_threads=NUM_THREADS)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.path} is not a valid LiteRT model ({exc})") from None
        return _Lease(interpreter, interpreter.get_input_details()[0]["index"],
                      interpreter.get_output_details()[0]["index"])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._pool.lease() as lease:
            lease.interpreter.set_tensor(lease.input_index, batch)
            lease.interpreter.invoke()
            return np.array(lease.interpreter.get_tensor(lease.output_index), dtype=np.float32)


@dataclass(frozen=True)
class _Lease:
    """An interpreter with the tensor indices its calls need."""

    interpreter: Any
    input_index: int
    output_index: int


class KerasRuntime(ModelRuntime):
    """The ``.keras`` checkpoint through Keras, in the serving graph its LiteRT export runs
    (``ml.training.export.serving_graph``), for checking the export; imports TensorFlow lazily."""

    suffix = ".keras"

    def __init__(self, name: str, path: Path, card: dict[str, Any]):
        super().__init__(name, path, card)
        from ml.training.export import serving_graph  # imports Keras: only when this backend is chosen
        from ml.training.models import load_keras_model

        try:
            checkpoint = load_keras_model(path)
        except Exception as exc:  # Keras raises many types for a bad archive; all mean "corrupt file"
            raise ModelError(f"{path} could not be loaded as a Keras model ({type(exc).__name__}: {exc})") from None
        if self.parameters is None:
            self.parameters = int(checkpoint.count_params())
        self._model = serving_graph(checkpoint)
        self._set_sizes((1, *self._model.input_shape[1:]), (1, *self._model.output_shape[1:]))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._model(batch, training=False), dtype=np.float32)


def stretched_probability(runtime: ModelRuntime, rgb: np.ndarray) -> np.ndarray:
    """``runtime``'s probability for a photo stretched to its square input, resized back to the photo.

    MediaPipe's input convention (the peer and the teacher use it), and for a square training canvas
    of another size just a change of size (distillation's soft targets)."""
    height, width = rgb.shape[:2]
    canvas = cv2.resize(rgb, (runtime.input_size, runtime.input_size), interpolation=cv2.INTER_AREA)
    prob = runtime.predict(canvas.astype(np.float32))
    return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)


def tflite_parameters(content: bytes) -> int:
    """Weights stored in a .tflite flatbuffer: elements of its constant float tensors, and of its
    quantised ones (int8 kernels, int32 biases: those with a scale, unlike shape operands).

    Batch norm is folded into the convolutions by the converter, so this is a little below the Keras
    count; the model card's figure, when there is one, is the one reported.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    floats = {schema.TensorType.FLOAT32, schema.TensorType.FLOAT16}
    quantised = {schema.TensorType.INT8, schema.TensorType.INT32}

    def is_weight(tensor) -> bool:
        data = model.buffers[tensor.buffer].data
        if data is None or len(data) == 0:
            return False
        scaled = tensor.quantization is not None and tensor.quantization.scale is not None
        return tensor.type in floats or (tensor.type in quantised and scaled)

    return int(sum(int(np.prod(tensor.shape)) for graph in model.subgraphs for tensor in graph.tensors
                   if is_weight(tensor)))


BACKENDS: dict[str, type[ModelRuntime]] = {"tflite": TFLiteRuntime, "keras": KerasRuntime}


def model_path(name: str, weights_dir: Path = DEFAULT_WEIGHTS_DIR, backend: str = "tflite") -> Path:
    """Where the weights of model ``name`` for ``backend`` live (raises ModelError for unknown names)."""
    if name not in MODEL_FILES:
        raise ModelError(f"unknown model {name!r}; choose from {', '.join(MODEL_FILES)}")
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return Path(weights_dir) / (MODEL_FILES[name] + BACKENDS[backend].suffix)


def read_card(name: str, weights_dir: Path = DEFAULT_WEIGHTS_DIR) -> dict[str, Any]:
    """The model card ``weights/<stem>.json`` as a dict, or {} when there is none or it is unreadable."""
    path = Path(weights_dir) / (MODEL_FILES[name] + ".json")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def load_runtime(name: str, weights_dir: Path = DEFAULT_WEIGHTS_DIR, backend: str = "tflite") -> ModelRuntime:
    """Load (once per file version) and return the runtime for model ``name``.

    Raises ModelError naming the file when the name is unknown or the file is missing or corrupt.
    A replaced weights file (new mtime or size) is loaded afresh on the next call.
    """
    path = model_path(name, weights_dir, backend)
    try:
        stat = path.stat()
    except OSError:
        raise ModelError(f"model {name!r} has no weights file at {path}") from None
    return _load_cached(name, str(path.resolve()), backend, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load_cached(name: str, path: str, backend: str, _mtime_ns: int, _size: int) -> ModelRuntime:
    file = Path(path)
    return BACKENDS[backend](name, file, read_card(name, file.parent))


def available_models(weights_dir: Path = DEFAULT_WEIGHTS_DIR, backend: str = "tflite") -> list[str]:
    """Names of the models whose weights file for ``backend`` is present."""
    return [name for name in MODEL_FILES if model_path(name, weights_dir, backend).is_file()]
