"""Both architectures: output contract, parameter budget, input-size rule, .keras round trip."""
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ml.training.models import BUILDERS, build_model, load_keras_model  # noqa: E402
from ml.training.models.mobile_unet import build_mobile_unet  # noqa: E402

SIZE = 64


@pytest.fixture(scope="module")
def sinet():
    return build_model("sinet", SIZE)


@pytest.fixture(scope="module")
def mobile_unet():
    return build_model("mobile-unet", SIZE)


def photo_like(batch, size, seed=0):
    """Smooth random images in 0-255 (what the models take), not pure noise."""
    coarse = np.random.default_rng(seed).random((batch, 4, 4, 3)).astype(np.float32) * 255
    return np.asarray(keras.ops.image.resize(coarse, (size, size)), np.float32)


@pytest.mark.parametrize("fixture", ["sinet", "mobile_unet"])
def test_output_is_one_channel_probability(fixture, request):
    model = request.getfixturevalue(fixture)
    assert model.input_shape == (None, SIZE, SIZE, 3)
    out = np.asarray(model(photo_like(2, SIZE), training=False))
    assert out.shape == (2, SIZE, SIZE, 1)
    assert out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_sinet_parameter_budget(sinet):
    # The paper's SINet has 86.9k parameters; ours must stay in the same class.
    assert 80_000 <= sinet.count_params() <= 120_000


def test_parameter_count_does_not_depend_on_input_size(sinet):
    assert build_model("sinet", 96).count_params() == sinet.count_params()


def test_mobile_unet_is_built_without_downloaded_weights(mobile_unet):
    # weights=None: a fresh build is random, so two builds differ (ImageNet weights would be equal).
    other = build_model("mobile-unet", SIZE)
    first = mobile_unet.get_layer("Conv1").get_weights()[0]
    assert not np.allclose(first, other.get_layer("Conv1").get_weights()[0])
    assert 500_000 < mobile_unet.count_params() < 2_000_000


def test_mobile_unet_transpose_upsampling_builds():
    model = build_mobile_unet(SIZE, upsampling="transpose")
    assert model.output_shape == (None, SIZE, SIZE, 1)
    with pytest.raises(ValueError, match="upsampling"):
        build_mobile_unet(SIZE, upsampling="nearest")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_input_size_must_be_multiple_of_32(name):
    with pytest.raises(ValueError, match="multiple of 32"):
        build_model(name, 100)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", SIZE)


def test_keras_round_trip_keeps_custom_layers(sinet, tmp_path):
    path = tmp_path / "sinet.keras"
    sinet.save(path)
    loaded = load_keras_model(path)
    assert {"InformationBlocking", "PersonProbability"} <= {type(layer).__name__ for layer in loaded.layers}
    x = photo_like(1, SIZE, seed=3)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), np.asarray(sinet(x, training=False)),
                               atol=1e-6)
