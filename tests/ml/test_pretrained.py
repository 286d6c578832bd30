"""The pretrained encoder: DeepLabV3's MobileNetV2 weights land in the right Keras layers."""
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ml.training.models import build_model  # noqa: E402
from ml.training.models.pretrained import ENCODER_FILE, load_pretrained_encoder  # noqa: E402

pytestmark = pytest.mark.skipif(not ENCODER_FILE.is_file(), reason=f"{ENCODER_FILE} is not beside the repository")
TENSOR = "MobilenetV2/expanded_conv_5/add"   # block 5's output: 65x65x16 for a 513x513 input


def reference(canvas):
    """Block 5's output as the LiteRT file computes it (dequantized)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(ENCODER_FILE), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], canvas[None])
    interpreter.invoke()
    detail = next(d for d in interpreter.get_tensor_details() if d["name"].split(";")[0] == TENSOR)
    scale, zero = detail["quantization"]
    return (interpreter.get_tensor(detail["index"])[0].astype(np.float32) - zero) * scale


def block5(weights_loaded: bool, canvas):
    image = keras.Input((513, 513, 3))
    encoder = keras.applications.MobileNetV2(input_tensor=image, alpha=0.5, include_top=False, weights=None)
    if weights_loaded:
        assert load_pretrained_encoder(encoder) == 51
    sub = keras.Model(image, encoder.get_layer("block_5_add").output)
    return np.asarray(sub((canvas.astype(np.float32)[None] - 128) / 128))[0]


def test_mapped_encoder_reproduces_the_files_intermediate_output():
    rng = np.random.default_rng(0)
    # a smooth picture with structure (quantized networks respond to edges, not white noise)
    canvas = np.kron(rng.integers(0, 256, (27, 27, 3)), np.ones((19, 19, 1)))[:513, :513].astype(np.uint8)
    expected = reference(canvas)
    mapped = block5(True, canvas)
    assert mapped.shape == expected.shape == (65, 65, 16)
    assert np.corrcoef(mapped.ravel(), expected.ravel())[0, 1] > 0.98   # uint8 arithmetic in the file
    untrained = block5(False, canvas)
    assert abs(np.corrcoef(untrained.ravel(), expected.ravel())[0, 1]) < 0.5


def test_mobile_unet_takes_the_encoder():
    model = build_model("mobile-unet", 64)
    before = model.get_layer("block_3_project").get_weights()[0].copy()
    load_pretrained_encoder(model)
    after = model.get_layer("block_3_project").get_weights()[0]
    assert not np.allclose(before, after)
    assert not after[:, :, 72:, :].any()           # Keras' wider block 3 reads 72 real channels only
    # Frozen batch norms keep the folded network's function in training as in inference.
    assert not model.get_layer("block_3_project_BN").trainable and model.get_layer("block_3_project").trainable
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    encoder = keras.Model(model.input, model.get_layer("block_6_expand_relu").output)
    np.testing.assert_allclose(np.asarray(encoder(x, training=True)), np.asarray(encoder(x, training=False)),
                               rtol=1e-4, atol=1e-4)
