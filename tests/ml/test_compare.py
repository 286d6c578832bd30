"""ml.compare: the disagreement map drawn over a preview, agreement between two masks, scores against a truth."""
import numpy as np

from ml import compare, metrics


def masks() -> tuple[np.ndarray, np.ndarray]:
    first = np.zeros((40, 60), bool)
    second = np.zeros((40, 60), bool)
    first[:, :30] = True
    second[:, 20:40] = True
    return first, second


def test_agreement_and_scores():
    first, second = masks()
    assert compare.agreement(first, second) == {"disagreement": round(30 / 60, 4),
                                                "iou_between": round(metrics.iou(first, second), 4)}
    scores = compare.scores({"a": first, "b": second}, first)
    assert scores["a"] == {"iou": 1.0, "boundary_f": 1.0} and scores["b"]["iou"] == round(10 / 40, 4)


def test_disagreement_map_is_drawn_at_the_pictures_size():
    first, second = masks()
    preview = np.full((20, 30, 3), 100, np.uint8)  # half the masks' size
    drawn = compare.disagreement_map(preview, first, second)
    assert drawn.shape == (20, 30, 3)
    assert (drawn[:, :10] == compare.ONLY_FIRST).all() and (drawn[:, 15:20] == compare.ONLY_SECOND).all()
    assert (drawn[:, 25:] == round(100 * 0.35)).all()  # neither: the photo dimmed


def test_truth_mask_reads_any_uploaded_image():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = 255
    assert compare.truth_mask(rgb).tolist() == [[True] * 4] * 2 + [[False] * 4] * 2
