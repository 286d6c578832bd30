"""Data pipeline: discovery, the stem-based split, augmentation alignment, batches."""
import json

import cv2
import numpy as np
import pytest

pytest.importorskip("keras")

from ml import data  # noqa: E402
from ml.metrics import iou  # noqa: E402
from ml.teachers import IGNORE  # noqa: E402
from ml.training.augment import composite_onto, training_augmentation  # noqa: E402
from ml.training.batches import SegmentationBatches, Synthesis, targets  # noqa: E402


@pytest.fixture
def dataset(tmp_path, make_dataset):
    return make_dataset(tmp_path / "people", 6)


def test_discover_pairs_sorted_with_dataset_name(dataset):
    (dataset / "images" / "orphan.jpg").write_bytes(b"no mask for me")
    (dataset / "images" / "notes.txt").write_text("not an image")
    samples = data.discover(dataset)
    assert [s.stem for s in samples] == ["0", "1", "2", "3", "4", "5"]
    assert {s.dataset for s in samples} == {"people"}
    assert samples[0].key == "people/0"
    assert samples[0].mask_path == dataset / "masks" / "0.png"


def test_discover_all_reads_several_folders(tmp_path, make_dataset):
    make_dataset(tmp_path / "a", 2)
    make_dataset(tmp_path / "b", 3)
    samples = data.discover_all([tmp_path / "a", tmp_path / "b"])
    assert [s.key for s in samples] == ["a/0", "a/1", "b/0", "b/1", "b/2"]


def test_bad_folders_raise_dataset_error(tmp_path):
    with pytest.raises(data.DatasetError, match="images/"):
        data.discover(tmp_path / "missing")
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "masks").mkdir()
    with pytest.raises(data.DatasetError, match="no image with a matching mask"):
        data.discover(tmp_path / "empty")


def fake_samples(count, dataset="d"):
    return [data.Sample(dataset, str(i), None, None) for i in range(count)]


def test_split_is_reproducible_disjoint_and_complete():
    samples = fake_samples(1000)
    split = data.make_split(samples, seed=42)
    shuffled = data.make_split(samples[::-1], seed=42)
    assert all(set(split[name]) == set(shuffled[name]) for name in data.SPLITS)   # order does not matter
    sets = [set(split[name]) for name in data.SPLITS]
    assert sum(len(s) for s in sets) == 1000
    assert set.union(*sets) == {s.key for s in samples}
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert 50 <= len(split["test"]) <= 150 and 50 <= len(split["val"]) <= 150


def test_split_depends_on_seed():
    samples = fake_samples(200)
    assert data.make_split(samples, seed=1)["test"] != data.make_split(samples, seed=2)["test"]


def test_split_is_stable_when_files_are_added():
    before = data.make_split(fake_samples(300), seed=42)
    after = data.make_split(fake_samples(400), seed=42)
    for name in data.SPLITS:
        assert set(before[name]) <= set(after[name])


def test_split_keys_keep_datasets_apart():
    # The same stem in two folders is two samples, and may land in different splits.
    split = data.make_split(fake_samples(50, "a") + fake_samples(50, "b"), seed=42)
    assert sum(len(v) for v in split.values()) == 100


def test_split_file_is_saved_and_reused(tmp_path, dataset, make_dataset):
    path = tmp_path / "runs" / "split.json"
    samples = data.discover(dataset)
    first = data.load_or_make_split(path, samples, seed=7)
    saved = json.loads(path.read_text())
    assert saved["seed"] == 7 and saved["train"] == first["train"]
    make_dataset(dataset, 4, start=6)   # new files do not change a saved split
    again = data.load_or_make_split(path, data.discover(dataset), seed=7)
    assert again["test"] == first["test"] and again["train"] == first["train"]


def test_select_returns_the_split_members(dataset):
    samples = data.discover(dataset)
    split = {"train": ["people/1", "people/3"], "val": ["people/0"], "test": []}
    assert [s.stem for s in data.select(samples, split, "train")] == ["1", "3"]
    assert data.select(samples, split, "test") == []


def test_read_image_and_mask(dataset, tmp_path):
    image = data.read_image(dataset / "images" / "0.png")
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    grey = np.array([[0, 100, 128, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / "m.png"), grey)
    assert data.read_mask(tmp_path / "m.png").tolist() == [[0, 0, 255, 255]]
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(data.DatasetError, match="cannot read image"):
        data.read_image(tmp_path / "bad.jpg")


def test_load_letterboxed_shapes(dataset):
    images, masks = data.load_letterboxed(data.discover(dataset), 32)
    assert images.shape == (6, 32, 32, 3) and masks.shape == (6, 32, 32)
    assert images.dtype == masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 255}
    assert not masks[:, :4].any()       # 48x64 in 32x32: 24 rows, 4 rows of padding on top


def bright_iou(image, mask):
    """IoU between the mask and the image's bright pixels (Otsu: robust to brightness/contrast)."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    _, bright = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return iou(bright > 0, mask > 127)


def test_augmentation_moves_image_and_mask_together(mask_of):
    mask = mask_of(64, 64, 3)
    image = np.repeat(np.where(mask > 0, 220, 20).astype(np.uint8)[..., None], 3, axis=2)
    augment = training_augmentation()
    scores, moved = [], 0
    for seed in range(20):
        augment.set_random_seed(seed)
        out = augment(image=image, mask=mask)
        assert out["image"].shape == (64, 64, 3) and out["mask"].shape == (64, 64)
        assert set(np.unique(out["mask"])) <= {0, 255}      # masks are never interpolated
        moved += not np.array_equal(out["mask"], mask)
        scores.append(bright_iou(out["image"], out["mask"]))
    assert moved >= 10                   # the geometry really changes
    assert min(scores) > 0.8, scores     # and the mask follows the person


def test_composite_onto_keeps_person_and_swaps_background():
    image = np.full((2, 2, 3), 200, np.uint8)
    background = np.full((2, 2, 3), 10, np.uint8)
    mask = np.array([[255, 0], [IGNORE, 255]], np.uint8)
    out, label = composite_onto(image, mask, background)
    assert out[0, 0].tolist() == [200] * 3 and out[0, 1].tolist() == [10] * 3
    # the unlabelled pixel now shows the person-free background, so it is labelled background
    assert out[1, 0].tolist() == [10] * 3 and label.tolist() == [[255, 0], [0, 255]]


def test_batches_without_augmentation(dataset):
    images, masks = data.load_letterboxed(data.discover(dataset), 32)
    batches = SegmentationBatches(images, masks, batch_size=4)
    assert len(batches) == 2
    x, y = batches[0]
    assert x.shape == (4, 32, 32, 3) and y.shape == (4, 32, 32, 2)
    assert x.dtype == y.dtype == np.float32
    np.testing.assert_array_equal(x, images[:4].astype(np.float32))
    np.testing.assert_array_equal(y[..., 0], masks[:4] / 255)
    assert (y[..., 1] == 1).all()        # every pixel of a dataset mask counts
    assert batches[1][0].shape[0] == 2   # the last batch holds the remainder


def test_augmented_batches_stay_aligned_and_reshuffle(dataset):
    images, masks = data.load_letterboxed(data.discover(dataset), 64)
    batches = SegmentationBatches(images, masks, batch_size=6, augment=True, seed=0)
    order = batches.order.copy()
    x, y = batches[0]
    assert x.shape == (6, 64, 64, 3) and set(np.unique(y)) <= {0.0, 1.0}
    y = y[..., :1]
    for image, mask in zip(x.astype(np.uint8), y[..., 0]):
        if mask.any():
            assert bright_iou(image, mask * 255) > 0.7
    batches.on_epoch_end()
    assert sorted(batches.order) == sorted(order) and list(batches.order) != list(order)


def test_targets_leave_unlabelled_pixels_out():
    y = targets(np.array([[[0, 255, IGNORE]]], np.uint8))
    assert y[0, 0].tolist() == [[0, 1], [1, 1], [0, 0]]


def synthesis_for(images, masks, samples):
    backgrounds = [np.random.default_rng(i).integers(0, 40, (80, 90, 3)).astype(np.uint8) for i in range(3)]
    return Synthesis(backgrounds, data.cutouts_of(samples), scene_p=0.4, mosaic_p=0.3, composite_p=0.3)


def test_batches_mix_in_scenes_mosaics_and_composites_that_stay_aligned(dataset):
    samples = data.discover(dataset)
    images, masks = data.load_letterboxed(samples, 64)
    batches = SegmentationBatches(images, masks, batch_size=6, augment=True, seed=3,
                                       synthesis=synthesis_for(images, masks, samples))
    pairs = [batches[0] for _ in range(6)]
    people = 0
    for x, y in pairs:
        for image, mask in zip(x.astype(np.uint8), y[..., 0]):
            if mask.sum() > 20:        # a bright person on a dark background, wherever it went
                assert bright_iou(image, mask * 255) > 0.6
                people += 1
    assert people >= 20
    # more than one person per frame happens only through scenes and mosaics
    counts = [cv2.connectedComponents((m > 0.5).astype(np.uint8))[0] - 1 for _, y in pairs for m in y[..., 0]]
    assert max(counts) >= 2


def test_bystanders_are_left_out_where_both_fast_teachers_see_a_person(tmp_path, dataset):
    labels = tmp_path / "labels"
    sample = data.discover(dataset)[0]
    mask = data.read_mask(sample.mask_path)
    bystander = np.zeros_like(mask, np.float32)
    bystander[-6:, -6:] = 1.0                       # a person in the corner the dataset did not label
    from ml.teachers.label import encode_probability, label_path
    for teacher in ("mediapipe", "deeplab"):
        path = label_path(labels, sample.dataset, teacher, sample.stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_probability(np.maximum(bystander, mask / 255.0)))
    marked = data.with_bystanders_ignored(labels)(sample)
    assert (marked[-6:, -6:] == IGNORE).all()
    np.testing.assert_array_equal(marked[mask == 255], 255)     # the labelled person is untouched
    assert (marked[:-6] != IGNORE).all()
    other = data.discover(dataset)[1]                             # no teacher labels: mask as it is
    np.testing.assert_array_equal(data.with_bystanders_ignored(labels)(other), data.read_mask(other.mask_path))


def test_batches_are_drawn_from_seed_epoch_and_batch_alone(dataset):
    """Workers in threads or forked processes make different batches, and a resumed run the same."""
    images, masks = data.load_letterboxed(data.discover(dataset), 64)
    make = lambda epoch=0: SegmentationBatches(images, masks, batch_size=3, augment=True, seed=5, epoch=epoch)
    first, again = make(), make()
    np.testing.assert_array_equal(first[0][0], again[0][0])
    assert not np.array_equal(first[0][0], first[1][0])
    first.on_epoch_end()
    np.testing.assert_array_equal(first[0][0], make(epoch=1)[0][0])
    assert not np.array_equal(first[0][0], again[0][0])


def test_an_epoch_can_hold_several_passes(dataset):
    images, masks = data.load_letterboxed(data.discover(dataset), 32)
    batches = SegmentationBatches(images, masks, batch_size=4, augment=True, epoch_size=3 * len(images) - 1)
    assert len(batches.order) == 3 * len(images) - 1 and len(batches) == -(-len(batches.order) // 4)
    assert np.bincount(batches.order).min() >= 2    # every photo at least twice, in reshuffled passes


def test_prints_reach_the_people_only_when_asked():
    x, y = np.meshgrid(np.linspace(0, 200, 64), np.linspace(0, 200, 64))
    image = np.dstack([x, y, 200 - x]).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[8:60, 16:48] = 255
    rng = np.random.default_rng(0)
    assert Synthesis().printed(image, mask, rng) is image
    assert rng.random() == np.random.default_rng(0).random()    # no draw: runs without prints are as before
    printed = Synthesis(print_p=1.0).printed(image, mask, np.random.default_rng(1))
    assert not np.array_equal(printed[mask == 255], image[mask == 255])
    np.testing.assert_array_equal(printed[mask == 0], image[mask == 0])


def test_clutter_reaches_scene_and_composite_backgrounds_only_when_asked():
    """A smooth ramp stays smooth unless shapes (with edges) are drawn over it."""
    x, y = np.meshgrid(np.linspace(0, 200, 90), np.linspace(0, 200, 80))
    backgrounds = [np.dstack([x, y, 200 - x]).astype(np.uint8)]
    plain, busy = Synthesis(backgrounds), Synthesis(backgrounds, clutter_p=1.0)

    def largest_step(image):
        return max(np.abs(np.diff(image.astype(int), axis=axis)).max() for axis in (0, 1))

    for seed in range(5):
        assert largest_step(plain.scenery(64, np.random.default_rng(seed))) <= 8
        assert largest_step(busy.scenery(64, np.random.default_rng(seed))) > 20
