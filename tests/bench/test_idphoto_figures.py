"""bench.idphoto: group assembly, face counts per detector, outcome tables and the contact sheet, on the
test portrait with its stored mask (no data sets, no weights)."""
import json
import random
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from bench import idphoto
from devtools.portrait import PORTRAIT, StoredMask
from ml.idphoto.presets import get_preset
from ml.imageio import load_image
from ml.segmenter import Matte

PRESETS = {p: get_preset(p) for p in ("eu-passport", "us-passport")}


@pytest.fixture(scope="module")
def portrait():
    return load_image(PORTRAIT)


@pytest.fixture(scope="module")
def stored():
    return StoredMask()


def scaled(stored):
    """The stored mask resized to a copy of the portrait of another size."""
    def segment(rgb):
        alpha = cv2.resize(stored.alpha, (rgb.shape[1], rgb.shape[0]))
        return Matte(alpha, alpha >= 128, {})
    return segment


def test_a_group_is_the_portraits_side_by_side_at_their_own_sizes(portrait):
    group = idphoto.assemble_group([portrait] * 3, random.Random(1))
    assert group.shape[0] == idphoto.GROUP_HEIGHT and group.shape[1] <= 3 * idphoto.PORTRAIT_HEIGHTS[1]
    assert idphoto.hog_now(group) == 3


def test_detection_rows_count_found_missing_and_extra_faces():
    groups = [(np.zeros((4, 4, 3), np.uint8), 3), (np.ones((4, 4, 3), np.uint8), 2)]
    portraits = [np.zeros((4, 4, 3), np.uint8)] * 2
    answers = iter([2, 3, 1, 0])  # group 1: 2 of 3, group 2: 3 of 2 (one extra), portraits: 1 and 0
    row = idphoto.detection_rows(portraits, groups, {"fake": lambda rgb: next(answers)})[0]
    assert (row["group_faces_found"], row["group_faces"], row["groups_all_found"]) == (4, 5, 1)
    assert (row["portraits_found"], row["extra_faces"]) == (1, 1)


def test_every_preset_of_a_photo_shares_one_cut_out(portrait, stored):
    calls = []
    outcomes = idphoto.photo_outcomes([("astronaut", portrait)], lambda rgb: calls.append(1) or stored.segment(rgb),
                                      PRESETS)
    assert len(calls) == 1 and [o["preset"] for o in outcomes] == list(PRESETS)
    rows = idphoto.preset_rows(outcomes, PRESETS)
    assert rows[0]["head_in_range"] == "1/1" and rows[1]["eye_in_range"] == "1/1"
    assert rows[0]["pass"] + rows[0]["warn"] + rows[0]["fail"] == 1
    rules = {r["rule"]: r for r in idphoto.rule_rows(outcomes)}
    assert rules["resolution"]["fail"] == 2  # the 512 px portrait is enlarged too much for 300 DPI


def test_the_memo_answers_by_pixels_not_by_object():
    """A freed crop's id comes back for the next crop; the memo must not hand over the old matte."""
    calls = []
    cached = idphoto.memo(lambda rgb: calls.append(rgb.shape) or Matte(rgb[:, :, 0].copy(), rgb[:, :, 0] > 0, {}))
    first = cached(np.full((4, 6, 3), 7, np.uint8)).alpha   # a temporary, freed at once
    second = cached(np.full((5, 6, 3), 9, np.uint8)).alpha  # likely the same id
    again = cached(np.full((4, 6, 3), 7, np.uint8)).alpha   # the same pixels in a new array
    assert (first.shape, second.shape, int(second[0, 0])) == ((4, 6), (5, 6), 9)
    assert calls == [(4, 6, 3), (5, 6, 3)] and np.array_equal(again, first)


def test_contact_sheet_shows_each_result_with_its_status(portrait, stored):
    outcomes = idphoto.photo_outcomes([("astronaut", portrait)], stored.segment, PRESETS)
    sheet = idphoto.contact_sheet(outcomes, columns=2)
    assert sheet.shape == (idphoto.TILE[1] + 22, 2 * idphoto.TILE[0], 3)
    bar = sheet[idphoto.TILE[1] + 2, 2]
    assert tuple(bar) == idphoto.STATUS_COLOURS[outcomes[0]["overall"]]


def test_main_writes_results_tables_and_the_sheet(tmp_path, monkeypatch, stored, capsys):
    images = tmp_path / "picsart" / "images"
    images.mkdir(parents=True)
    for n in range(8):
        (images / f"p{n}.jpg").write_bytes(PORTRAIT.read_bytes())
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": [f"picsart/p{n}" for n in range(8)] + ["ccp/x"]}))
    segmenter = SimpleNamespace(segment=scaled(stored), runtime=SimpleNamespace(card={"status": "interim"}))
    monkeypatch.setattr(idphoto, "new_segmenter", lambda name, weights_dir: segmenter)
    monkeypatch.setattr(idphoto, "DETECTORS", {"now": idphoto.hog_now})
    out, sheet = tmp_path / "idphoto.json", tmp_path / "sheet.jpg"
    assert idphoto.main(["--data", str(tmp_path), "--split-file", str(split), "--portraits", "2", "--groups", "1",
                         "--out", str(out), "--sheet", str(sheet)]) == 0
    result = json.loads(out.read_text())
    assert result["detection"][0]["portraits"] == 2 and result["weights_status"] == "interim"
    assert result["table"] in capsys.readouterr().out
    assert "| detector | faces found in group photos |" in result["table"]
    assert cv2.imread(str(sheet)) is not None


def test_too_few_test_portraits_is_exit_2(tmp_path, capsys):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": ["picsart/p0"]}))
    assert idphoto.main(["--data", str(tmp_path), "--split-file", str(split), "--out", str(tmp_path / "x.json")]) == 2
    assert "test portraits" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--model", "nope"], ["--portraits", "0"]])
def test_bad_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        idphoto.parse_args(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err
