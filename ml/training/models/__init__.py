"""Model builders, looked up by the names users and the API see."""
from __future__ import annotations

from importlib import import_module
from typing import Callable

import keras
import numpy as np

from ml.catalogue import SPECS, table

# Name -> builder, imported from the dotted path each catalogue spec names.
BUILDERS: dict[str, Callable[..., keras.Model]] = {spec.name: spec.build_function() for spec in SPECS}


def build_model(name: str, input_size: int, **options) -> keras.Model:
    """Build the untrained model registered under ``name`` for a square input of ``input_size``;
    ``options`` go to its builder (Mobile-UNet's ``upsampling``)."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(BUILDERS)}") from None
    return builder(input_size=input_size, **options)


def load_keras_model(path, compile: bool = False) -> keras.Model:
    """Load a saved ``.keras`` model; importing this package registers the custom layers and losses."""
    import ml.training.losses  # noqa: F401  (registers the losses a compiled checkpoint refers to)

    return keras.models.load_model(path, compile=compile)


def builder_options(model: keras.Model, name: str) -> dict:
    """The builder options that rebuild ``model``'s own function, read from its graph by the
    ``options_of`` of the builder's module where it has one (Mobile-UNet: two decoders with the same
    layers and weights); a builder without options gets none."""
    options_of = getattr(import_module(BUILDERS[name].__module__), "options_of", None)
    return options_of(model) if options_of else {}


def rebuild_at_size(model: keras.Model, name: str, input_size: int) -> keras.Model:
    """The trained ``model`` with its weights moved onto a fresh build for another input size.

    Both networks are fully convolutional (pooling and attention are global or sized by stride), so
    the same weights serve any size that passes the input-size rule; what changes is speed and quality,
    which ``bench.input_size`` measures.
    """
    resized = build_model(name, input_size, **builder_options(model, name))
    copy_weights(model, resized)
    return resized


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Every weighted layer of ``target`` takes the weights of ``source``'s layer of the same name,
    and whether it is frozen.

    By name, not as one flat list: the order of a model's weights follows its graph, which a change
    of layer order moves (SINet's batch norms before its upsamplings) while the names stay. The
    frozen flag goes along so that a rebuilt file (a published ``weights/*.keras``) can start a
    fine-tune: a pretrained encoder's frozen batch norms, thawed, would normalise by each batch's
    statistics and undo what the model learned.
    """
    for layer in target.layers:
        if layer.weights:
            origin = source.get_layer(layer.name)
            layer.set_weights(origin.get_weights())
            layer.trainable = origin.trainable


def rebuilt(model: keras.Model) -> keras.Model:
    """``model``'s weights on a fresh build of its architecture, at its input size.

    A checkpoint keeps the graph it was saved with; rebuilt, it gets today's builder's graph, for
    example SINet's batch norms before its upsamplings, which give the same outputs faster
    (``ml.training.models.sinet``). Weights go over by layer name, which such changes keep. The Keras
    model's name is its catalogue file stem.
    """
    names = {stem: name for name, stem in table("stem").items()}
    return rebuild_at_size(model, names[model.name], int(model.input_shape[1]))


def same_weights(first: keras.Model, second: keras.Model) -> bool:
    """Whether two models hold the same weights, layer by layer of the same name (see ``copy_weights``)."""
    weighted = {layer.name for layer in first.layers if layer.weights}
    if weighted != {layer.name for layer in second.layers if layer.weights}:
        return False
    return all(np.array_equal(a, b) for name in weighted
               for a, b in zip(first.get_layer(name).get_weights(), second.get_layer(name).get_weights()))
