"""ml.segmenter and ml.refine, with a stand-in model whose right answer is known (it finds red)."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.metrics import boundary_f, iou
from ml.preprocess import Box, letterbox_box
from ml.refine import RefineConfig, clean_mask
from ml.registry import ModelRuntime, available_models, load_runtime
from ml.refocus import RefocusConfig
from ml.segmenter import Matte, Segmenter


class RedFinder(ModelRuntime):
    """A 'model' that calls red pixels person: exact at its own low resolution, blocky when upsampled."""

    def __init__(self, size: int = 64):
        super().__init__("red-finder", Path("red-finder"), {})
        self.input_size = size
        self.calls = 0

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        red, green = batch[0, :, :, 0], batch[0, :, :, 1]
        return np.clip((red - green) / 120.0, 0.0, 1.0)  # red (200, 40, 40) -> 1, green -> 0


class CoarseRedFinder(RedFinder):
    """The red finder with an output half its input's size, as SINet's served graph has."""

    def __init__(self, size: int = 64):
        super().__init__(size)
        self._output_size = size // 2

    def _run(self, batch: np.ndarray) -> np.ndarray:
        fine = super()._run(batch)
        return fine.reshape(self.output_size, 2, self.output_size, 2).mean(axis=(1, 3))


def disc_photo(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red disc on a noisy green background, and its true mask."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((height, width), np.uint8)
    cv2.circle(truth, (width // 2, height // 2), min(height, width) // 3, 1, -1)
    photo = np.empty((height, width, 3), np.uint8)
    photo[...] = (40, 160, 60)
    photo[truth > 0] = (200, 40, 40)
    noise = rng.integers(-8, 9, photo.shape)
    return np.clip(photo.astype(int) + noise, 0, 255).astype(np.uint8), truth.astype(bool)


@pytest.mark.parametrize("shape", [(480, 640), (640, 480), (999, 211), (37, 53), (1, 1), (3, 2000)])
def test_matte_has_the_photo_size_for_any_aspect(shape):
    photo, _ = disc_photo(*shape)
    matte = Segmenter(RedFinder()).segment(photo)
    assert matte.alpha.shape == shape and matte.alpha.dtype == np.uint8
    assert matte.mask.shape == shape and matte.mask.dtype == bool
    assert set(matte.timings_ms) == {"resize", "model", "refine", "total"}


def test_mask_is_alpha_at_threshold():
    photo, _ = disc_photo(300, 400)
    for threshold in (64, 128, 200):
        matte = Segmenter(RedFinder(), threshold=threshold).segment(photo)
        np.testing.assert_array_equal(matte.mask, matte.alpha >= threshold)


def test_guided_refinement_follows_edges_better_than_bilinear():
    photo, truth = disc_photo(1200, 1600)
    runtime = RedFinder(size=32)  # one model pixel = 50 photo pixels: bilinear edges are far off
    refined = Segmenter(runtime).segment(photo)
    plain = Segmenter(runtime, refine=False, clean=False).segment(photo)
    assert iou(refined.mask, truth) > max(0.99, iou(plain.mask, truth))
    # Boundary F with a tight tolerance (0.2 % of the diagonal = 4 px): bilinear is off by more.
    assert boundary_f(refined.mask, truth, 0.002) > boundary_f(plain.mask, truth, 0.002) + 0.3
    assert np.abs(refined.alpha / 255.0 - truth).mean() < 0.5 * np.abs(plain.alpha / 255.0 - truth).mean()
    # The matte is soft only near the edge: deep inside and far outside it is exactly 255 and 0.
    assert refined.alpha[600, 800] == 255 and refined.alpha[5, 5] == 0


def test_grey_guide_also_works():
    photo, truth = disc_photo(600, 800)
    config = RefineConfig(colour_guide=False)
    assert iou(Segmenter(RedFinder(32), config=config).segment(photo).mask, truth) > 0.95


def test_tta_calls_the_model_on_the_mirror_image():
    runtime = RedFinder()
    photo, truth = disc_photo(200, 300)
    photo[:, :40] = (200, 40, 40)  # an asymmetric red stripe on the left
    one = Segmenter(runtime, tta=False).segment(photo)
    calls = runtime.calls
    both = Segmenter(runtime, tta=True).segment(photo)
    assert runtime.calls - calls == 2
    # The stand-in model is mirror-equivariant, so averaging with the mirror must not move anything.
    assert iou(one.mask, both.mask) > 0.99
    assert both.mask[100, 10] and not both.mask[100, 290]


def test_letterbox_padding_is_not_part_of_the_matte():
    photo, truth = disc_photo(100, 400)  # very wide: most of the canvas is padding
    matte = Segmenter(RedFinder()).segment(photo)
    assert iou(matte.mask, truth) > 0.9


@pytest.mark.parametrize("shape", [(600, 800), (999, 211), (211, 999), (37, 53)])
def test_an_output_smaller_than_the_canvas_maps_back_onto_the_photo(shape):
    """The letterbox box lands on the coarse output's grid, so nothing shifts: a stride-2 model is
    as right as the same model at full size, also for odd aspect ratios and with the mirror image."""
    photo, truth = disc_photo(*shape)
    coarse = CoarseRedFinder()
    assert (coarse.input_size, coarse.output_size, coarse.stride) == (64, 32, 2)
    for tta in (False, True):
        fine_iou = iou(Segmenter(RedFinder(), tta=tta).segment(photo).mask, truth)
        coarse_matte = Segmenter(coarse, tta=tta).segment(photo)
        assert coarse_matte.alpha.shape == shape
        assert iou(coarse_matte.mask, truth) > fine_iou - 0.03


def test_letterbox_box_on_a_coarser_grid():
    for height, width in [(600, 800), (999, 211), (211, 999), (37, 53)]:
        box = letterbox_box(height, width, 224, multiple=2)
        assert all(value % 2 == 0 for value in (box.top, box.left, box.height, box.width)), box
        assert box.top + box.height <= 224 and box.left + box.width <= 224 and min(box.height, box.width) >= 2
        # each side is rounded by at most one pixel to its multiple of 2
        assert abs(box.width / box.height / (width / height) - 1) <= 1.1 / min(box.height, box.width)
        assert box.reduced(2) == Box(box.top // 2, box.left // 2, box.height // 2, box.width // 2)
    assert letterbox_box(1, 5000, 224, multiple=2) == Box(110, 0, 2, 224)   # never thinner than one output pixel
    assert letterbox_box(600, 800, 224) == Box(28, 0, 168, 224)   # the training geometry is unchanged


def test_stretch_fit_is_available_for_measurement_and_bad_fit_refused():
    photo, truth = disc_photo(200, 300)
    assert iou(Segmenter(RedFinder(), fit="stretch").segment(photo).mask, truth) > 0.9
    with pytest.raises(ValueError, match="unknown fit"):
        Segmenter(RedFinder(), fit="squash")


def test_clean_mask_drops_specks_fills_pinholes_keeps_real_gaps():
    prob = np.zeros((200, 200), np.float32)
    prob[20:180, 20:180] = 1.0
    prob[60:140, 60:140] = 0.0        # a large enclosed gap (arm against body): real background
    prob[30:32, 30:32] = 0.0          # a pin-hole: noise
    prob[190:193, 5:8] = 1.0          # a speck: noise
    cleaned = clean_mask(prob, min_blob=0.01, max_hole=0.002)
    assert cleaned[31, 31] == 1.0
    assert cleaned[191, 6] == 0.0
    assert cleaned[100, 100] == 0.0
    assert cleaned[25, 25] == 1.0


def test_refuses_non_rgb_input():
    with pytest.raises(ValueError, match="expected an RGB uint8 array"):
        Segmenter(RedFinder()).segment(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="threshold"):
        Segmenter(RedFinder(), threshold=0)


def test_bbox_and_crop_with_margin():
    mask = np.zeros((100, 200), bool)
    mask[20:40, 50:90] = True
    matte = Matte(mask.astype(np.uint8) * 255, mask)
    assert matte.bbox() == (20, 50, 40, 90)
    assert matte.bbox(margin=0.25) == (10, 40, 50, 100)  # 25 % of the longer side (40) = 10 px
    assert Matte(mask.astype(np.uint8) * 255, mask).bbox(margin=5.0) == (0, 0, 100, 200)  # clipped
    image = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3)
    cropped_image, cropped = matte.crop(image, margin=0.25)
    assert cropped_image.shape[:2] == cropped.alpha.shape == cropped.mask.shape == (40, 60)
    np.testing.assert_array_equal(cropped_image, image[10:50, 40:100])
    empty = Matte(np.zeros((5, 5), np.uint8), np.zeros((5, 5), bool))
    assert empty.empty and empty.bbox() is None and empty.crop(image[:5, :5])[0].shape == (5, 5, 3)


@pytest.mark.skipif(not available_models(), reason="no weights/*.tflite committed yet")
def test_real_model_on_a_portrait_finds_the_person():
    """A generated 'portrait' (skin-toned head and shoulders on a plain wall) at phone resolution."""
    height, width = 1600, 1200
    photo = np.empty((height, width, 3), np.uint8)
    photo[...] = (225, 230, 235)
    truth = np.zeros((height, width), np.uint8)
    cv2.ellipse(truth, (600, 600), (230, 300), 0, 0, 360, 1, -1)
    cv2.ellipse(truth, (600, 1600), (560, 600), 0, 0, 360, 1, -1)
    photo[truth > 0] = (180, 130, 110)
    matte = Segmenter(load_runtime("sinet")).segment(photo)
    assert matte.alpha.shape == (height, width)
    assert matte.mask.any() and not matte.mask.all()


def test_reduce_expand_and_sampling_are_exact_inverses():
    from ml.refine import expand, reduce, sample_at

    photo = np.random.default_rng(0).integers(0, 256, (101, 203, 3), dtype=np.uint8)
    work = reduce(photo, 50)
    assert work.factor == 4 and work.rgb.shape == (25, 50, 3)
    np.testing.assert_allclose(work.rgb[3, 7], photo[12:16, 28:32].reshape(-1, 3).mean(axis=0), atol=0.51)
    small = (np.arange(25 * 50) % 7 == 0).astype(np.uint8).reshape(25, 50)
    big = expand(small, 4, 101, 203)
    assert big.shape == (101, 203)
    assert big[4 * 3 + 2, 4 * 7 + 1] == small[3, 7] and big[100, 202] == small[24, 49]
    # A sample at a full-resolution pixel centre is the bilinear mix of the right working pixels.
    ramp = np.tile(np.arange(50, dtype=np.float32), (25, 1))
    values = sample_at(ramp, np.array([0, 0, 10]), np.array([1, 2, 201]), 4)[:, 0]
    np.testing.assert_allclose(values, [0.0, (2 + 0.5) / 4 - 0.5, 49], atol=1e-5)  # clamped at the borders
    assert reduce(photo, 1000).factor == 1 and reduce(photo, 1000).rgb is photo


class HesitantFinder(RedFinder):
    """Like RedFinder, but unsure (0.35) in a wide ring round the red disc, as weak models are."""

    def _run(self, batch: np.ndarray) -> np.ndarray:
        prob = super()._run(batch)
        size = self.input_size
        ring = np.zeros((size, size), np.uint8)
        cv2.circle(ring, (size // 2, size // 2), size // 3, 1, -1)
        ring = cv2.dilate(ring, np.ones((9, 9), np.uint8)) > 0
        return np.where(ring & (prob < 0.35), 0.35, prob).astype(np.float32)


@pytest.mark.parametrize("radius,largest_step", [(1.0, 20), (RefineConfig().radius, 25)])
def test_soft_band_fades_out_without_a_staircase(radius, largest_step):
    photo, truth = disc_photo(1200, 1200)  # the disc fills the canvas like it fills the photo
    matte = Segmenter(HesitantFinder(size=48), config=RefineConfig(radius=radius)).segment(photo)
    assert matte.alpha[5, 5] == 0 and matte.alpha[600, 600] == 255
    # Away from the disc's own edge the hesitant halo must fade smoothly to 0: a hard cut where the
    # band ends jumps by about 40 levels between neighbouring pixels. A wider filter makes the halo
    # itself a little steeper (measured: 14 levels at radius 1, 23 at 4, 30 at 8), so the bound is
    # per radius; both stay well clear of a cut.
    away = cv2.dilate(truth.astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    alpha = matte.alpha.astype(int)
    steps = np.maximum(np.abs(np.diff(alpha, axis=0))[:, :-1], np.abs(np.diff(alpha, axis=1))[:-1, :])
    assert steps[away[:-1, :-1]].max() <= largest_step


def test_refocus_finds_a_small_person_the_whole_photo_pass_blurs():
    photo = np.empty((600, 800, 3), np.uint8)
    photo[...] = (40, 160, 60)
    truth = np.zeros((600, 800), np.uint8)
    cv2.rectangle(truth, (380, 240), (403, 319), 1, -1)   # 24x80 px: under 2 canvas pixels wide at 48 px
    photo[truth > 0] = (200, 40, 40)
    coarse = Segmenter(RedFinder(48), refine=False, clean=False).segment(photo)
    finder = RedFinder(48)
    closer = Segmenter(finder, refine=False, clean=False, refocus=RefocusConfig(threshold=0.05)).segment(photo)
    assert finder.calls == 2 and "refocus" in closer.timings_ms     # the whole photo, then one closer look
    assert iou(closer.mask, truth > 0) > iou(coarse.mask, truth > 0) + 0.2
