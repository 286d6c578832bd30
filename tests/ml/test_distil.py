"""Soft targets: a published model's probability on training canvases, at the student's size."""
import cv2
import numpy as np
import pytest

from ml.registry import load_runtime
from ml.training.distil import SOURCES, SoftTargets


def test_soft_targets_are_the_teachers_probability_at_the_canvas_size():
    teacher = SoftTargets("mobile-unet")
    model = load_runtime("mobile-unet")
    canvases = np.random.default_rng(0).integers(0, 256, (2, model.input_size, model.input_size, 3)).astype(np.float32)
    soft = teacher(canvases)
    assert soft.shape == (2, model.input_size, model.input_size)
    # the served map may be a grid coarser than the canvas (Mobile-UNet's and SINet's stop at half)
    own = cv2.resize(model.predict(canvases[1]), (model.input_size,) * 2, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(soft[1], own, atol=1e-6)
    bigger = teacher(np.zeros((1, 224, 224, 3), np.float32))
    assert bigger.shape == (1, 224, 224) and 0.0 <= bigger.min() <= bigger.max() <= 1.0


def test_the_runtime_loads_once_per_process():
    loads = []
    teacher = SoftTargets("sinet", load=lambda name: loads.append(name) or load_runtime(name))
    canvas = np.zeros((1, 224, 224, 3), np.float32)
    teacher(canvas)
    teacher(canvas)
    assert loads == ["sinet"]
    teacher._pid = -2   # as a forked worker sees it: the parent's interpreter is not reused
    teacher(canvas)
    assert loads == ["sinet", "sinet"]


def test_an_unknown_source_is_refused():
    assert "mediapipe" in SOURCES and "sinet" in SOURCES
    with pytest.raises(ValueError, match="cannot distil from"):
        SoftTargets("u2net")
