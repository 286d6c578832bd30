"""Metrics against small cases computed by hand, including the empty-mask conventions."""
import numpy as np
import pytest

from ml import metrics


def square(shape, top, left, size):
    mask = np.zeros(shape, bool)
    mask[top:top + size, left:left + size] = True
    return mask


def left_columns(shape, columns):
    """Person in the first ``columns`` columns: its only contour is the column ``columns - 1``."""
    mask = np.zeros(shape, bool)
    mask[:, :columns] = True
    return mask


@pytest.fixture
def overlap_pair():
    """4x4: prediction is the top-left 2x2 block, ground truth the top row. Shared: 2 pixels."""
    pred = square((4, 4), 0, 0, 2)
    gt = np.zeros((4, 4), bool)
    gt[0] = True
    return pred, gt


def test_iou_dice_accuracy_by_hand(overlap_pair):
    pred, gt = overlap_pair
    assert metrics.iou(pred, gt) == pytest.approx(2 / 6)          # union 4 + 4 - 2
    assert metrics.dice(pred, gt) == pytest.approx(2 * 2 / 8)
    assert metrics.pixel_accuracy(pred, gt) == pytest.approx(12 / 16)  # 2 + 2 pixels wrong


def test_score_holds_every_metric(overlap_pair):
    result = metrics.score(*overlap_pair)
    assert set(result) == set(metrics.METRICS)
    assert result["iou"] == pytest.approx(1 / 3)
    assert result["accuracy"] == pytest.approx(0.75)


def test_both_empty_is_perfect():
    empty = np.zeros((8, 8), bool)
    assert metrics.score(empty, empty) == {"iou": 1.0, "dice": 1.0, "accuracy": 1.0, "boundary_f": 1.0}


def test_one_empty_scores_zero():
    empty, person = np.zeros((8, 8), bool), square((8, 8), 2, 2, 4)
    for pred, gt in ((empty, person), (person, empty)):
        assert metrics.iou(pred, gt) == 0.0
        assert metrics.dice(pred, gt) == 0.0
        assert metrics.boundary_f(pred, gt) == 0.0
        assert metrics.pixel_accuracy(pred, gt) == pytest.approx(48 / 64)


def test_full_frame_person_has_no_contour_and_matches():
    full = np.ones((8, 8), bool)
    assert not metrics.boundary(full).any()
    assert metrics.boundary_f(full, full) == 1.0


def test_binarize_conventions():
    assert metrics.binarize(np.array([[0, 127, 128, 255]], np.uint8)).tolist() == [[False, False, True, True]]
    assert metrics.binarize(np.array([[0.0, 0.49, 0.5, 1.0]], np.float32)).tolist() == [[False, False, True, True]]
    assert metrics.binarize(np.ones((2, 3, 1), bool)).shape == (2, 3)
    with pytest.raises(ValueError, match="2-D"):
        metrics.binarize(np.ones((2, 3, 3), np.uint8))


def test_uint8_and_bool_masks_score_the_same(overlap_pair):
    pred, gt = overlap_pair
    assert metrics.score(pred.astype(np.uint8) * 255, gt) == metrics.score(pred, gt)


def test_size_mismatch_raises():
    with pytest.raises(ValueError, match="differ in size"):
        metrics.iou(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


def test_boundary_of_a_square_is_its_ring():
    mask = square((9, 9), 2, 2, 5)
    ring = metrics.boundary(mask)
    assert ring.sum() == 16                 # 5 x 5 minus the 3 x 3 inside
    assert not ring[3:6, 3:6].any()
    assert ring[2, 2] and ring[6, 6]


def test_image_border_is_not_a_contour():
    ring = metrics.boundary(left_columns((10, 10), 4))
    assert ring.sum() == 10 and ring[:, 3].all()


def test_tolerance_is_share_of_diagonal():
    assert metrics.tolerance_pixels((300, 400)) == pytest.approx(0.0075 * 500)


def test_boundary_f_tolerance_edge():
    # 300 x 400: diagonal 500, tolerance 3.75 px. A contour 3 px away matches, 4 px away does not.
    gt = left_columns((300, 400), 200)
    assert metrics.boundary_f(left_columns((300, 400), 203), gt) == 1.0
    assert metrics.boundary_f(left_columns((300, 400), 204), gt) == 0.0
    # The same 4 px shift matches with a looser tolerance (1 % of the diagonal = 5 px).
    assert metrics.boundary_f(left_columns((300, 400), 204), gt, fraction=0.01) == 1.0


def test_boundary_precision_and_recall_by_hand():
    # 100 x 100: the true contour is column 49 (100 px). The prediction adds a far-away 3 x 3 blob
    # whose ring (8 px) matches nothing: precision 100 / 108, recall 1.
    gt = left_columns((100, 100), 50)
    pred = gt | square((100, 100), 10, 80, 3)
    precision, recall = metrics.boundary_precision_recall(pred, gt)
    assert precision == pytest.approx(100 / 108)
    assert recall == 1.0
    assert metrics.boundary_f(pred, gt) == pytest.approx(2 * (100 / 108) / (100 / 108 + 1))
    assert metrics.boundary_precision_recall(gt, pred) == pytest.approx((1.0, 100 / 108))


def test_summarize_mean_and_median():
    rows = [{"iou": 0.2, "dice": 0.0}, {"iou": 0.3, "dice": 1.0}, {"iou": 1.0, "dice": 0.5}]
    summary = metrics.summarize(rows, metrics=("iou", "dice"))
    assert summary == pytest.approx({"images": 3, "iou_mean": 0.5, "iou_median": 0.3,
                                     "dice_mean": 0.5, "dice_median": 0.5})
    assert metrics.summarize(rows[:2], metrics=("iou",))["iou_median"] == pytest.approx(0.25)
    assert metrics.summarize([]) == {"images": 0}


def test_metrics_do_not_import_keras(run_python):
    run_python("import sys, ml.metrics; bad = {'keras', 'tensorflow'} & set(sys.modules); "
               "sys.exit(f'imported {bad}' if bad else 0)")
