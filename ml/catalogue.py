"""The models Backdrop knows, one ``ModelSpec`` each: every other table of model facts derives from here.

Registry file names, Keras builders, training losses, model-card architecture text, UI labels and the
README's table all read this module, so adding a model is one spec here and one builder file under
``ml/training/models/``. It imports nothing heavy: the builder is a dotted path, resolved only by the training
side (``ml.training.models``), so the serving path never imports Keras.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable


@dataclass(frozen=True)
class ModelSpec:
    """The facts about one model that more than one module needs."""

    name: str            # what requests, CLIs and job records use
    label: str           # what the UI shows
    stem: str            # file stem under weights/ (.tflite, .keras, .json)
    architecture: str    # the model card's description
    loss: str            # the training loss unless --loss says otherwise
    input_size: int      # the square input it is trained and served at
    builder: str         # "module:function" building the untrained Keras model
    int8: bool = False   # served as a full-integer LiteRT graph (float in and out), calibrated on training photos

    def build_function(self) -> Callable[..., Any]:
        """The Keras builder, imported on demand (this is where Keras gets imported)."""
        module, function = self.builder.split(":")
        return getattr(import_module(module), function)


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("sinet", "SINet", "sinet", "SINet (Park et al., WACV 2020)", "boundary", 224,
              "ml.training.models.sinet:build_sinet"),
    ModelSpec("mobile-unet", "Mobile-UNet", "mobile_unet",
              "Mobile-UNet (MobileNetV2 alpha 0.5 encoder, U-Net decoder: each 3x3 conv on the coarse grid, "
              "then bilinear x2)", "bce-dice", 320,
              "ml.training.models.mobile_unet:build_mobile_unet", int8=True),
)
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in SPECS}
# The model a request, a CLI or the web app gets when it names none.
DEFAULT_MODEL = "mobile-unet"


def table(field: str) -> dict[str, Any]:
    """``{model name: spec.<field>}`` in catalogue order, for the modules that look one fact up by name."""
    return {spec.name: getattr(spec, field) for spec in SPECS}
