"""SINet: extremely lightweight portrait segmentation (Park et al., WACV 2020).

Encoder (input 3 x S x S; the paper's S is 224):
  1  CBR 3x3 /2                         3 -> 12    S/2
  2  DSConv+SE /2                      12 -> 16    S/4
  3-4   S2-modules                     16 -> 48    S/4
  5  DSConv+SE /2 on concat[2, 4]      64 -> 48    S/8
  6-13  S2-modules                     48 -> 96    S/8
  14 1x1 conv on concat[5, 13]        144 -> 2     S/8
Decoder: the S/8 class map is upsampled, its confidence blocks the S/4 features (information
blocking), the two are added, upsampled and refined to the full-resolution class map.

Where a batch norm meets a bilinear upsampling it comes first. In inference a batch norm is a
per-channel affine map, which commutes with bilinear interpolation (its weights sum to 1), so the
outputs are those of the paper's order; but before the upsampling the LiteRT converter folds it into
the convolution it follows, where after it stayed a multiply and an add on 4 or 16 times the pixels
(14 operations fewer, SINet's model call 7 % faster). Checkpoints saved in the old order serve
today's graph through ``ml.training.models.rebuilt``.
"""
from __future__ import annotations

import keras
from keras import layers

from ml.training.models.layers import InformationBlocking, PersonProbability
from ml.training.models.sizes import check_input_size

NUM_CLASSES = 2
BN_EPS = 1e-3
# PyTorch-style momentum 0.1 (Keras 0.9): moving statistics keep up within an epoch of ~130 steps.
BN_MOMENTUM = 0.9

# [kernel of the depthwise conv, kernel of the average pool] for the two S2-blocks of each module.
LEVEL2_CONFIG = [[(3, 1), (5, 1)], [(3, 1), (3, 1)]]
LEVEL3_CONFIG = [
    [(3, 1), (5, 1)], [(3, 1), (3, 1)], [(5, 1), (3, 2)], [(5, 2), (3, 4)],
    [(3, 1), (3, 1)], [(5, 1), (5, 1)], [(3, 2), (3, 4)], [(3, 1), (5, 2)],
]


def prelu(name: str) -> layers.Layer:
    """Per-channel PReLU, as in the paper (one slope per channel, shared over space)."""
    return layers.PReLU(shared_axes=[1, 2], name=name)


def bn_prelu(x, name: str):
    """BR: batch norm then PReLU."""
    x = layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return prelu(f"{name}_prelu")(x)


def conv_bn_prelu(x, filters: int, kernel: int, stride: int, name: str):
    """CBR: convolution, batch norm, PReLU."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return bn_prelu(x, name)


def squeeze_excite(x, reduction: int, name: str):
    """Channel attention: global pool, bottleneck MLP, sigmoid gate."""
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = layers.Dense(max(channels // reduction, 4), activation="relu", name=f"{name}_fc1")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{name}_fc2")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def ds_conv_se(x, filters: int, stride: int, name: str, se_reduction: int):
    """Depthwise-separable downsampling with squeeze-and-excitation between depthwise and pointwise."""
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = squeeze_excite(x, reduction=se_reduction, name=f"{name}_se")
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    return bn_prelu(x, name)


def s2_block(x, filters: int, kernel: int, pool: int, name: str):
    """S2-block: squeeze space by average pooling (pool > 1), depthwise conv, pointwise, restore size."""
    if pool > 1:
        x = layers.AveragePooling2D(pool, strides=pool, name=f"{name}_avgpool")(x)
    x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = prelu(f"{name}_prelu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if pool > 1:
        x = layers.UpSampling2D(pool, interpolation="bilinear", name=f"{name}_up")(x)
    return x


def s2_module(x, filters: int, config, name: str):
    """S2-module: split (grouped 1x1 conv to half width), one S2-block per branch, concat, residual, BR.

    The residual is only added when input and output widths match (not in the first module of a level).
    """
    half = filters // 2
    groups = 2 if x.shape[-1] % 2 == 0 and half % 2 == 0 else 1
    reduced = layers.Conv2D(half, 1, groups=groups, use_bias=False, name=f"{name}_reduce")(x)
    branches = [
        s2_block(reduced, filters - half if i == 0 else half, kernel, pool, f"{name}_b{i}")
        for i, (kernel, pool) in enumerate(config)
    ]
    merged = layers.Concatenate(name=f"{name}_concat")(branches)
    if x.shape[-1] == filters:
        merged = layers.Add(name=f"{name}_residual")([x, merged])
    return bn_prelu(merged, name)


def encoder(image):
    """SINet encoder; returns (S/8 class logits, S/4 features used by the decoder)."""
    x1 = conv_bn_prelu(image, 12, 3, 2, "level1")                     # 12 x S/2
    x2_0 = ds_conv_se(x1, 16, 2, "level2_down", se_reduction=1)                        # 16 x S/4
    x2 = x2_0
    for i, config in enumerate(LEVEL2_CONFIG):
        x2 = s2_module(x2, 48, config, f"level2_s2_{i}")                # 48 x S/4
    x2_cat = bn_prelu(layers.Concatenate(name="level2_concat")([x2_0, x2]), "level2_cat")  # 64 x S/4
    x3_0 = ds_conv_se(x2_cat, 48, 2, "level3_down", se_reduction=2)                    # 48 x S/8
    x3 = x3_0
    for i, config in enumerate(LEVEL3_CONFIG):
        x3 = s2_module(x3, 96, config, f"level3_s2_{i}")                # 96 x S/8
    x3_cat = bn_prelu(layers.Concatenate(name="level3_concat")([x3_0, x3]), "level3_cat")  # 144 x S/8
    logits = layers.Conv2D(NUM_CLASSES, 1, use_bias=False, name="encoder_classifier")(x3_cat)
    return logits, x2_cat


def information_blocking_decoder(coarse_logits, high_res_features):
    """Upsample S/8 logits, gate S/4 features by (1 - confidence), add, upsample to full size."""
    up = layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name="dec_up1_bn")(coarse_logits)
    up = layers.UpSampling2D(2, interpolation="bilinear", name="dec_up1")(up)                            # 2 x S/4
    detail = conv_bn_prelu(high_res_features, NUM_CLASSES, 1, 1, "dec_detail")     # 2 x S/4
    blocked = InformationBlocking(name="dec_blocking")(up, detail)
    x = layers.Add(name="dec_add")([blocked, up])
    x = layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name="dec_up2_bn")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", name="dec_up2")(x)                              # 2 x S/2
    x = layers.UpSampling2D(2, interpolation="bilinear", name="dec_up3")(x)
    return layers.Conv2D(NUM_CLASSES, 3, padding="same", use_bias=False, name="dec_classifier")(x)  # 2 x S


def build_sinet(input_size: int = 224) -> keras.Model:
    """SINet taking (input_size, input_size, 3) RGB in 0-255 and returning the person probability.

    ``input_size`` must be a multiple of 32 (S/8 maps are average-pooled by up to 4).
    """
    check_input_size(input_size)
    image = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(image)
    coarse_logits, high_res = encoder(x)
    logits = information_blocking_decoder(coarse_logits, high_res)
    probability = PersonProbability(name="person_probability")(logits)
    return keras.Model(image, probability, name="sinet")
