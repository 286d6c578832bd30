"""Export every ``weights/*.keras`` to a LiteRT ``.tflite`` beside it and check they agree.

The LiteRT graph is the Keras model's serving graph (``serving_graph``): SINet's two-class head
folded into one channel, and a head that follows a last upsampling (SINet's, Mobile-UNet's with the
"conv-then-bilinear" decoder) moved before it, so its output is at half the input size; the check
below compares the LiteRT file against that serving graph in Keras.

``python -m ml.training.export [--weights DIR] [--publish RUN_DIR NAME] [--data DIR ...]``

LiteRT is what the server runs (no TensorFlow import, faster start-up, less memory), so each export is
verified: both files get the same random-but-seeded photo-like inputs and the largest absolute
difference between their probability maps is reported. A model the catalogue marks ``int8`` is
written as a full-integer graph (weights and activations in 8 bits, float input and output),
its activation ranges calibrated on photos of the training split (``--data``, ``--split-file``):
Mobile-UNet's call then takes a third of the time for the same validation scores (docs/training.md),
and its check allows the rounding that costs (``INT8_TOLERANCE``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras
import numpy as np

from ml.atomic import atomic_path, write_atomic
from ml.catalogue import SPECS
from ml.data import DatasetError, discover_all, load_letterboxed, load_or_make_split, select
from ml.paths import DATASETS, WEIGHTS
from ml.training.models import load_keras_model, rebuilt

FLOAT_TOLERANCE = 1e-4   # largest |keras - tflite| a float32 graph may show
INT8_TOLERANCE = 0.02    # and a full-integer one (Mobile-UNet's: 0.0024)
CALIBRATION_PHOTOS = 120
INT8_STEMS = {spec.stem for spec in SPECS if spec.int8}


def strip_for_serving(source: Path, target: Path) -> keras.Model:
    """Save ``source`` (a training checkpoint) to ``target`` without optimizer state or loss, in
    today's graph of its architecture (``ml.training.models.rebuilt``)."""
    model = rebuilt(load_keras_model(source))
    with atomic_path(target, suffix=".keras") as tmp:
        model.save(tmp)
    return model


def fold_two_class_head(model: keras.Model) -> keras.Model:
    """Serve a two-class head as one channel: ``softmax([l0, l1])[1] == sigmoid(l1 - l0)``.

    SINet ends in a linear 2-filter conv followed by ``PersonProbability``; since the conv is linear,
    ``l1 - l0`` is itself one conv whose kernel is the difference of the two kernels. That drops a
    full-resolution channel and the softmax from every call (measured about 25 % of SINet's model
    call) and changes no output beyond float rounding. Models without that ending are returned as-is.
    """
    from ml.training.models.layers import PersonProbability

    head = model.layers[-1]
    classifier = head.input._keras_history.operation if isinstance(head, PersonProbability) else None
    if not isinstance(classifier, keras.layers.Conv2D) or classifier.filters != 2 or classifier.use_bias:
        return model
    kernel = classifier.get_weights()[0]
    folded = keras.layers.Conv2D(1, classifier.kernel_size, padding=classifier.padding, use_bias=False,
                                 activation="sigmoid", name="person_probability_folded")
    output = folded(classifier.input)
    folded.set_weights([kernel[..., 1:2] - kernel[..., 0:1]])
    return keras.Model(model.input, output, name=model.name)


def head_before_upsampling(model: keras.Model) -> keras.Model:
    """Run a final conv head on the grid before a last bilinear x2 upsampling, and drop that upsampling.

    SINet ends: bilinear x2 up to the input size, a 3x3 conv (one channel once folded), sigmoid. That
    full-resolution tail is about a tenth of its model call, and the Segmenter resizes the probability
    to its working resolution anyway, so the served graph stops one grid earlier and the Segmenter's
    resize does the upsampling. The kernel is rescaled for the coarser grid: ``k' = k/2 + sum(k)/2``
    at the centre keeps the head's response to any locally linear input (its sum and first moment,
    with the gradient per pixel doubled), so on smooth maps the coarse head's logits are the mean of
    the fine head's over the pixels it covers. Not exact at sharp corners, and the sigmoid now comes
    before the upsampling: on the validation split, through the served Segmenter, IoU 0.9182 -> 0.9181,
    boundary F 0.7437 -> 0.7431 (docs/training.md). A 1x1 head (Mobile-UNet's with its decoder's
    "conv-then-bilinear" upsampling) moves exactly but for the sigmoid's place, bias included, since
    bilinear weights sum to one. Other models are returned as they are.
    """
    head = model.layers[-1]
    upsampling = head.input._keras_history.operation if isinstance(head, keras.layers.Conv2D) else None
    if (not isinstance(upsampling, keras.layers.UpSampling2D) or tuple(upsampling.size) != (2, 2)
            or upsampling.interpolation != "bilinear" or head.filters != 1
            or (head.padding != "same" and tuple(head.kernel_size) != (1, 1))
            or head.activation is not keras.activations.sigmoid
            or any(side % 2 == 0 for side in head.kernel_size)):
        return model
    kernel, *bias = head.get_weights()
    coarse = 0.5 * kernel
    coarse[head.kernel_size[0] // 2, head.kernel_size[1] // 2] += 0.5 * kernel.sum(axis=(0, 1))
    moved = keras.layers.Conv2D(1, head.kernel_size, padding="same", use_bias=head.use_bias, activation="sigmoid",
                                name=f"{head.name}_coarse")
    output = moved(upsampling.input)
    moved.set_weights([coarse, *bias])
    return keras.Model(model.input, output, name=model.name)


def serving_graph(model: keras.Model) -> keras.Model:
    """The graph LiteRT runs for ``model``: its two-class head folded, then moved before a last
    upsampling where it has one."""
    return head_before_upsampling(fold_two_class_head(model))


def convert_to_tflite(model: keras.Model, target: Path, calibration: np.ndarray | None = None) -> keras.Model:
    """Write a LiteRT flatbuffer of ``model``'s serving graph (the batch dimension becomes 1) and
    return that graph, which the file must agree with: float32, or full-integer with float input and
    output when ``calibration`` images (N, S, S, 3) are given to measure the activations' ranges."""
    import tensorflow as tf

    served = serving_graph(model)
    converter = tf.lite.TFLiteConverter.from_keras_model(served)
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None].astype(np.float32)] for image in calibration)
    write_atomic(target, converter.convert())
    return served


def serving_format(stem: str) -> str:
    """What the card says of the ``.tflite`` file ``export_all`` writes for ``stem``."""
    if stem in INT8_STEMS:
        return (f"LiteRT full-integer (int8 weights and activations, float input and output), "
                f"calibrated on {CALIBRATION_PHOTOS} training photos")
    return "LiteRT float32"


def calibration_photos(data: list[Path], split_file: Path, size: int, count: int = CALIBRATION_PHOTOS,
                       seed: int = 0) -> np.ndarray:
    """``count`` photos of the training split, letterboxed to ``size``: never validation or test
    photos, so quantising tunes nothing on what the scores are measured on."""
    if not split_file.is_file():
        raise DatasetError(f"{split_file} does not exist: the int8 calibration takes training photos only")
    samples = discover_all(data)
    train = select(samples, load_or_make_split(split_file, samples), "train")
    if not train:
        raise DatasetError(f"no training photos in {', '.join(map(str, data))} for the int8 calibration")
    picked = np.random.default_rng(seed).choice(len(train), min(count, len(train)), replace=False)
    return load_letterboxed([train[i] for i in sorted(picked)], size)[0]


def max_difference(model: keras.Model, tflite_path: Path, samples: int = 3, seed: int = 0) -> float:
    """Largest |keras - tflite| over a few smooth random images (noise alone is not photo-like)."""
    from ai_edge_litert.interpreter import Interpreter

    size = model.input_shape[1]
    interpreter = Interpreter(model_path=str(tflite_path), num_threads=2)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(samples):
        coarse = rng.random((1, 8, 8, 3)).astype(np.float32) * 255
        x = np.asarray(keras.ops.image.resize(coarse, (size, size)), dtype=np.float32)
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        lite = interpreter.get_tensor(out["index"])
        ref = np.asarray(model(x, training=False))
        if not np.isfinite(lite).all():
            return float("inf")
        worst = max(worst, float(np.abs(lite - ref).max()))
    return worst


def convert_as_served(model: keras.Model, stem: str, target: Path, data: list[Path],
                      split_file: Path) -> tuple[float, float]:
    """Write ``model`` to ``target`` the way ``stem`` is served (full-integer for the catalogue's
    int8 models, calibrated on training photos of ``data``; float32 otherwise) and return the file's
    largest difference from its Keras graph with the tolerance that difference must stay within."""
    int8 = stem in INT8_STEMS
    calibration = calibration_photos(data, split_file, model.input_shape[1]) if int8 else None
    difference = max_difference(convert_to_tflite(model, target, calibration), target)
    return difference, INT8_TOLERANCE if int8 else FLOAT_TOLERANCE


def export_all(keras_paths: list[Path], data: list[Path], split_file: Path) -> list[str]:
    """Convert each .keras file (full-integer for the catalogue's int8 models) and return what
    disagrees with its Keras graph by more than its tolerance."""
    disagreements = []
    for keras_path in keras_paths:
        tflite_path = keras_path.with_suffix(".tflite")
        difference, tolerance = convert_as_served(load_keras_model(keras_path), keras_path.stem, tflite_path,
                                                  data, split_file)
        print(f"{keras_path.name} -> {tflite_path.name}{' (int8)' if keras_path.stem in INT8_STEMS else ''}: "
              f"max |keras - tflite| = {difference:.2e}", flush=True)
        if not difference <= tolerance:
            disagreements.append(f"{tflite_path.name} (max difference {difference:.2e})")
    return disagreements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=WEIGHTS, help="folder of .keras files")
    parser.add_argument("--publish", nargs=2, metavar=("RUN_DIR", "STEM"),
                        help="first copy RUN_DIR/best.keras to WEIGHTS/STEM.keras, stripped for serving")
    parser.add_argument("--data", nargs="+", type=Path, default=[DATASETS / "picsart", DATASETS / "ccp"],
                        help="dataset folders whose training photos calibrate the int8 models")
    parser.add_argument("--split-file", type=Path, default=WEIGHTS / "split.json")
    args = parser.parse_args(argv)
    if args.publish:
        run_dir, stem = Path(args.publish[0]), args.publish[1]
        if not (run_dir / "best.keras").is_file():
            print(f"error: {run_dir / 'best.keras'} does not exist", file=sys.stderr)
            return 2
        strip_for_serving(run_dir / "best.keras", args.weights / f"{stem}.keras")
    keras_paths = [args.weights / f"{args.publish[1]}.keras"] if args.publish else sorted(args.weights.glob("*.keras"))
    if not keras_paths:
        print(f"error: no .keras files in {args.weights}", file=sys.stderr)
        return 2
    try:
        disagreements = export_all(keras_paths, args.data, args.split_file)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if disagreements:
        print(f"error: LiteRT and Keras disagree: {', '.join(disagreements)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
