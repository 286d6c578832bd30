"""ml.matting: the band-only closed-form solve, the trimap and the full-resolution matte."""
import cv2
import numpy as np
import pytest
from pymatting import estimate_alpha_cf

from ml.matting import UNKNOWN, MattingConfig, closed_form_alpha, trimap
from ml.refine import GuidedFit
from ml.segmenter import Segmenter
from tests.ml.test_segmenter import RedFinder


def soft_disc(height: int, width: int, edge: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red disc whose rim fades over ``edge`` pixels into a green background, both lightly
    textured, mixed exactly as I = a F + (1 - a) B; returns the photo and its true alpha (0-1)."""
    rng = np.random.default_rng(seed)
    distance = np.hypot(*np.meshgrid(np.arange(height) - height / 2, np.arange(width) - width / 2, indexing="ij"))
    alpha = np.clip((min(height, width) / 3 - distance) / edge + 0.5, 0.0, 1.0)
    red = np.array([200, 40, 40]) + rng.integers(-10, 11, (height, width, 3))
    green = np.array([40, 160, 60]) + rng.integers(-10, 11, (height, width, 3))
    photo = alpha[:, :, None] * red + (1 - alpha[:, :, None]) * green
    return np.clip(photo + 0.5, 0, 255).astype(np.uint8), alpha


def test_band_only_solve_matches_pymatting_closed_form():
    photo, alpha = soft_disc(90, 120, edge=6)
    tri = np.where(alpha > 0.999, 1.0, 0.0)
    band = cv2.dilate((alpha > 0.001).astype(np.uint8), np.ones((5, 5))) != cv2.erode(
        (alpha > 0.999).astype(np.uint8), np.ones((5, 5)))
    tri[band] = UNKNOWN
    image = photo / 255.0
    ours = closed_form_alpha(image, tri, eps=1e-5)
    theirs = estimate_alpha_cf(image, tri, laplacian_kwargs={"epsilon": 1e-5}, cg_kwargs={"rtol": 1e-10})
    assert np.abs(ours - theirs).max() < 1e-3
    np.testing.assert_array_equal(ours[~band], tri[~band])  # sure pixels are kept as given
    assert np.abs(ours - alpha)[band].mean() < 0.05  # and the mixture is recovered


def test_nothing_unknown_means_nothing_to_solve():
    tri = np.zeros((20, 30))
    tri[5:15, 5:20] = 1.0
    np.testing.assert_array_equal(closed_form_alpha(np.random.default_rng(0).random((20, 30, 3)), tri), tri)


def fit_for(prob: np.ndarray, per_model_pixel: float) -> GuidedFit:
    """A guided fit whose decision is ``prob`` itself, for trimap tests."""
    zeros = np.zeros(prob.shape, np.float32)
    return GuidedFit(zeros[:, :, None], zeros, prob, prob, per_model_pixel)


def test_trimap_band_follows_photo_scale_and_model_hesitation():
    prob = np.zeros((200, 200), np.float32)
    prob[:, 100:] = 1.0
    config = MattingConfig(band=2, reach=6, unsure=0.1)
    for scale in (1.0, 3.0):
        tri = trimap(fit_for(prob, scale), config)
        width = int((tri[100] == UNKNOWN).sum())
        assert 4 * scale - 1 <= width <= 4 * scale + 2  # +-band model pixels round the edge
        assert tri[100, 0] == 0.0 and tri[100, 199] == 1.0
    hesitant = prob.copy()
    hesitant[:50, 80:100] = 0.4  # the model hesitates over 20 px left of the edge in the top rows
    tri = trimap(fit_for(hesitant, 3.0), config)
    assert (tri[10, 83:100] == UNKNOWN).all()  # within reach (18 px): unknown
    assert (tri[150, 83:94] == 0.0).all()  # where it is sure, the band stays narrow


def test_all_person_or_no_person_has_no_band():
    for value in (0.0, 1.0):
        prob = np.full((30, 40), value, np.float32)
        np.testing.assert_array_equal(trimap(fit_for(prob, 2.0), MattingConfig()), prob)


class OverReaching(RedFinder):
    """A weak model: it calls a model pixel round the subject person too, and blurs its answer."""

    def _run(self, batch: np.ndarray) -> np.ndarray:
        prob = super()._run(batch).astype(np.float32)
        return cv2.GaussianBlur(cv2.dilate(prob, np.ones((3, 3), np.uint8)), (0, 0), 1.0)


def shading(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth colour variation (+-15 levels), like light on skin and walls, not sensor grain."""
    small = rng.normal(0, 15, (max(2, height // 16), max(2, width // 16), 3)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def strands_scene(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red head with 60 thin strands sticking out, on a shaded green wall; photo and true alpha.

    Drawn twice as large and area-averaged, so the strands (1 px wide) are partly transparent.
    """
    rng = np.random.default_rng(seed)
    big = np.zeros((height * 2, width * 2), np.uint8)
    centre, radii = np.array([width, height]), np.array([width / 2, height * 2 / 3])
    cv2.ellipse(big, tuple(map(int, centre)), tuple(map(int, radii)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    for angle in np.linspace(0, 2 * np.pi, 60, endpoint=False):
        direction = np.array([np.cos(angle), np.sin(angle)]) * radii
        inner, outer = (centre + 0.97 * direction).astype(int), (centre + 1.08 * direction).astype(int)
        cv2.line(big, tuple(map(int, inner)), tuple(map(int, outer)), 255, 2, cv2.LINE_AA)
    alpha = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA) / 255.0
    red = np.array([200, 40, 40]) + shading(rng, height, width)
    green = np.array([40, 160, 60]) + shading(rng, height, width)
    photo = alpha[:, :, None] * red + (1 - alpha[:, :, None]) * green
    return np.clip(photo + 0.5, 0, 255).astype(np.uint8), alpha


@pytest.mark.parametrize("shape", [(450, 600), (1200, 1600)])  # working factor 1 and 2
def test_matting_finds_the_edge_a_weak_model_misses(shape):
    photo, alpha = strands_scene(*shape)
    weak, exact = OverReaching(size=96), RedFinder(size=96)
    matted = Segmenter(weak, matting=True).segment(photo).alpha
    assert matted.shape == shape and matted[5, 5] == 0 and matted[shape[0] // 2, shape[1] // 2] == 255

    def sad(runtime, matting: bool) -> float:
        return float(np.abs(Segmenter(runtime, matting=matting).segment(photo).alpha / 255.0 - alpha).sum())

    # Measured SAD, matting against guided filter: 147 / 2,801 at 450 x 600, 596 / 17,976 at 1200 x 1600.
    assert sad(weak, True) < 0.5 * sad(weak, False)
    # A model that is right at its own resolution still loses the strands: 147 / 580 and 602 / 1,250.
    assert sad(exact, True) < 0.75 * sad(exact, False)


def test_matting_needs_the_refinement():
    with pytest.raises(ValueError, match="matting starts from the guided refinement"):
        Segmenter(RedFinder(), refine=False, matting=True)
