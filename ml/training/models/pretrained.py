"""A pretrained MobileNetV2 (width 0.5) encoder for Mobile-UNet, read out of DeepLabV3's LiteRT file.

``../shared/pretrained/deeplabv3_mnv2_dm05_pascal_quant.tflite`` (google-coral/test_data, Apache-2.0)
is a MobileNetV2 width 0.5 trained on ImageNet, then on Pascal VOC: it knows people in scenes, which
2,000 portraits and street-fashion photos cannot teach a network from random weights. The file is
quantized (uint8 weights, int32 biases, one scale per tensor) with batch norm folded into the
convolutions; its convolutions come in network order, the same order as Keras' MobileNetV2 layers:

- kernels are OHWI (depthwise 1HWC) and are transposed to Keras' HWIO (depthwise HWC1);
- each folded bias goes into the Keras layer's batch norm as beta, with gamma 1, mean 0 and a
  variance that cancels the epsilon, so the batch norm passes the convolution through unchanged;
  those batch norms are frozen (``trainable = False``, which in Keras 3 also means inference mode):
  in training mode a batch norm would normalise by each batch's statistics and undo the folding,
  and its moving averages would lag behind (measured: validation IoU 0.45 then 0.22 in the first two
  epochs, while training IoU rose to 0.75). The convolutions stay trainable;
- blocks 1-3 are 12 channels wide (72 expanded) where Keras rounds to 16 (96): the extra filters
  and the weights reading the extra inputs are zero, so the real channels compute what the file does.
DeepLab runs blocks 14-16 dilated at stride 16 where Keras strides to 32; the weights are the same,
the receptive field differs, and fine-tuning adapts. The final 1x1 to 1280 is not in the file (and
Mobile-UNet does not use it).
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from ml.paths import PRETRAINED

ENCODER_FILE = PRETRAINED / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
BLOCKS = 16
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def keras_conv_layers() -> list[str]:
    """Keras' MobileNetV2 convolution layers in network order (each followed by ``<name>_BN``,
    except ``Conv1``, whose batch norm is ``bn_Conv1``)."""
    names = ["Conv1", "expanded_conv_depthwise", "expanded_conv_project"]
    for block in range(1, BLOCKS + 1):
        names += [f"block_{block}_expand", f"block_{block}_depthwise", f"block_{block}_project"]
    return names


def batch_norm_of(conv: str) -> str:
    return "bn_Conv1" if conv == "Conv1" else f"{conv}_BN"


def _dequantize(interpreter, index: int) -> np.ndarray:
    detail = interpreter._get_tensor_details(index, 0)
    values = interpreter.get_tensor(index).astype(np.float32)
    params = detail["quantization_parameters"]
    if len(params["scales"]) == 0:
        return values
    return (values - params["zero_points"][0]) * params["scales"][0]


def read_encoder(path: Path = ENCODER_FILE) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(op type, float kernel as stored, float bias) of the first 51 convolutions, in network order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    convs = [op for op in interpreter._get_ops_details() if op["op_name"] in CONV_OPS]
    wanted = len(keras_conv_layers())
    return [(op["op_name"], _dequantize(interpreter, int(op["inputs"][1])), _dequantize(interpreter, int(op["inputs"][2])))
            for op in convs[:wanted]]


def _to_keras_kernel(op_type: str, kernel: np.ndarray) -> np.ndarray:
    """OHWI -> HWIO for a convolution, 1HWC -> HWC1 for a depthwise one."""
    return kernel[0][..., None] if op_type == "DEPTHWISE_CONV_2D" else kernel.transpose(1, 2, 3, 0)


def _padded(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` in the corner of a zero array of ``shape`` (Keras' wider early blocks)."""
    out = np.zeros(shape, np.float32)
    out[tuple(slice(0, n) for n in values.shape)] = values
    return out


def load_pretrained_encoder(model: keras.Model, path: Path = ENCODER_FILE) -> int:
    """Copy the file's encoder weights into the MobileNetV2 layers of ``model`` and freeze their batch
    norms; return the layers set. Compile the model after this (freezing changes what trains)."""
    convs = read_encoder(path)
    names = keras_conv_layers()
    if len(convs) != len(names):
        raise ValueError(f"{path} holds {len(convs)} encoder convolutions, expected {len(names)}")
    for name, (op_type, kernel, bias) in zip(names, convs):
        layer, norm = model.get_layer(name), model.get_layer(batch_norm_of(name))
        (keras_kernel,) = layer.get_weights()
        layer.set_weights([_padded(_to_keras_kernel(op_type, kernel), keras_kernel.shape)])
        channels = norm.get_weights()[0].shape
        norm.set_weights([np.ones(channels, np.float32), _padded(bias, channels),
                          np.zeros(channels, np.float32), np.full(channels, 1.0 - norm.epsilon, np.float32)])
        norm.trainable = False
    return len(names)
