"""Both architectures: output contract, parameter budget, input-size rule, .keras round trip."""
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ml.training.models import BUILDERS, build_model, copy_weights, load_keras_model  # noqa: E402
from ml.training.models.mobile_unet import UPSAMPLING, build_mobile_unet, upsampling_of  # noqa: E402

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


def test_both_bilinear_decoders_hold_the_same_weights_and_cost_apart():
    """Conv then resize keeps every layer and weight shape of resize then conv (checkpoints load by
    name either way) at a quarter of the decoder's multiply-adds, and is another function."""
    resize_first = build_mobile_unet(SIZE, upsampling="bilinear")
    conv_first = build_mobile_unet(SIZE, upsampling="conv-then-bilinear")
    assert conv_first.output_shape == (None, SIZE, SIZE, 1)
    assert {w.path: w.shape for w in conv_first.weights} == {w.path: w.shape for w in resize_first.weights}
    copy_weights(resize_first, conv_first)
    x = photo_like(1, SIZE)
    assert not np.allclose(np.asarray(conv_first(x)), np.asarray(resize_first(x)), atol=1e-4)
    grids = {name: model.get_layer("dec_full_conv").output.shape[1]
             for name, model in (("resize first", resize_first), ("conv first", conv_first))}
    assert grids == {"resize first": SIZE, "conv first": SIZE // 2}


@pytest.mark.parametrize("mode", UPSAMPLING)
def test_a_saved_decoder_is_read_back_from_its_graph(mode, tmp_path):
    build_mobile_unet(SIZE, upsampling=mode).save(tmp_path / "m.keras")
    assert upsampling_of(load_keras_model(tmp_path / "m.keras")) == mode


@pytest.mark.parametrize("mode", ["bilinear", "conv-then-bilinear"])
def test_rebuilt_keeps_a_mobile_unet_checkpoints_decoder(mode):
    from ml.training.models import rebuilt

    keras.utils.set_random_seed(5)
    old = build_mobile_unet(SIZE, upsampling=mode)
    new = rebuilt(old)
    x = photo_like(1, SIZE)
    assert upsampling_of(new) == mode
    np.testing.assert_allclose(np.asarray(new(x)), np.asarray(old(x)), atol=1e-5)


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


@pytest.mark.parametrize("factor", [2, 4])
def test_a_batch_norm_commutes_with_bilinear_upsampling_in_inference(factor):
    """What SINet's order of batch norm and upsampling rests on: in inference, normalising then
    upsampling gives what upsampling then normalising gives (bilinear weights sum to 1)."""
    rng = np.random.default_rng(factor)
    norm = keras.layers.BatchNormalization(epsilon=1e-3)
    norm.build((None, 7, 7, 5))
    norm.set_weights([rng.uniform(0.5, 2, 5), rng.normal(0, 1, 5), rng.normal(0, 1, 5), rng.uniform(0.1, 3, 5)])
    up = keras.layers.UpSampling2D(factor, interpolation="bilinear")
    x = rng.normal(0, 3, (2, 7, 7, 5)).astype(np.float32)
    first_norm = np.asarray(up(norm(x, training=False)))
    first_up = np.asarray(norm(up(x), training=False))
    np.testing.assert_allclose(first_norm, first_up, atol=1e-5)
    assert np.abs(first_norm - np.asarray(up(x))).max() > 0.1       # the norm is far from the identity


def paper_order_sinet(monkeypatch) -> keras.Model:
    """SINet as the paper orders it (and checkpoints before 2026-12 saved it): batch norms after the
    bilinear upsamplings."""
    from keras import layers

    from ml.training.models import sinet as module

    def s2_block(x, filters, kernel, pool, name):
        if pool > 1:
            x = layers.AveragePooling2D(pool, strides=pool, name=f"{name}_avgpool")(x)
        x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False, name=f"{name}_dw")(x)
        x = layers.BatchNormalization(epsilon=module.BN_EPS, name=f"{name}_dw_bn")(x)
        x = module.prelu(f"{name}_prelu")(x)
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
        if pool > 1:
            x = layers.UpSampling2D(pool, interpolation="bilinear", name=f"{name}_up")(x)
        return layers.BatchNormalization(epsilon=module.BN_EPS, name=f"{name}_bn")(x)

    def decoder(coarse_logits, high_res):
        up = layers.UpSampling2D(2, interpolation="bilinear", name="dec_up1")(coarse_logits)
        up = layers.BatchNormalization(epsilon=module.BN_EPS, name="dec_up1_bn")(up)
        detail = module.conv_bn_prelu(high_res, module.NUM_CLASSES, 1, 1, "dec_detail")
        x = layers.Add(name="dec_add")([module.InformationBlocking(name="dec_blocking")(up, detail), up])
        x = layers.UpSampling2D(2, interpolation="bilinear", name="dec_up2")(x)
        x = layers.BatchNormalization(epsilon=module.BN_EPS, name="dec_up2_bn")(x)
        x = layers.UpSampling2D(2, interpolation="bilinear", name="dec_up3")(x)
        return layers.Conv2D(module.NUM_CLASSES, 3, padding="same", use_bias=False, name="dec_classifier")(x)

    with monkeypatch.context() as patch:
        patch.setattr(module, "s2_block", s2_block)
        patch.setattr(module, "information_blocking_decoder", decoder)
        return build_model("sinet", SIZE)


def test_a_paper_order_checkpoint_rebuilt_serves_the_same_outputs(monkeypatch):
    from ml.training.models import rebuilt, same_weights

    rng = np.random.default_rng(3)
    old = paper_order_sinet(monkeypatch)
    old.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype) if w.ndim == 1 else w for w in old.get_weights()])
    old.set_weights([np.abs(w) + 0.1 if "variance" in v.path else w for w, v in zip(old.get_weights(), old.weights)])
    new = rebuilt(old)
    assert [l.name for l in new.layers] != [l.name for l in old.layers]   # another graph ...
    for layer in new.layers:                                                 # ... with the same weights
        for a, b in zip(layer.get_weights(), old.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    x = photo_like(2, SIZE)
    assert np.abs(np.asarray(old(x)) - 0.5).max() > 0.05                    # far from a constant output
    np.testing.assert_allclose(np.asarray(new(x)), np.asarray(old(x)), atol=1e-5)
    assert same_weights(new, old)                                            # what model cards check
    classifier = new.get_layer("dec_classifier")
    classifier.set_weights([w + 1e-3 for w in classifier.get_weights()])
    assert not same_weights(new, old)
