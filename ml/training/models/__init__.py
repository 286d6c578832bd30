"""Model builders, looked up by the names users and the API see."""
from __future__ import annotations

from typing import Callable

import keras

from ml.catalogue import SPECS

# Name -> builder, imported from the dotted path each catalogue spec names.
BUILDERS: dict[str, Callable[..., keras.Model]] = {spec.name: spec.build_function() for spec in SPECS}


def build_model(name: str, input_size: int) -> keras.Model:
    """Build the untrained model registered under ``name`` for a square input of ``input_size``."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(BUILDERS)}") from None
    return builder(input_size=input_size)


def load_keras_model(path, compile: bool = False) -> keras.Model:
    """Load a saved ``.keras`` model; importing this package registers the custom layers and losses."""
    import ml.training.losses  # noqa: F401  (registers the losses a compiled checkpoint refers to)

    return keras.models.load_model(path, compile=compile)


def rebuild_at_size(model: keras.Model, name: str, input_size: int) -> keras.Model:
    """The trained ``model`` with its weights moved onto a fresh build for another input size.

    Both networks are fully convolutional (pooling and attention are global or sized by stride), so
    the same weights serve any size that passes the input-size rule; what changes is speed and quality,
    which ``bench.input_size`` measures.
    """
    resized = build_model(name, input_size)
    resized.set_weights(model.get_weights())
    return resized
