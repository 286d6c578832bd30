"""Teachers: the ensemble vote, bystanders, and the resumable labelling run."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.holdout import held_back, subset_index
from ml.teachers import IGNORE, ensemble_label
from ml.teachers import label as labelling
from tests.teachers import BrightTeacher

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def test_ensemble_labels_only_what_every_teacher_agrees_on():
    a = np.array([[0.9, 0.9, 0.1, 0.6]], np.float32)
    b = np.array([[0.8, 0.2, 0.0, 0.5]], np.float32)
    assert ensemble_label([a, b]).tolist() == [[255, IGNORE, 0, 255]]


def test_bystanders_far_from_the_person_leave_the_loss():
    mask = np.zeros((40, 60), np.uint8)
    mask[5:35, 5:15] = 255
    teachers = np.zeros_like(mask)
    teachers[5:35, 5:16] = 255          # the labelled person, a little wider
    teachers[10:30, 45:55] = 255        # a bystander the dataset calls background
    teachers[0, 30] = IGNORE            # teachers unsure: stays background
    marked = labelling.mark_bystanders(mask, teachers, margin=5)
    assert (marked[10:30, 45:55] == IGNORE).all()
    assert (marked[5:35, 15] == 0).all() and marked[0, 30] == 0    # near the person / unsure: unchanged
    np.testing.assert_array_equal(marked[mask == 255], 255)


def test_labelling_writes_each_photo_once_and_resumes(tmp_path, make_dataset):
    folder = make_dataset(tmp_path / "street", 3)
    teacher, out = BrightTeacher(), tmp_path / "labels"
    paths = labelling.photos(folder)
    assert labelling.label_folder(folder, [teacher], out, paths) == 3
    stored = labelling.read_probability(out, "street", "bright", "0")
    truth = cv2.imread(str(folder / "masks" / "0.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    np.testing.assert_array_equal(stored, truth)
    assert labelling.label_folder(folder, [teacher], out, paths) == 0 and teacher.calls == 3
    assert labelling.ensemble_mask(out, "street", "0", ["bright"]).tolist() == (truth * 255).astype(np.uint8).tolist()
    assert labelling.ensemble_mask(out, "street", "0", ["bright", "missing"]) is None


def test_subsets_choose_labelled_photos_by_split_and_unlabelled_ones_by_hold_out(tmp_path):
    split = subset_index({"train": ["ds/a"], "test": ["ds/b"], "seed": 1})
    folder = tmp_path / "ds"
    keep = [labelling.keep(folder, Path(f"{stem}.jpg"), split, ["test"]) for stem in ("a", "b", "c")]
    assert keep == [False, True, False]
    stems = [str(i) for i in range(100)]
    wild = [s for s in stems if labelling.keep(tmp_path / "street", Path(f"{s}.jpg"), split, ["wild"])]
    assert wild and all(held_back(f"street/{s}") for s in wild)
    assert not any(labelling.keep(tmp_path / "street", Path(f"{s}.jpg"), split, ["train"]) for s in wild)


@pytest.mark.skipif(not (SHARED / "pretrained").is_dir(), reason="../shared/pretrained is not beside the repository")
def test_deeplab_teacher_finds_a_person_in_a_real_photo():
    from ml.imageio import load_image
    from ml.teachers import load_teacher

    photo = sorted((SHARED / "datasets" / "ccp" / "images").iterdir())[0]
    truth = cv2.imread(str(SHARED / "datasets" / "ccp" / "masks" / f"{photo.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
    prob = load_teacher("deeplab").probability(load_image(photo))
    assert prob.shape == truth.shape
    person = prob >= 0.5
    assert (person & truth).sum() / (person | truth).sum() > 0.7
