"""bench.edges: the halo benchmark's scene, band and scores on a known answer."""
import numpy as np

from bench.edges import BLUE, cut_out, scene, scored_band, scores


def person(height: int = 120, width: int = 90) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    mask = np.zeros((height, width), bool)
    mask[20:110, 25:65] = True
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mask


def test_scene_is_seeded_and_keeps_the_person():
    image, mask = person()
    photo, truth = scene(image, mask, 3)
    np.testing.assert_array_equal(photo, scene(image, mask, 3)[0])  # fixed seed: the same photo every run
    assert not np.array_equal(photo, scene(image, mask, 4)[0])  # and another one for the next image
    np.testing.assert_array_equal(photo[mask], image[mask])
    np.testing.assert_array_equal(truth[mask], image[mask])
    assert (truth[~mask] == BLUE).all()


def test_perfect_cut_out_scores_zero_and_a_halo_does_not():
    image, mask = person()
    photo, truth = scene(image, mask, 0)
    band = scored_band(mask)
    alpha = mask.astype(np.uint8) * 255
    perfect = scores(alpha, cut_out(photo, alpha, "paste"), truth, mask, band)
    assert perfect == {"band_colour": 0.0, "sad": 0.0, "mse": 0.0}
    grown = np.zeros_like(alpha)
    grown[18:112, 23:67] = 255  # two pixels of the old background kept all round
    halo = scores(grown, cut_out(photo, grown, "paste"), truth, mask, band)
    assert halo["band_colour"] > 5 and halo["sad"] == (94 * 44 - 90 * 40) / 1000


def test_band_hugs_the_outline():
    _, mask = person()
    band = scored_band(mask)  # 1.5 % of 120 px: 2 px outside the top edge (row 20) and 2 inside it
    assert band[18:22, 40].all() and not band[17, 40] and not band[22, 40] and not band[60, 45]
