"""bench.peers: the MediaPipe custom-op rewrite, the peer runtime and the report, all offline.

A tiny Keras model with a biased stride-2 transposed convolution is converted to LiteRT and then
given MediaPipe's ``Convolution2DTransposeBias`` custom op, the way selfie_segmentation.tflite
stores its last layer; the rewrite must turn it back into something plain LiteRT runs, exactly.
"""
import struct

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from ai_edge_litert import schema_py_generated as schema  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from bench import peers  # noqa: E402
from ml.teachers import mediapipe  # noqa: E402


@pytest.fixture(scope="module")
def keras_model():
    image = keras.Input((8, 8, 3), batch_size=1)
    deconv = keras.layers.Conv2DTranspose(1, 2, strides=2, padding="same")
    model = keras.Model(image, keras.layers.Activation("sigmoid")(deconv(keras.layers.AveragePooling2D(2)(image))))
    deconv.set_weights([np.random.default_rng(0).normal(size=(2, 2, 1, 3)).astype(np.float32),
                        np.array([0.3], np.float32)])
    return model


def as_mediapipe_custom_op(model_bytes: bytes) -> bytes:
    """Store each TRANSPOSE_CONV as MediaPipe does: custom op, (input, weights, bias), C-struct options."""
    import flatbuffers

    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode, code.version = mediapipe.CUSTOM_TRANSPOSE_CONV, 1
    model.operatorCodes.append(code)
    for op in model.subgraphs[0].operators:
        if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.TRANSPOSE_CONV:
            options = op.builtinOptions
            padding = 1 if options.padding == schema.Padding.SAME else 2
            op.customOptions = np.frombuffer(struct.pack("<3i", padding, options.strideW, options.strideH), np.uint8)
            _, weights, source, bias = op.inputs
            op.inputs, op.opcodeIndex = [source, weights, bias], len(model.operatorCodes) - 1
            op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.NONE, None
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def files(keras_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("peers")
    plain = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    custom = as_mediapipe_custom_op(plain)
    (root / "custom.tflite").write_bytes(custom)
    (root / "rewritten.tflite").write_bytes(mediapipe.standardize_transpose_conv(custom))
    return root


def run(path, x, delegate=True):
    resolver = OpResolverType.AUTO if delegate else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


X = np.random.default_rng(1).random((1, 8, 8, 3)).astype(np.float32)


def test_custom_op_needs_the_delegate(files, keras_model):
    with pytest.raises(RuntimeError, match="Convolution2DTransposeBias"):
        run(files / "custom.tflite", X, delegate=False)
    np.testing.assert_allclose(run(files / "custom.tflite", X), keras_model(X), atol=1e-5)


@pytest.mark.parametrize("delegate", [True, False])
def test_rewrite_runs_anywhere_and_matches(files, keras_model, delegate):
    np.testing.assert_allclose(run(files / "rewritten.tflite", X, delegate), keras_model(X), atol=1e-5)


def test_rewrite_leaves_standard_models_alone(keras_model):
    plain = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    assert mediapipe.standardize_transpose_conv(plain) == plain


def test_parameters_count_constant_floats_only(files):
    assert peers.tflite_parameters((files / "rewritten.tflite").read_bytes()) == 2 * 2 * 3 + 1   # kernel + bias, not the shape


def test_peer_runtime_scales_to_unit_range_and_maps_back(files, keras_model):
    peer = mediapipe.MediaPipeSelfie("peer", files / "rewritten.tflite", {})
    assert peer.input_size == 8
    canvas = X[0] * 255
    np.testing.assert_allclose(peer.predict(canvas), np.asarray(keras_model(X))[0, ..., 0], atol=1e-5)
    photo = np.zeros((12, 20, 3), np.uint8)
    mask = mediapipe.peer_mask(peer, photo)
    assert mask.shape == (12, 20) and mask.dtype == bool


def summary(iou_a, iou_b, bf=0.5):
    return {name: {"images": 2, "iou_mean": iou, "iou_median": iou, "boundary_f_mean": bf}
            for name, iou in (("a", iou_a), ("b", iou_b), ("all", (iou_a + iou_b) / 2))}


def test_report_ratios_and_targets():
    summaries = {peers.PEER_NAME: summary(0.9, 0.8), "sinet": summary(0.95, 0.7), "sinet (raw)": summary(0.9, 0.7)}
    latency = {peers.PEER_NAME: 4.0, "sinet": 5.0}
    report = peers.build_report(summaries, latency, {peers.PEER_NAME: 100, "sinet": 90}, ["sinet"])
    ratios = report["rows"]["sinet"]["ratio_to_peer"]
    assert ratios["iou_mean"]["a"] == pytest.approx(0.95 / 0.9, abs=1e-3)
    assert ratios["model_ms"] == 1.25 and ratios["parameters"] == 0.9
    assert report["targets"] == {"sinet iou >= peer on a": True, "sinet iou >= peer on b": False,
                                 "sinet model call <= peer": False}
    table = peers.markdown_table(report, ["a", "b", "all"])
    assert table.splitlines()[2].startswith(f"| {peers.PEER_NAME} | 0.9000 | 0.8000 |")
    assert "| sinet | 0.9500 (1.06) |" in table and "5.00 (1.25)" in table


def test_tta_row_counts_both_model_calls():
    summaries = {peers.PEER_NAME: summary(0.9, 0.8), "sinet": summary(0.9, 0.7),
                 f"sinet{peers.TTA_SUFFIX}": summary(0.92, 0.72)}
    latency = {peers.PEER_NAME: 4.0, "sinet": 3.0}
    report = peers.build_report(summaries, latency, {peers.PEER_NAME: 100, "sinet": 90}, ["sinet"])
    tta = report["rows"][f"sinet{peers.TTA_SUFFIX}"]
    assert (tta["model_calls"], tta["model_ms_median"], tta["ratio_to_peer"]["model_ms"]) == (2, 6.0, 1.5)
    assert report["rows"]["sinet"]["model_ms_median"] == 3.0
    # The targets are the single-call model's: the better TTA row does not count as meeting them.
    assert report["targets"]["sinet iou >= peer on a"] is True and report["targets"]["sinet model call <= peer"]
    assert not any("tta" in target for target in report["targets"])
