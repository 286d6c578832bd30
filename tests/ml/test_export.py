"""LiteRT export: a tiny trained-shape model converts and agrees with Keras."""
import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from ml.training import export  # noqa: E402
from ml.training.models import build_model, load_keras_model  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """SINet at 64 px saved as a training checkpoint in a run folder, published and exported."""
    root = tmp_path_factory.mktemp("export")
    run_dir, weights = root / "run", root / "weights"
    run_dir.mkdir()
    weights.mkdir()
    keras.utils.set_random_seed(7)        # the checks below depend on the weights: keep them fixed
    model = build_model("sinet", 64)
    # A fresh SINet outputs about 0.5 everywhere, which any export would match; a sharper classifier
    # makes the comparison mean something.
    classifier = model.get_layer("dec_classifier")
    classifier.set_weights([w * 300 for w in classifier.get_weights()])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.save(run_dir / "best.keras")
    assert export.main(["--weights", str(weights), "--publish", str(run_dir), "tiny"]) == 0
    return weights


def test_publish_strips_the_checkpoint_and_writes_tflite(exported):
    assert sorted(p.name for p in exported.iterdir()) == ["tiny.keras", "tiny.tflite"]
    checkpoint = load_keras_model(exported.parent / "run" / "best.keras", compile=True)
    served = load_keras_model(exported / "tiny.keras", compile=True)
    assert checkpoint.optimizer is not None
    assert getattr(served, "optimizer", None) is None     # no optimizer state shipped to users


def test_tflite_agrees_with_keras(exported):
    model = load_keras_model(exported / "tiny.keras")
    x = np.random.default_rng(1).random((1, 64, 64, 3)).astype(np.float32) * 255
    assert np.asarray(model(x)).std() > 0.05                 # the output is far from constant
    assert export.max_difference(model, exported / "tiny.tflite") < 1e-4


def test_tflite_input_contract(exported):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(exported / "tiny.tflite"))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["shape"].tolist() == [1, 64, 64, 3] and inp["dtype"] == np.float32
    assert out["shape"].tolist() == [1, 64, 64, 1]


def test_missing_inputs_exit_with_message(tmp_path, capsys):
    assert export.main(["--weights", str(tmp_path)]) == 2
    assert "no .keras files" in capsys.readouterr().err
    assert export.main(["--weights", str(tmp_path), "--publish", str(tmp_path / "run"), "x"]) == 2
    assert "best.keras" in capsys.readouterr().err
