"""Losses against values computed by hand on tiny (batch, H, W, 1) tensors."""
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ml.training import losses  # noqa: E402


def t(values):
    """A (1, H, W, 1) float32 tensor from a 2-D list."""
    return np.asarray(values, np.float32)[None, ..., None]


def value(x):
    return keras.ops.convert_to_numpy(x)


def test_bce_by_hand():
    # -(ln 0.8 + ln 0.8) / 2
    assert value(losses.bce(t([[1, 0]]), t([[0.8, 0.2]]))) == pytest.approx([-math.log(0.8)], rel=1e-5)


def test_bce_is_finite_for_hard_mistakes():
    assert np.isfinite(value(losses.bce(t([[1, 0]]), t([[0.0, 1.0]])))).all()


def test_dice_and_jaccard_by_hand():
    y_true, y_pred = t([[1, 1, 0, 0]]), t([[1, 0.5, 0.5, 0]])
    # intersection 1.5, |T| + |P| = 4, union 2.5, smooth 1
    assert value(losses.dice_loss(y_true, y_pred)) == pytest.approx([1 - 4 / 5], rel=1e-5)
    assert value(losses.jaccard_loss(y_true, y_pred)) == pytest.approx([1 - 2.5 / 3.5], rel=1e-5)
    expected = -(math.log(1 - 1e-7) + math.log(0.5) * 2 + math.log(1 - 1e-7)) / 4 + 0.2
    assert value(losses.bce_dice(y_true, y_pred)) == pytest.approx([expected], rel=1e-4)


def test_perfect_and_empty_predictions_cost_nothing():
    empty = t(np.zeros((4, 4)))
    assert value(losses.dice_loss(empty, empty)) == pytest.approx([0.0])
    assert value(losses.jaccard_loss(empty, empty)) == pytest.approx([0.0])
    person = t(np.eye(4))
    assert value(losses.dice_loss(person, person)) == pytest.approx([0.0], abs=1e-6)


def test_one_value_per_batch_element():
    y = np.zeros((3, 8, 8, 1), np.float32)
    for name in losses.LOSSES:
        loss = losses.get_loss(name)
        per_image = loss.call(y, y + 0.3) if isinstance(loss, keras.losses.Loss) else loss(y, y + 0.3)
        assert value(per_image).shape == (3,), name


def test_boundary_band_of_a_tiny_square():
    mask = np.zeros((7, 7))
    mask[2:5, 2:5] = 1
    band = value(losses.boundary_band(t(mask), kernel=3))[0, ..., 0]
    expected = np.zeros((7, 7))
    expected[1:6, 1:6] = 1       # dilation: 5 x 5
    expected[3, 3] = 0           # minus erosion: the centre pixel
    np.testing.assert_array_equal(band, expected)


def test_boundary_band_default_kernel_is_15():
    mask = np.zeros((80, 80))
    mask[30:50, 30:50] = 1
    band = value(losses.boundary_band(t(mask)))
    assert band.sum() == 34 * 34 - 6 * 6   # 20 + 2 x 7 wide dilation, 20 - 2 x 7 wide erosion


def test_boundary_loss_weights_band_errors():
    mask = np.zeros((7, 7))
    mask[2:5, 2:5] = 1                           # band (kernel 3): 24 pixels, see above
    outside, inside = mask.copy(), mask.copy()
    outside[0, 0] = 0.5                          # a mistake away from the contour
    inside[1, 1] = 0.5                           # the same mistake on the contour band
    loss = losses.BoundaryLoss(lam=0.9, kernel=3)
    ln2 = math.log(2)
    assert value(loss.call(t(mask), t(outside))) == pytest.approx([ln2 / 49], rel=1e-3)
    assert value(loss.call(t(mask), t(inside))) == pytest.approx([ln2 / 49 + 0.9 * ln2 / 24], rel=1e-3)


def test_boundary_loss_defaults_and_config():
    loss = losses.get_loss("boundary")
    assert (loss.lam, loss.kernel) == (0.9, 15)
    clone = losses.BoundaryLoss.from_config(losses.BoundaryLoss(lam=0.5, kernel=5, dice=True).get_config())
    assert (clone.lam, clone.kernel, clone.dice) == (0.5, 5, True)


def test_boundary_dice_adds_the_dice_loss_to_the_band_loss():
    mask = np.zeros((7, 7))
    mask[2:5, 2:5] = 1
    pred = np.clip(mask + np.random.default_rng(0).uniform(-0.4, 0.4, mask.shape), 0, 1)
    plain, with_dice = losses.get_loss("boundary"), losses.get_loss("boundary-dice")
    assert not plain.dice and with_dice.dice
    expected = value(plain.call(t(mask), t(pred))) + value(losses.dice_loss(t(mask), t(pred)))
    assert value(with_dice.call(t(mask), t(pred))) == pytest.approx(expected, rel=1e-5)
    assert value(losses.dice_loss(t(mask), t(pred)))[0] > 0.01     # the two differ by a real amount


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get_loss("focal")


def test_pixels_of_weight_zero_are_left_out_of_every_loss():
    target, pred = t([[1, 0, 1]]), t([[0.9, 0.2, 0.05]])
    weighted = np.concatenate([target, t([[1, 1, 0]])], axis=-1)    # the last pixel is unlabelled
    for name in losses.LOSSES:
        loss = losses.get_loss(name)
        expected = value(loss(t([[1, 0]]), t([[0.9, 0.2]])))
        assert value(loss(weighted, pred)) == pytest.approx(expected, rel=1e-5), name
        assert value(loss(target, pred)) != pytest.approx(expected, rel=1e-3), name


def test_masked_iou_counts_labelled_pixels_only():
    metric = losses.MaskedIoU()
    y_true = np.concatenate([t([[1, 0, 0, 1]]), t([[1, 1, 0, 1]])], axis=-1)
    metric.update_state(y_true, t([[0.9, 0.1, 0.9, 0.2]]))    # the wrong third pixel is unlabelled
    assert value(metric.result()) == pytest.approx(0.5)       # person: 1 right, 1 missed


def test_distilled_adds_the_cross_entropy_to_the_soft_target_over_every_pixel():
    target, weight, pred = t([[1, 0]]), t([[1, 0]]), t([[0.9, 0.2]])
    soft = t([[0.7, 0.4]])
    distilled = losses.Distilled("bce", weight=0.5)
    plain = value(losses.bce(np.concatenate([target, weight], -1), pred))[0]
    soft_ce = -np.mean([0.7 * math.log(0.9) + 0.3 * math.log(0.1), 0.4 * math.log(0.2) + 0.6 * math.log(0.8)])
    y_true = np.concatenate([target, weight, soft], axis=-1)
    assert value(distilled(y_true, pred)) == pytest.approx(plain + 0.5 * soft_ce, rel=1e-5)
    # Validation batches carry no soft target: the plain loss, comparable with runs that did not distil.
    assert value(distilled(np.concatenate([target, weight], -1), pred)) == pytest.approx(plain, rel=1e-5)


def test_distilled_wraps_a_loss_class_and_survives_its_config():
    wrapped = losses.Distilled(losses.BoundaryLoss(lam=0.5), weight=0.25)
    again = losses.Distilled.from_config(wrapped.get_config())
    assert isinstance(again.base, losses.BoundaryLoss) and again.base.lam == 0.5 and again.weight == 0.25
    y_true = np.concatenate([t([[1, 0, 1]]), t([[1, 1, 1]]), t([[0.5, 0.5, 0.5]])], axis=-1)
    pred = t([[0.8, 0.3, 0.6]])
    assert value(again(y_true, pred)) == pytest.approx(value(wrapped(y_true, pred)), rel=1e-6)
    # The soft channel does not disturb what the wrapped loss and the metric read.
    assert value(wrapped.base(y_true, pred)) == pytest.approx(value(wrapped.base(y_true[..., :2], pred)), rel=1e-6)
