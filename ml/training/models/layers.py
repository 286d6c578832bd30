"""Custom layers written with ``keras.ops`` only, so models run on TensorFlow and JAX alike.

They are registered for serialisation so a saved ``.keras`` file loads without extra arguments.
"""
from __future__ import annotations

import keras
from keras import ops

PACKAGE = "backdrop"


@keras.saving.register_keras_serializable(package=PACKAGE)
class InformationBlocking(keras.layers.Layer):
    """SINet's information-blocking gate.

    Given coarse class logits (already upsampled to the high-resolution grid) and high-resolution
    features, it multiplies the features by ``1 - max class probability``: where the coarse map is
    already confident, fine detail is blocked so it cannot spoil global consistency.
    """

    def call(self, logits, features):
        confidence = ops.max(ops.softmax(logits, axis=-1), axis=-1, keepdims=True)
        return features * (1.0 - confidence)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PersonProbability(keras.layers.Layer):
    """Turn two-class logits (background, person) into the person probability, shape (H, W, 1).

    Both models then share one output contract: a single-channel probability map.
    """

    def call(self, logits):
        return ops.softmax(logits, axis=-1)[..., 1:2]
