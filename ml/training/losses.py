"""Segmentation losses on (batch, H, W, 1) person probabilities, written with ``keras.ops`` only.

Every loss takes ``(y_true, y_pred)`` with ``y_pred`` a probability and returns one scalar per batch
element so Keras can weight and average it. ``y_true`` is either the target alone (0-1, soft targets
allowed) or two channels, target and weight: a pixel of weight 0 (a teacher label where the teachers
disagree) is left out of the loss, so an unsure label teaches nothing rather than something wrong. A
third channel, where present, is a trained model's probability: the soft target ``Distilled`` adds.
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


def split_target(y_true):
    """(target, weight) from a one-channel target (every pixel counts) or target, weight (and soft target)."""
    if y_true.shape[-1] >= 2:
        return y_true[..., :1], y_true[..., 1:2]
    return y_true, ops.ones_like(y_true)


def _weighted_mean(x, weight):
    """Mean of ``x`` over each image's counted pixels (0 when none counts)."""
    return _sum_hw(x * weight) / ops.maximum(_sum_hw(weight), 1.0)


PACKAGE = "backdrop"
serializable = keras.saving.register_keras_serializable(package=PACKAGE)


@serializable
def bce(y_true, y_pred):
    """Mean binary cross-entropy over each image's counted pixels."""
    target, weight = split_target(y_true)
    return _weighted_mean(_pixel_bce(target, y_pred), weight)


@serializable
def dice_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - soft Dice coefficient; ``smooth`` keeps an empty mask and empty prediction at loss 0."""
    target, weight = split_target(y_true)
    intersection = _sum_hw(target * y_pred * weight)
    total = _sum_hw(target * weight) + _sum_hw(y_pred * weight)
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


@serializable
def jaccard_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - soft IoU (Jaccard index)."""
    target, weight = split_target(y_true)
    intersection = _sum_hw(target * y_pred * weight)
    union = _sum_hw(target * weight) + _sum_hw(y_pred * weight) - intersection
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

    With ``dice`` the Dice loss is added too, the region term of Mobile-UNet's ``bce-dice``: the band
    term alone cut its halo but lost whole-mask IoU. With Dice and the published run's full decay it
    kept the halo gain and raised validation IoU and boundary F: the published Mobile-UNet's last step
    (docs/training.md, "The boundary-dice loss over the published run's whole decay").

    A class (not a closure) so that a saved, compiled model reloads with its loss and optimizer state.
    """

    def __init__(self, lam: float = 0.9, kernel: int = 15, dice: bool = False, name: str = "boundary_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.lam, self.kernel, self.dice = lam, kernel, dice

    def call(self, y_true, y_pred):
        target, weight = split_target(y_true)
        pixel_ce = _pixel_bce(target, y_pred)
        band = boundary_band(target, self.kernel) * weight
        loss = _weighted_mean(pixel_ce, weight) + self.lam * _weighted_mean(pixel_ce, band)
        return (loss + dice_loss(y_true, y_pred)) if self.dice else loss

    def get_config(self) -> dict:
        return {**super().get_config(), "lam": self.lam, "kernel": self.kernel, "dice": self.dice}


@serializable
class MaskedIoU(keras.metrics.BinaryIoU):
    """Person IoU at 0.5 over the counted pixels of a target (+ weight) ``y_true`` (see ``split_target``)."""

    def __init__(self, name: str = "iou", **kwargs):
        kwargs.setdefault("target_class_ids", [1])
        kwargs.setdefault("threshold", 0.5)
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        target, weight = split_target(y_true)
        return super().update_state(ops.cast(target >= 0.5, "float32"), y_pred, ops.cast(weight, "int32"))


@serializable
class Distilled(keras.losses.Loss):
    """A loss plus ``weight`` x the cross-entropy to a trained model's probability (the target's third
    channel) over every pixel: distillation. The soft target also teaches where the labels say nothing
    (pixels the teachers disagreed on) and how sure to be at an edge. Batches without a third channel
    (validation) get the plain loss, so ``val_loss`` stays comparable with runs that did not distil.
    """

    def __init__(self, base: LossFn | str, weight: float = 0.5, name: str = "distilled", **kwargs):
        super().__init__(name=name, **kwargs)
        self.base = get_loss(base) if isinstance(base, str) else base
        self.weight = weight

    def call(self, y_true, y_pred):
        base = self.base.call if isinstance(self.base, keras.losses.Loss) else self.base
        loss = base(y_true, y_pred)
        if y_true.shape[-1] < 3:
            return loss
        return loss + self.weight * ops.mean(_pixel_bce(y_true[..., 2:3], y_pred), axis=(1, 2, 3))

    def get_config(self) -> dict:
        return {**super().get_config(), "base": keras.saving.serialize_keras_object(self.base),
                "weight": self.weight}

    @classmethod
    def from_config(cls, config: dict) -> "Distilled":
        return cls(**{**config, "base": keras.saving.deserialize_keras_object(config["base"])})


LOSSES: dict[str, Callable[[], LossFn]] = {
    "bce": lambda: bce,
    "dice": lambda: dice_loss,
    "jaccard": lambda: jaccard_loss,
    "bce-dice": lambda: bce_dice,
    "boundary": BoundaryLoss,
    "boundary-dice": lambda: BoundaryLoss(dice=True),
}


def get_loss(name: str) -> LossFn:
    """Look a loss up by its command-line name."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}") from None

