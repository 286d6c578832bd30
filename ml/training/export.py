"""Export every ``weights/*.keras`` to a LiteRT ``.tflite`` beside it and check they agree.

The LiteRT graph is the Keras model with SINet's two-class head folded into one channel (see
``fold_two_class_head``); the check below compares it against the unfolded Keras model.

``python -m ml.training.export [--weights DIR] [--publish RUN_DIR NAME]``

LiteRT is what the server runs (no TensorFlow import, faster start-up, less memory), so each export is
verified: both files get the same random-but-seeded photo-like inputs and the largest absolute
difference between their probability maps is reported.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras
import numpy as np

from ml.atomic import atomic_path, write_atomic
from ml.paths import WEIGHTS
from ml.training.models import load_keras_model, rebuilt


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
    return keras.Model(model.input, output, name=f"{model.name}_serving")


def convert_to_tflite(model: keras.Model, target: Path) -> None:
    """Write a float32 LiteRT flatbuffer for ``model`` (head folded; the batch dimension becomes 1)."""
    import tensorflow as tf

    write_atomic(target, tf.lite.TFLiteConverter.from_keras_model(fold_two_class_head(model)).convert())


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


def export_all(keras_paths: list[Path]) -> dict[str, float]:
    """Convert each .keras file and return {file name: max abs difference}."""
    results = {}
    for keras_path in keras_paths:
        model = load_keras_model(keras_path)
        tflite_path = keras_path.with_suffix(".tflite")
        convert_to_tflite(model, tflite_path)
        results[keras_path.name] = max_difference(model, tflite_path)
        print(f"{keras_path.name} -> {tflite_path.name}: max |keras - tflite| = {results[keras_path.name]:.2e}",
              flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=WEIGHTS, help="folder of .keras files")
    parser.add_argument("--publish", nargs=2, metavar=("RUN_DIR", "STEM"),
                        help="first copy RUN_DIR/best.keras to WEIGHTS/STEM.keras, stripped for serving")
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
    worst = max(export_all(keras_paths).values())
    if worst > 1e-4:
        print(f"error: LiteRT and Keras disagree (max difference {worst:.2e})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
