"""bench.edges: the halo benchmark's scene, band and scores on a known answer."""
import cv2
import numpy as np
import pytest

from bench.edges import BLUE, PEER_ROW, cut_out, evaluate, peer_scores, scene, scored_band, scores, table
from bench.refinement import Oracle
from ml.registry import ModelRuntime, load_runtime


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


def stored_person(folder) -> list[tuple[str, object, object]]:
    """One (key, image path, mask path) pair: a 180 x 240 photo whose person is a 80 x 180 block."""
    image, _ = person(240, 180)
    mask = np.zeros((240, 180), bool)
    mask[40:220, 50:130] = True
    image_path, mask_path = folder / "p.png", folder / "m.png"
    cv2.imwrite(str(image_path), image[..., ::-1])
    cv2.imwrite(str(mask_path), mask.astype(np.uint8) * 255)
    return [("p", image_path, mask_path)]


def test_a_perfect_model_leaves_almost_no_halo(tmp_path):
    """The oracle rows: the true mask at 64 px through the served edge stages scores far better than
    the same stages fed a model that misses a strip of the person."""
    pairs = stored_person(tmp_path)

    class Shifted(Oracle):
        def probability(self, gt):
            return super().probability(np.roll(gt, 12, axis=1))   # the edge 12 px off

    perfect, shifted = evaluate(Oracle(64), pairs, compare=False), evaluate(Shifted(64), pairs, compare=False)
    assert set(perfect) == {"bilinear", "guided (today)", "matting"}   # no pymatting-foreground rows
    for name in perfect:
        assert perfect[name]["sad"] < shifted[name]["sad"] / 3, name
        assert perfect[name]["band_colour"] < shifted[name]["band_colour"], name
    for name in ("guided (today)", "matting"):   # the served stages: bilinear's 64 px staircase stays
        assert perfect[name]["band_colour"] < shifted[name]["band_colour"] / 2, name


class NobodyRuntime(ModelRuntime):
    """A peer that finds no person anywhere."""

    def __init__(self):
        super().__init__("nobody", None, {})
        self.input_size = 32

    def _run(self, batch):
        return np.zeros(self.input_size ** 2, np.float32)


def test_peer_row_scores_the_peers_own_probability(tmp_path):
    pairs = stored_person(tmp_path)
    assert peer_scores(None, pairs) == {}
    nobody = peer_scores(NobodyRuntime(), pairs)[PEER_ROW]
    assert nobody["sad"] == 80 * 180 / 1000 and nobody["mse"] == 1000 * 80 * 180 / (240 * 180)
    real = peer_scores(load_runtime("sinet"), pairs)[PEER_ROW]   # any runtime can stand in for MediaPipe
    assert np.isfinite([real[key] for key in ("band_colour", "sad", "mse")]).all() and real["sad"] != nobody["sad"]


def test_scores_are_also_broken_down_by_kind_of_background(tmp_path):
    """Scenes alternate between a coloured and a busy background; each kind gets its own means, and
    the table shows them for the served variants."""
    pairs = stored_person(tmp_path) * 4
    perfect = evaluate(Oracle(64), pairs, compare=False)["bilinear"]
    kinds = perfect["by_background"]
    assert list(kinds) == ["coloured", "busy"]
    for key in ("band_colour", "sad", "mse"):
        assert perfect[key] == pytest.approx((kinds["coloured"][key] + kinds["busy"][key]) / 2)
    assert kinds["coloured"]["band_colour"] != kinds["busy"]["band_colour"]   # different backgrounds
    report = {"sizes": [], "timings_ms": {}, "scores": {"bilinear": perfect, "knn (pymatting)": perfect}}
    lines = table(report).splitlines()
    assert "| variant | coloured: band colour | coloured: SAD | busy: band colour | busy: SAD |" in lines
    assert sum(line.startswith("| bilinear |") for line in lines) == 2
    assert sum(line.startswith("| knn (pymatting) |") for line in lines) == 1
