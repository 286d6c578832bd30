"""MediaPipe Selfie Segmentation: the peer in ``bench.peers`` and one of the training teachers.

The model is ``selfie_segmentation.tflite`` inside the mediapipe==0.10.14 wheel (Apache-2.0), fetched
once with ``pip download --no-deps`` into the cache (MediaPipe itself is never installed, and nothing
here runs when the app serves). It takes RGB stretched to 256x256 and scaled to 0-1 and returns a
person probability map.

The file holds one MediaPipe custom operator, ``Convolution2DTransposeBias`` (its last upsampling
layer: a stride-2 transposed convolution with a bias). LiteRT runs it only because its default
XNNPACK delegate happens to implement that op; with plain LiteRT kernels the model fails with
"unresolved custom op". So the file is rewritten, once, into standard operators: the custom node
becomes a builtin TRANSPOSE_CONV (version 3, which takes a bias input) with the same weights, bias,
padding and strides (``bench.peers`` checks the rewrite numerically on every run).
"""
from __future__ import annotations

import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from ml.atomic import write_atomic
from ml.errors import BackdropError
from ml.registry import TFLiteRuntime, stretched_probability, tflite_parameters
from ml.teachers.cache import CACHE_ROOT

CACHE = CACHE_ROOT / "mediapipe"


MEDIAPIPE_VERSION = "0.10.14"
WHEEL_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
PEER_NAME = "mediapipe-selfie"  # the name it has in benchmark tables
PEER_SIZE = 256
CUSTOM_TRANSPOSE_CONV = b"Convolution2DTransposeBias"
# TfLitePadding (the C enum MediaPipe writes into the custom options) -> schema Padding.
_C_PADDING_TO_SCHEMA = {1: "SAME", 2: "VALID"}


def fetch_wheel(cache: Path = CACHE) -> Path:
    """The mediapipe wheel in ``cache``, downloaded with pip (no dependencies) the first time."""
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"
    if not any(cache.glob(pattern)):
        try:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            f"mediapipe=={MEDIAPIPE_VERSION}", "-d", str(cache)], check=True)
        except subprocess.CalledProcessError:
            raise BackdropError(f"pip could not download mediapipe=={MEDIAPIPE_VERSION}; "
                                f"put its wheel into {cache} by hand") from None
    return sorted(cache.glob(pattern))[0]


def extract_original(cache: Path = CACHE) -> Path:
    """MediaPipe's selfie_segmentation.tflite as shipped, read out of the wheel."""
    target = cache / "selfie_segmentation.tflite"
    if not target.is_file():
        with zipfile.ZipFile(fetch_wheel(cache)) as wheel:
            target.write_bytes(wheel.read(WHEEL_MEMBER))
    return target


def standardize_transpose_conv(model_bytes: bytes) -> bytes:
    """Rewrite every ``Convolution2DTransposeBias`` node into a builtin TRANSPOSE_CONV with bias.

    MediaPipe's op takes (input, OHWI weights, bias) and a raw TfLiteTransposeConvParams struct
    (padding, stride_w, stride_h as int32) as custom options; TRANSPOSE_CONV v3 takes
    (output_shape, OHWI weights, input, bias) and the same facts as builtin options.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    custom = [i for i, code in enumerate(model.operatorCodes) if code.customCode == CUSTOM_TRANSPOSE_CONV]
    if not custom:
        return model_bytes
    builtin = schema.BuiltinOperator.TRANSPOSE_CONV
    model.operatorCodes.append(schema.OperatorCodeT())
    code = model.operatorCodes[-1]
    code.builtinCode = code.deprecatedBuiltinCode = builtin
    code.version = 3
    for graph in model.subgraphs:
        for op in graph.operators:
            if op.opcodeIndex in custom:
                _rewrite_node(model, graph, op, len(model.operatorCodes) - 1, schema)
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _rewrite_node(model, graph, op, opcode_index: int, schema) -> None:
    padding, stride_w, stride_h = struct.unpack("<3i", bytes(op.customOptions)[:12])
    source, weights, bias = op.inputs
    output = graph.tensors[op.outputs[0]]
    model.buffers.append(schema.BufferT())
    model.buffers[-1].data = np.frombuffer(np.asarray(output.shape, np.int32).tobytes(), np.uint8)
    shape_tensor = schema.TensorT()
    shape_tensor.shape, shape_tensor.type = [4], schema.TensorType.INT32
    shape_tensor.buffer, shape_tensor.name = len(model.buffers) - 1, output.name + b"/output_shape"
    graph.tensors.append(shape_tensor)
    options = schema.TransposeConvOptionsT()
    options.padding = getattr(schema.Padding, _C_PADDING_TO_SCHEMA[padding])
    options.strideW, options.strideH = stride_w, stride_h
    options.fusedActivationFunction = schema.ActivationFunctionType.NONE
    op.opcodeIndex = opcode_index
    op.inputs = [len(graph.tensors) - 1, weights, source, bias]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.TransposeConvOptions, options
    op.customOptions, op.customOptionsFormat = None, 0


def peer_model(cache: Path = CACHE) -> Path:
    """Path of the standard-operator version of MediaPipe's model, made once from the wheel."""
    target = cache / "selfie_segmentation_std.tflite"
    if not target.is_file():
        rewritten = standardize_transpose_conv(extract_original(cache).read_bytes())
        write_atomic(target, rewritten)
    return target


class MediaPipeSelfie(TFLiteRuntime):
    """MediaPipe's selfie segmenter behind our runtime interface (canvas in 0-255; it wants 0-1)."""

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return super()._run(batch * np.float32(1 / 255))


def load_peer(cache: Path = CACHE) -> MediaPipeSelfie:
    """The MediaPipe peer, loaded like our models (LiteRT, 2 threads), ready for ``predict``."""
    path = peer_model(cache)
    return MediaPipeSelfie(PEER_NAME, path, {"parameters": tflite_parameters(path.read_bytes())})


def peer_mask(peer: MediaPipeSelfie, rgb: np.ndarray) -> np.ndarray:
    """MediaPipe's person mask at the photo's size (probability >= 0.5)."""
    return stretched_probability(peer, rgb) >= 0.5


class MediaPipeTeacher:
    """MediaPipe's person probability at the photo's own size, as a teacher for training labels."""

    name = "mediapipe"

    def __init__(self, cache: Path = CACHE):
        self.peer = load_peer(cache)

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        return stretched_probability(self.peer, rgb)
