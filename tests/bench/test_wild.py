"""bench.wild: scores leave unlabelled pixels out, and rows land in the right size and people bins."""
import numpy as np

from bench import wild
from ml.teachers import IGNORE


def test_unlabelled_pixels_count_for_neither_side():
    truth = np.zeros((10, 10), np.uint8)
    truth[2:6, 2:6] = 255
    truth[8:, 8:] = IGNORE
    pred = truth == 255
    pred[8:, 8:] = True                     # says person where the teachers disagreed: not an error
    assert wild.score(pred, truth)["iou"] == 1.0
    pred[0, 0] = True                       # a labelled background pixel called person: an error
    assert wild.score(pred, truth)["iou"] < 1.0


def test_people_regions_ignore_specks():
    truth = np.zeros((100, 100), np.uint8)
    truth[10:40, 10:20] = 255
    truth[10:40, 50:60] = 255
    truth[90, 90] = 255                     # one pixel: 0.01 % of the frame
    assert wild.people_regions(truth) == 2


def test_rows_are_summarized_per_bin():
    images = []
    for share in (0.02, 0.1, 0.5):
        truth = np.zeros((100, 100), np.uint8)
        truth.flat[:int(share * 10_000)] = 255
        images.append((np.zeros((100, 100, 3), np.uint8), truth))
    truths = iter(truth for _, truth in images)     # an oracle: answers each photo with its own truth
    rows = wild.evaluate(images, {"oracle": lambda rgb: next(truths) == 255})
    summary = wild.summarize(rows, ["oracle"])
    assert summary["all"]["images"] == 3 and summary["all"]["oracle"]["iou"] == 1.0
    assert summary["person < 5 %"]["images"] == 1 and summary["person > 40 %"]["images"] == 1
    assert "person 15-40 %" not in summary
    assert "| person 5-15 % | 1 | 1.000 / 1.000 |" in wild.markdown_table(summary, ["oracle"])
