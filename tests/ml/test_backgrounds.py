"""Person-free backgrounds: people removed, every result checked, split kept, manifest written."""
import json

import cv2
import numpy as np

from ml import backgrounds
from ml.holdout import held_back, subset_index, subset_of
from tests.teachers import BrightTeacher


def test_people_mask_joins_label_and_teachers_and_dilates():
    rgb = np.zeros((100, 100, 3), np.uint8)
    label = np.zeros((100, 100), np.uint8)
    label[40:60, 10:20] = 255
    teacher = np.zeros((100, 100), np.float32)
    teacher[40:60, 80:90] = 1.0
    person = backgrounds.people_mask(rgb, [teacher], label)
    assert person[50, 15] and person[50, 85] and person[50, 8] and not person[50, 50]


def test_small_people_are_inpainted_large_ones_leave_a_strip():
    rgb = np.random.default_rng(0).integers(0, 60, (100, 200, 3)).astype(np.uint8)
    small = np.zeros((100, 200), bool)
    small[40:60, 90:110] = True
    filled, how = backgrounds.remove_people(rgb, small)
    assert how == "inpainted" and filled.shape == rgb.shape
    large = np.zeros((100, 200), bool)
    large[:, 60:140] = True             # 40 % of the photo: the left strip (30 %) is clean
    strip, how = backgrounds.remove_people(rgb, large)
    assert how == "strip" and strip.shape == (100, 60, 3)
    everywhere = np.ones((100, 200), bool)
    assert backgrounds.remove_people(rgb, everywhere) is None
    assert backgrounds.remove_people(rgb, np.zeros((100, 200), bool))[1] == "whole"


def test_backgrounds_hold_nobody_keep_their_split_and_are_listed(tmp_path, make_dataset):
    folder = make_dataset(tmp_path / "people", 6, height=60, width=120)
    split = {"train": ["people/0", "people/1", "people/2", "people/3"], "val": ["people/4"], "test": ["people/5"]}
    out = tmp_path / "bg"
    rows = backgrounds.make_backgrounds([folder], split, out, teachers=[BrightTeacher()])
    assert {r["split"] for r in rows} <= {"train", "val", "test"} and rows
    for row in rows:
        stem = row["key"].split("/")[1]
        image = cv2.imread(str(out / row["split"] / f"people__{stem}.jpg"))
        assert (image.mean(axis=2) > 128).mean() < 0.005           # the bright person is gone
    assert {r["key"]: r["split"] for r in rows}.get("people/5", "test") == "test"
    summary = backgrounds.manifest(rows)
    assert summary["total"] == len(rows) == sum(summary["counts"].values())
    assert backgrounds.make_backgrounds([folder], split, out, teachers=[BrightTeacher()]) == rows   # resumable
    assert backgrounds.cached_rows(out) == sorted(rows, key=lambda r: (r["split"], r["key"]))
    loaded = backgrounds.load_backgrounds(out, "train", max_side=30)
    assert len(loaded) == sum(r["split"] == "train" for r in rows) and min(loaded[0].shape[:2]) <= 30
    json.dumps(summary)


def test_unlabelled_photos_are_train_or_held_back():
    keys = [f"street/{i}" for i in range(200)]
    splits = [subset_of(key, subset_index({"train": [], "val": [], "test": []})) for key in keys]
    assert set(splits) == {"train", "wild"}
    assert all((s == "wild") == held_back(k) for k, s in zip(keys, splits))
    assert 5 <= splits.count("wild") <= 40


def test_a_photo_that_gives_no_background_is_not_examined_again(tmp_path, make_dataset):
    folder = make_dataset(tmp_path / "people", 2, height=60, width=120)
    cv2.imwrite(str(folder / "images" / "0.png"), np.full((60, 120, 3), 255, np.uint8))  # all person
    split = {"train": ["people/0", "people/1"], "val": [], "test": []}
    out = tmp_path / "bg"
    rows = backgrounds.make_backgrounds([folder], split, out, teachers=[BrightTeacher()])
    assert [r["key"] for r in rows] == ["people/1"]
    again = BrightTeacher()
    assert backgrounds.make_backgrounds([folder], split, out, teachers=[again]) == rows
    assert again.calls == 0                             # neither the kept nor the rejected photo is redone
    assert backgrounds.cached_rows(out) == rows          # the marker is no background
