"""bench.idphoto: the ID-photo figures per preset, computed with the stored mask only (no weights)."""
import json
from types import SimpleNamespace

import pytest

from bench import idphoto
from ml.idphoto.presets import load_presets
from ml.imageio import load_image

MASK = idphoto.PHOTO.with_name("astronaut_mask.png")


@pytest.fixture(scope="module")
def stored():
    return idphoto.StoredMask(MASK)


@pytest.fixture(scope="module")
def rows(stored):
    """Every preset, with the stored mask standing in for the model too."""
    return idphoto.build_rows(load_image(idphoto.PHOTO), stored.segment, stored.segment, runs=1)


def test_one_row_per_preset_in_file_order(rows):
    assert [row["preset"] for row in rows] == list(load_presets())


def test_head_height_with_the_stored_mask_is_inside_each_range(rows):
    for row in rows:
        low, high = row["head_range_mm"]
        assert low <= row["stored_mask"]["head_mm"] <= high, row["preset"]
        assert row["model"]["head_mm"] == row["stored_mask"]["head_mm"]  # same mask, same framing


def test_eye_line_only_where_the_preset_sets_one(rows):
    for row in rows:
        eye = row["stored_mask"]["eye_line_mm"]
        if row["eye_range_mm"] is None:
            assert eye is None, row["preset"]
        else:
            low, high = row["eye_range_mm"]
            assert low <= eye <= high, row["preset"]


def test_issues_are_the_rules_that_did_not_pass_and_explain_the_overall_status(rows):
    for row in rows:
        result = row["model"]
        statuses = {issue.split(": ")[1].split(" ")[0] for issue in result["issues"]}
        assert statuses <= {"warn", "fail"}
        expected = "fail" if "fail" in statuses else "warn" if statuses else "pass"
        assert result["overall"] == expected, row["preset"]
        assert result["ms"] > 0


def test_table_has_the_header_and_one_line_per_preset(rows):
    lines = idphoto.markdown_table(rows, "sinet").splitlines()
    assert lines[0] == ("| preset | head range mm | head, stored mask | head, sinet | eye line, sinet (range) "
                        "| overall, sinet | time, sinet | warn/fail, sinet |")
    assert lines[1] == "|" + " --- |" * 8
    assert [line.split(" | ")[0].lstrip("| ") for line in lines[2:]] == list(load_presets())
    us = next(line for line in lines if line.startswith("| us-passport |"))
    assert "| 25.4-34.9 |" in us and "(28.6-34.9)" in us


def test_stored_mask_refuses_another_photo(stored):
    with pytest.raises(idphoto.BackdropError):
        stored.segment(load_image(idphoto.PHOTO)[:100])


def test_main_writes_the_results(tmp_path, monkeypatch, capsys):
    presets = dict(list(load_presets().items())[:2])
    monkeypatch.setattr(idphoto, "load_presets", lambda: presets)
    monkeypatch.setattr(idphoto, "load_runtime", lambda name, weights: SimpleNamespace(card={"status": "interim"}))
    monkeypatch.setattr(idphoto, "Segmenter", lambda runtime, tta: idphoto.StoredMask(MASK))
    out = tmp_path / "idphoto.json"
    assert idphoto.main(["--runs", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"date", "photo", "model", "weights_status", "machine", "load_average_1min", "runs",
                           "rows", "table"}
    assert (result["photo"], result["model"], result["weights_status"], result["runs"]) == \
        ("tests/idphoto/data/astronaut.jpg", "sinet", "interim", 2)
    assert [row["preset"] for row in result["rows"]] == list(presets)
    assert result["table"] in capsys.readouterr().out


def test_missing_weights_or_photo_is_exit_2_with_a_message(tmp_path, capsys):
    out = tmp_path / "idphoto.json"
    assert idphoto.main(["--weights", str(tmp_path), "--out", str(out)]) == 2
    assert "no weights file" in capsys.readouterr().err
    assert idphoto.main(["--photo", str(tmp_path / "none.jpg"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--model", "nope"], ["--runs", "0"]])
def test_bad_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        idphoto.parse_args(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err
