"""ml.registry: models by name, clear errors for bad files, thread safety, no TensorFlow on the serving path."""
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from ml.errors import ModelError
from ml.registry import (DEFAULT_WEIGHTS_DIR, MAX_INTERPRETERS, MODEL_FILES, TFLiteRuntime, available_models,
                         load_runtime, model_path)

needs_weights = pytest.mark.skipif(not available_models(), reason="no weights/*.tflite committed yet")


def canvases(size: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth photo-like canvases (pure noise is not what the models were trained on)."""
    import cv2
    rng = np.random.default_rng(seed)
    return [cv2.resize(rng.random((8, 8, 3), dtype=np.float32) * 255, (size, size)) for _ in range(count)]


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ModelError, match="unknown model 'u2net'; choose from sinet, mobile-unet"):
        load_runtime("u2net")


def test_unknown_backend_is_refused():
    with pytest.raises(ModelError, match="unknown backend 'onnx'"):
        load_runtime("sinet", backend="onnx")


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(ModelError, match=str(tmp_path / "mobile_unet.tflite")):
        load_runtime("mobile-unet", tmp_path)


def test_corrupt_tflite_file_is_named(tmp_path):
    (tmp_path / "sinet.tflite").write_bytes(b"not a flatbuffer" * 100)
    with pytest.raises(ModelError, match=r"sinet\.tflite is not a valid LiteRT model"):
        load_runtime("sinet", tmp_path)


def test_corrupt_keras_file_is_named(tmp_path):
    (tmp_path / "sinet.keras").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ModelError, match=r"sinet\.keras could not be loaded"):
        load_runtime("sinet", tmp_path, backend="keras")


def test_paths_follow_the_file_table():
    assert model_path("mobile-unet", Path("w")) == Path("w/mobile_unet.tflite")
    assert model_path("sinet", Path("w"), "keras") == Path("w/sinet.keras")


@needs_weights
@pytest.mark.parametrize("name", sorted(MODEL_FILES))
def test_runtime_predicts_a_probability_map(name):
    runtime = load_runtime(name)
    assert isinstance(runtime, TFLiteRuntime)
    assert runtime.input_size in range(64, 513)
    if runtime.card.get("input_size"):
        assert runtime.card["input_size"] == runtime.input_size
    assert runtime.parameters > 10_000  # from the model card, or counted in the file
    assert runtime.output_size * runtime.stride == runtime.input_size and runtime.stride in (1, 2)
    prob = runtime.predict(canvases(runtime.input_size, 1)[0])
    assert prob.shape == (runtime.output_size, runtime.output_size) and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    with pytest.raises(ValueError, match="expects a canvas of shape"):
        runtime.predict(np.zeros((10, 10, 3), np.float32))


@needs_weights
def test_loaded_once_and_reloaded_when_the_file_changes(tmp_path):
    assert load_runtime("sinet") is load_runtime("sinet")
    shutil.copy(model_path("sinet"), tmp_path / "sinet.tflite")
    first = load_runtime("sinet", tmp_path)
    assert load_runtime("sinet", tmp_path) is first
    (tmp_path / "sinet.tflite").write_bytes(model_path("sinet").read_bytes() + b"\0")  # new size
    assert load_runtime("sinet", tmp_path) is not first


def predict_from_threads(runtime, inputs: list[np.ndarray], repeats: int = 3) -> list[np.ndarray]:
    """Each input predicted ``repeats`` times on a thread of its own, all threads at once."""
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(inputs))

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(repeats):
                results[i] = runtime.predict(inputs[i])
        except BaseException as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    return [results[i] for i in range(len(inputs))]


@needs_weights
def test_concurrent_predictions_match_sequential_ones():
    runtime = load_runtime("sinet")
    inputs = canvases(runtime.input_size, 8, seed=1)
    expected = [runtime.predict(c) for c in inputs]
    for prob, result in zip(expected, predict_from_threads(runtime, inputs)):
        np.testing.assert_array_equal(result, prob)
    # Eight threads at once share a bounded pool instead of holding an interpreter each.
    assert 1 <= runtime.interpreter_count <= MAX_INTERPRETERS < 8


@needs_weights
@pytest.mark.parametrize("pool", [1, 3])
def test_callers_beyond_the_pool_wait_for_an_interpreter(pool):
    runtime = TFLiteRuntime("sinet", model_path("sinet"), {}, max_interpreters=pool)
    inputs = canvases(runtime.input_size, 6, seed=2)
    expected = [runtime.predict(c) for c in inputs]
    for prob, result in zip(expected, predict_from_threads(runtime, inputs, repeats=4)):
        np.testing.assert_array_equal(result, prob)
    assert runtime.interpreter_count <= pool


@needs_weights
def test_serving_path_never_imports_tensorflow_keras_or_numba(run_python):
    code = (
        "import sys, numpy as np\n"
        "import ml.imageio, ml.registry, ml.segmenter, ml.compose, ml.refine, ml.cutout, ml.predict, ml.batch\n"
        "import ml.catalogue, webapp.model_pool, webapp.command\n"
        "from ml import remove\n"
        "remove(np.full((30, 20, 3), 90, np.uint8), background='blur')\n"
        "rt = ml.registry.load_runtime('sinet')\n"
        "rgb = np.full((50, 40, 3), 128, np.uint8)\n"
        "m = ml.segmenter.Segmenter(rt, tta=True, matting=True).segment(rgb)\n"
        "ml.compose.compose(rgb, m.alpha, ml.compose.parse_background('blur'))\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'numba',"
        " 'pymatting')"
        " or n.startswith(('ml.training', 'ml.data')))\n"
        "print('IMPORTED', bad)\n"
    )
    assert "IMPORTED []" in run_python(code)


def test_only_the_training_side_imports_keras(run_python):
    """Every module of ``ml`` outside ``ml/training`` imports without Keras: the boundary holds by
    construction, not only along the paths the app happens to take today."""
    code = (
        "import importlib, pkgutil, sys\n"
        "names, todo = [], ['ml']\n"   # walk_packages would import ml.training to look inside it
        "while todo:\n"
        "    package = importlib.import_module(todo.pop())\n"
        "    for m in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
        "        if m.name == 'ml.training': continue\n"
        "        names.append(m.name)\n"
        "        todo.append(m.name) if m.ispkg else importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "print('MODULES', len(names), 'KERAS', bad[:3])\n"
    )
    out = run_python(code)
    assert "KERAS []" in out
    assert int(out.split("MODULES ")[1].split()[0]) > 30


@needs_weights
@pytest.mark.skipif(not (DEFAULT_WEIGHTS_DIR / "sinet.keras").is_file(), reason="no sinet.keras")
def test_keras_backend_agrees_with_the_litert_export():
    lite = load_runtime("sinet")
    keras_runtime = load_runtime("sinet", backend="keras")
    assert (keras_runtime.input_size, keras_runtime.output_size) == (lite.input_size, lite.output_size)
    for canvas in canvases(lite.input_size, 2, seed=2):
        assert np.abs(keras_runtime.predict(canvas) - lite.predict(canvas)).max() < 1e-3


def test_an_output_that_does_not_divide_the_input_is_refused(tmp_path):
    """A LiteRT file whose output grid does not divide its canvas could not be mapped back onto the
    photo: it is refused at load time, naming the file."""
    keras = pytest.importorskip("keras")
    from ml.training.export import convert_to_tflite

    image = keras.Input((64, 64, 3))
    convert_to_tflite(keras.Model(image, keras.layers.Conv2D(1, 3, strides=3, activation="sigmoid")(image)),
                      tmp_path / "sinet.tflite")
    with pytest.raises(ModelError, match=r"sinet.tflite gives output of shape \(1, 21, 21, 1\)"):
        load_runtime("sinet", tmp_path)
