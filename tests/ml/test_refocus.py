"""Coarse to fine: small candidates get a closer look; big ones and empty photos are left alone."""
import numpy as np

from ml.refocus import RefocusConfig, candidate_boxes, refocus


def test_small_regions_get_square_boxes_with_context_big_ones_none():
    prob = np.zeros((100, 100), np.float32)
    prob[10:20, 10:14] = 0.4          # a small, unsure person
    prob[40:100, 40:100] = 0.9        # a big one (36 % of the frame)
    boxes = candidate_boxes(prob, RefocusConfig(context=0.5))
    assert boxes == [(5, 2, 25, 22)]  # 10 px tall -> a 20 px square around its centre


def test_closer_look_replaces_the_coarse_probability_inside_the_box():
    prob = np.zeros((100, 100), np.float32)
    prob[40:50, 40:45] = 0.35                     # the coarse pass barely saw someone
    work = np.zeros((400, 400, 3), np.uint8)
    work[160:200, 160:180] = 255                  # the person, in the 4x working copy
    calls = []

    def look(crop):                               # a closer look that sees the bright person
        calls.append(crop.shape)
        return (crop.mean(axis=2) > 128).astype(np.float32)

    merged = refocus(prob, work, look)
    assert len(calls) == 1 and calls[0][0] >= 40  # the crop holds the person with context
    assert merged[44, 42] > 0.9                   # now clearly a person
    assert merged[40:50, 40:45].mean() > 0.8 and merged[:30].max() == 0.0


def test_nothing_to_refocus_means_no_model_call():
    prob = np.zeros((50, 50), np.float32)
    assert refocus(prob, np.zeros((50, 50, 3), np.uint8), lambda crop: 1 / 0) is prob

