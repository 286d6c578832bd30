"""LiteRT export: a tiny trained-shape model converts and agrees with Keras."""
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from ml.data import read_image  # noqa: E402
from ml.preprocess import letterbox  # noqa: E402
from ml.registry import tflite_parameters  # noqa: E402
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
    assert export.max_difference(export.serving_graph(model), exported / "tiny.tflite") < 1e-4


def test_tflite_input_contract(exported):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(exported / "tiny.tflite"))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["shape"].tolist() == [1, 64, 64, 3] and inp["dtype"] == np.float32
    assert out["shape"].tolist() == [1, 32, 32, 1]   # SINet's head runs before its last upsampling


def test_missing_inputs_exit_with_message(tmp_path, capsys):
    assert export.main(["--weights", str(tmp_path)]) == 2
    assert "no .keras files" in capsys.readouterr().err
    assert export.main(["--weights", str(tmp_path), "--publish", str(tmp_path / "run"), "x"]) == 2
    assert "best.keras" in capsys.readouterr().err


def logit(p):
    p = np.asarray(p, np.float64)
    return np.log(p / (1.0 - p))


def test_head_before_upsampling_keeps_the_response_to_smooth_maps():
    """A bilinear x2 upsampling then a 3x3 sigmoid head, served as the head on the coarse grid: on a
    locally linear map each coarse logit is the mean of the four fine logits it covers."""
    keras.utils.set_random_seed(3)
    features = keras.Input((8, 8, 2))
    up = keras.layers.UpSampling2D(2, interpolation="bilinear")(features)
    head = keras.layers.Conv2D(1, 3, padding="same", use_bias=False, activation="sigmoid")
    model = keras.Model(features, head(up))
    head.set_weights([np.random.default_rng(0).normal(0, 0.3, (3, 3, 2, 1)).astype(np.float32)])
    served = export.head_before_upsampling(model)
    assert served.output_shape == (None, 8, 8, 1)
    rows, cols = np.mgrid[0:8, 0:8].astype(np.float32)
    ramps = np.stack([0.3 * rows - 0.2 * cols + 0.5, -0.1 * rows + 0.25 * cols - 1.0], axis=-1)[None]
    fine, coarse = logit(model(ramps))[0, :, :, 0], logit(served(ramps))[0, :, :, 0]
    means = fine.reshape(8, 2, 8, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(coarse[2:6, 2:6], means[2:6, 2:6], atol=1e-4)   # away from the borders


def test_only_a_final_upsampled_head_moves():
    mobile_unet = build_model("mobile-unet", 64, upsampling="bilinear")
    assert export.serving_graph(mobile_unet).output_shape == (None, 64, 64, 1)


def test_a_conv_first_mobile_unet_serves_its_map_before_the_last_resize():
    """Its 1x1 head (bias included) moves before the last resize: the same logits, one grid coarser."""
    keras.utils.set_random_seed(2)
    model = build_model("mobile-unet", 64, upsampling="conv-then-bilinear")
    head = model.get_layer("person_probability")
    head.set_weights([head.get_weights()[0] * 20, np.array([0.7], np.float32)])
    served = export.serving_graph(model)
    assert served.output_shape == (None, 32, 32, 1)
    x = np.asarray(keras.ops.image.resize(np.random.default_rng(4).random((1, 8, 8, 3)) * 255, (64, 64)), np.float32)
    full = logit(model(x))[0, :, :, 0]
    upsampled = np.asarray(keras.ops.image.resize(logit(served(x)), (64, 64)))[0, :, :, 0]
    assert full.std() > 0.1
    np.testing.assert_allclose(upsampled, full, atol=1e-3)


def test_served_sinet_upsampled_stays_close_to_the_full_graph(exported):
    model = load_keras_model(exported / "tiny.keras")
    served = export.serving_graph(model)
    x = np.asarray(keras.ops.image.resize(np.random.default_rng(4).random((1, 8, 8, 3)) * 255, (64, 64)), np.float32)
    full = np.asarray(model(x))[0, :, :, 0]
    upsampled = np.asarray(keras.ops.image.resize(served(x), (64, 64)))[0, :, :, 0]
    assert full.std() > 0.05
    assert np.abs(upsampled - full).mean() < 0.02 and ((upsampled >= 0.5) == (full >= 0.5)).mean() > 0.97


def tensor_types(tflite_path):
    from ai_edge_litert.interpreter import Interpreter

    return {detail["dtype"] for detail in Interpreter(model_path=str(tflite_path)).get_tensor_details()}


def test_int8_export_is_integer_inside_and_agrees_within_its_tolerance(tmp_path):
    keras.utils.set_random_seed(3)
    image = keras.Input((32, 32, 3))
    hidden = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(keras.layers.Rescaling(1 / 255)(image))
    model = keras.Model(image, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(hidden))
    smooth = np.asarray(keras.ops.image.resize(np.random.default_rng(0).random((16, 4, 4, 3)) * 255, (32, 32)))
    assert np.asarray(model(smooth)).std() > 0.01                        # not a constant the export could match
    served = export.convert_to_tflite(model, tmp_path / "int8.tflite", calibration=smooth)
    export.convert_to_tflite(model, tmp_path / "float.tflite")
    assert np.int8 in tensor_types(tmp_path / "int8.tflite")
    assert np.int8 not in tensor_types(tmp_path / "float.tflite")
    parameters = [tflite_parameters((tmp_path / name).read_bytes()) for name in ("int8.tflite", "float.tflite")]
    assert parameters[0] == parameters[1] >= 3 * 3 * 3 * 8 + 8 + 3 * 3 * 8 + 1   # int8 kernels and biases counted
    difference = export.max_difference(served, tmp_path / "int8.tflite")
    assert export.FLOAT_TOLERANCE < difference < export.INT8_TOLERANCE   # rounded, but only a little


def test_calibration_takes_training_photos_only(tmp_path, make_dataset):
    folder = make_dataset(tmp_path / "set", 10)
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({"train": [f"set/{i}" for i in range(4)],
                                      "val": [f"set/{i}" for i in range(4, 7)],
                                      "test": [f"set/{i}" for i in range(7, 10)]}))
    photos = export.calibration_photos([folder], split_file, 32, count=3)
    letterboxed = {i: letterbox(read_image(folder / "images" / f"{i}.png"), 32)[0] for i in range(10)}
    sources = [next(i for i, expected in letterboxed.items() if np.array_equal(photo, expected)) for photo in photos]
    assert len(set(sources)) == 3 and all(i < 4 for i in sources)


def test_int8_model_without_a_split_file_exits_with_message(tmp_path, capsys):
    keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(1, 1, activation="sigmoid")]).save(
        tmp_path / "mobile_unet.keras")
    assert export.main(["--weights", str(tmp_path), "--split-file", str(tmp_path / "none.json")]) == 2
    assert "none.json does not exist" in capsys.readouterr().err
    assert not (tmp_path / "mobile_unet.tflite").exists()
