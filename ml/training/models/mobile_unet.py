"""Mobile-UNet: a MobileNetV2 encoder (width 0.5) with a U-Net style upsampling decoder.

Shapes for input S x S x 3:
  encoder skips  block_1_expand_relu S/2, block_3_expand_relu S/4,
                 block_6_expand_relu S/8, block_13_expand_relu S/16; bottleneck block_16_project_BN S/32
  decoder        4 x (upsample x2, concat skip) -> S/2, upsample x2 -> S, 1x1 conv, sigmoid -> S x S x 1
The encoder is built with ``weights=None``: nothing is ever downloaded.
"""
from __future__ import annotations

from typing import Literal, get_args

import keras
from keras import layers

from ml.training.models.sizes import check_input_size

SKIP_LAYERS = ("block_13_expand_relu", "block_6_expand_relu", "block_3_expand_relu", "block_1_expand_relu")
BOTTLENECK_LAYER = "block_16_project_BN"
Upsampling = Literal["transpose", "bilinear", "conv-then-bilinear"]
UPSAMPLING: tuple[Upsampling, ...] = get_args(Upsampling)
# Keras' MobileNetV2 uses BN momentum 0.999, meant for ImageNet-length runs; with ~130 steps per epoch
# its moving statistics lag far behind the weights and inference-mode output is garbage for dozens of
# epochs. 0.9 (PyTorch's default) keeps them current.
BN_MOMENTUM = 0.9


def upsample_block(x, filters: int, mode: Upsampling, name: str):
    """Double the resolution: a strided transpose conv, a bilinear resize then a 3x3 conv, or the 3x3 conv
    (with its batch norm and ReLU) on the coarse grid then the resize.

    The last costs a quarter of the multiply-adds of the second for the same layers and weight shapes,
    which matters on CPUs without 8-bit dot-product instructions, where the full-resolution convs of
    "bilinear" take most of the model call.
    """
    if mode == "conv-then-bilinear":
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
        x = layers.ReLU(name=f"{name}_relu")(x)
        return layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_resize")(x)
    if mode == "transpose":
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=False, name=f"{name}_deconv")(x)
    elif mode == "bilinear":
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_resize")(x)
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    else:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {mode!r}")
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def upsampling_of(model: keras.Model) -> Upsampling:
    """The upsampling a built Mobile-UNet's decoder uses, read from its graph: both bilinear orders
    have the same layers and weights, so a checkpoint tells them apart only by what feeds the resize."""
    names = {layer.name for layer in model.layers}
    if "dec0_deconv" in names:
        return "transpose"
    feeding = model.get_layer("dec0_resize").input._keras_history.operation
    return "conv-then-bilinear" if feeding.name == "dec0_relu" else "bilinear"


def options_of(model: keras.Model) -> dict:
    """The builder options that rebuild ``model`` as it is (``ml.training.models.rebuilt``)."""
    return {"upsampling": upsampling_of(model)}


def build_mobile_unet(
    input_size: int = 224,
    upsampling: Upsampling = "conv-then-bilinear",
    decoder_filters: tuple[int, int, int, int, int] = (128, 64, 48, 32, 16),
) -> keras.Model:
    """Mobile-UNet taking (input_size, input_size, 3) RGB in 0-255 and returning the person probability."""
    check_input_size(input_size)
    image = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(image)
    backbone = keras.applications.MobileNetV2(
        input_tensor=x, alpha=0.5, include_top=False, weights=None)
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    x = backbone.get_layer(BOTTLENECK_LAYER).output
    for i, (skip_name, filters) in enumerate(zip(SKIP_LAYERS, decoder_filters)):
        x = upsample_block(x, filters, upsampling, f"dec{i}")
        x = layers.Concatenate(name=f"dec{i}_skip")([x, backbone.get_layer(skip_name).output])
    x = upsample_block(x, decoder_filters[-1], upsampling, "dec_full")
    probability = layers.Conv2D(1, 1, activation="sigmoid", name="person_probability")(x)
    return keras.Model(image, probability, name="mobile_unet")
