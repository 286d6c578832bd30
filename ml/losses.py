"""Segmentation losses on (batch, H, W, 1) person probabilities, written with ``keras.ops`` only.

Every loss takes ``(y_true, y_pred)`` with ``y_true`` in {0, 1} and ``y_pred`` a probability, and
returns one scalar per batch element so Keras can weight and average it.
"""
from __future__ import annotations

from typing import Callable

import keras
from keras import ops

EPSILON = 1e-7
LossFn = Callable[[object, object], object]


def _pixel_bce(y_true, y_pred):
    """Per-pixel binary cross-entropy, shape (batch, H, W, 1)."""
    y_pred = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -(y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred))


def _sum_hw(x):
    return ops.sum(x, axis=(1, 2, 3))


PACKAGE = "backdrop"
serializable = keras.saving.register_keras_serializable(package=PACKAGE)


@serializable
def bce(y_true, y_pred):
    """Mean binary cross-entropy over each image's pixels."""
    return ops.mean(_pixel_bce(y_true, y_pred), axis=(1, 2, 3))


@serializable
def dice_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - soft Dice coefficient; ``smooth`` keeps an empty mask and empty prediction at loss 0."""
    intersection = _sum_hw(y_true * y_pred)
    total = _sum_hw(y_true) + _sum_hw(y_pred)
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


@serializable
def jaccard_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - soft IoU (Jaccard index)."""
    intersection = _sum_hw(y_true * y_pred)
    union = _sum_hw(y_true) + _sum_hw(y_pred) - intersection
    return 1.0 - (intersection + smooth) / (union + smooth)


@serializable
def bce_dice(y_true, y_pred):
    """BCE plus Dice: BCE for per-pixel calibration, Dice against the person/background imbalance."""
    return bce(y_true, y_pred) + dice_loss(y_true, y_pred)


def boundary_band(y_true, kernel: int = 15):
    """Pixels within the morphological gradient of the mask: dilation minus erosion with a k x k square."""
    dilated = ops.max_pool(y_true, pool_size=kernel, strides=1, padding="same")
    eroded = 1.0 - ops.max_pool(1.0 - y_true, pool_size=kernel, strides=1, padding="same")
    return dilated - eroded


@serializable
class BoundaryLoss(keras.losses.Loss):
    """SINet's boundary-aware loss: CE over all pixels + ``lam`` x mean CE over the boundary band.

    A class (not a closure) so that a saved, compiled model reloads with its loss and optimizer state.
    """

    def __init__(self, lam: float = 0.9, kernel: int = 15, name: str = "boundary_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.lam, self.kernel = lam, kernel

    def call(self, y_true, y_pred):
        pixel_ce = _pixel_bce(y_true, y_pred)
        band = boundary_band(y_true, self.kernel)
        band_ce = _sum_hw(pixel_ce * band) / ops.maximum(_sum_hw(band), 1.0)
        return ops.mean(pixel_ce, axis=(1, 2, 3)) + self.lam * band_ce

    def get_config(self) -> dict:
        return {**super().get_config(), "lam": self.lam, "kernel": self.kernel}


LOSSES: dict[str, Callable[[], LossFn]] = {
    "bce": lambda: bce,
    "dice": lambda: dice_loss,
    "jaccard": lambda: jaccard_loss,
    "bce-dice": lambda: bce_dice,
    "boundary": BoundaryLoss,
}


def get_loss(name: str) -> LossFn:
    """Look a loss up by its command-line name."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}") from None

