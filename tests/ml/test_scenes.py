"""Scene synthesis: people pasted at every size and place, always labelled, reproducible by seed."""
import cv2
import numpy as np

from ml import scenes


def person_photo(height=120, width=60, bottom_cut=False):
    """A bright figure on a dark photo; with ``bottom_cut`` the figure runs off the bottom edge."""
    rgb = np.full((height, width, 3), 20, np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[10:height if bottom_cut else height - 10, 15:45] = 255
    rgb[mask == 255] = 230
    return rgb, mask


def test_cutout_is_the_tight_box_and_knows_a_cut_at_the_bottom():
    cut = scenes.make_cutout(*person_photo())
    assert cut.rgb.shape == (100, 30, 3) and cut.mask.shape == (100, 30) and (cut.mask == 255).all()
    assert not cut.cut_at_bottom
    assert scenes.make_cutout(*person_photo(bottom_cut=True)).cut_at_bottom
    assert scenes.make_cutout(np.zeros((20, 20, 3), np.uint8), np.zeros((20, 20), np.uint8)) is None


def test_large_cutouts_are_stored_smaller():
    rgb, mask = person_photo(900, 300)
    cut = scenes.make_cutout(rgb, mask, max_side=320)
    assert max(cut.rgb.shape[:2]) == 320 and set(np.unique(cut.mask)) <= {0, 255}


def scene(seed, cutouts=None, size=128):
    background = np.random.default_rng(99).integers(0, 60, (200, 300, 3)).astype(np.uint8)
    cutouts = cutouts or [scenes.make_cutout(*person_photo())]
    return scenes.synthesize_scene(background, cutouts, size, np.random.default_rng(seed))


def test_every_pasted_person_is_labelled_person_and_nothing_else_is():
    for seed in range(30):
        image, label = scene(seed)
        assert image.shape == (128, 128, 3) and label.shape == (128, 128)
        assert set(np.unique(label)) <= {0, 255}
        bright = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) > 120
        # the background is dark: bright pixels are pasted people, and they are labelled
        assert bright.any() and (label[bright] == 255).mean() > 0.97


def test_scenes_hold_one_to_five_people_at_many_sizes():
    counts, heights = [], []
    for seed in range(60):
        _, label = scene(seed)
        n, _, stats, _ = cv2.connectedComponentsWithStats((label == 255).astype(np.uint8))
        counts.append(n - 1)
        heights += [h / 128 for h in stats[1:, cv2.CC_STAT_HEIGHT]]
    assert max(counts) >= 3 and min(counts) <= 1
    assert min(heights) < 0.15 and max(heights) > 0.6


def test_same_seed_same_scene():
    a, b = scene(5), scene(5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(scene(6)[1], a[1])


def test_half_body_people_stand_on_the_bottom_edge():
    cut = scenes.make_cutout(*person_photo(bottom_cut=True))
    for seed in range(20):
        _, label = scene(seed, [cut])
        rows = np.flatnonzero((label == 255).any(axis=1))
        if rows.size:
            assert rows[-1] == 127          # never a torso floating above the frame's bottom


def test_mosaic_keeps_each_photo_with_its_own_label():
    rng = np.random.default_rng(0)
    photos = [person_photo(96, 64) for _ in range(4)]
    images, masks = [p[0] for p in photos], [p[1] for p in photos]
    image, label = scenes.mosaic(images, masks, 128, rng)
    bright = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) > 120
    person = label == 255
    assert (bright & person).sum() / (bright | person).sum() > 0.9     # edges differ by resampling only
    assert cv2.connectedComponents((label == 255).astype(np.uint8))[0] - 1 >= 2


def ramps(height=128, width=160):
    """Red rising to the right, green rising downwards: any texture moved or recoloured shows."""
    x, y = np.meshgrid(np.linspace(0, 255, width), np.linspace(0, 255, height))
    return np.dstack([x, y, np.full_like(x, 30)]).astype(np.uint8)


def test_clutter_draws_shapes_over_a_copy_and_is_reproducible():
    background = ramps()
    changed = []
    for seed in range(10):
        out = scenes.clutter(background, np.random.default_rng(seed))
        assert out.shape == background.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, scenes.clutter(background, np.random.default_rng(seed)))
        changed.append((np.abs(out.astype(int) - background).max(axis=2) > 8).mean())
    np.testing.assert_array_equal(background, ramps())     # the input is left alone
    assert min(changed) > 0.002 and max(changed) < 0.98 and len(set(changed)) > 5


def test_clutter_stays_background_under_the_people_pasted_on_it():
    cutouts = [scenes.make_cutout(*person_photo())]
    for seed in range(10):
        canvas = ramps()[:128, :128].copy()
        cluttered = scenes.clutter(canvas, np.random.default_rng(100 + seed))
        plain_image, plain = scenes.populate(canvas, cutouts, np.random.default_rng(seed))
        image, label = scenes.populate(cluttered, cutouts, np.random.default_rng(seed))
        np.testing.assert_array_equal(label, plain)        # the shapes never become person
        np.testing.assert_array_equal(canvas, ramps()[:128, :128])
        assert not np.array_equal(image, plain_image)


def test_prints_are_painted_inside_the_people_only_and_are_reproducible():
    image = ramps()
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[20:110, 50:110] = 255
    mask[20:110, 110:130] = 128                                 # unlabelled: not person, left alone
    changed = []
    for seed in range(10):
        out = scenes.print_on(image, mask, np.random.default_rng(seed))
        np.testing.assert_array_equal(out, scenes.print_on(image, mask, np.random.default_rng(seed)))
        moved = np.abs(out.astype(int) - image).max(axis=2) > 8
        assert not moved[mask != 255].any()
        changed.append(moved[mask == 255].mean())
    np.testing.assert_array_equal(image, ramps())               # the input is left alone
    assert min(changed) > 0.005 and len(set(changed)) > 5
    nobody = np.zeros_like(mask)
    np.testing.assert_array_equal(scenes.print_on(image, nobody, np.random.default_rng(0)), image)
